using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Quanta.Server.Api;

/// <summary>OpenAI's error body: {"error": {"message", "type", "param", "code"}}.</summary>
internal sealed record OpenAiError(OpenAiErrorBody Error);

internal sealed record OpenAiErrorBody(
    string Message, string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

/// <summary>
/// Error bodies in the shape of the route family: TGI's {"error", "error_type"} everywhere but under /v1, where OpenAI
/// clients expect {"error": {"message", "type", "param", "code"}} and 400 for an invalid request.
/// </summary>
internal static class ErrorReply
{
    public static bool IsOpenAi(HttpRequest request) => request.Path.StartsWithSegments("/v1");

    /// <summary>The HTTP status an error gets on this route: TGI's 422 for a validation error is OpenAI's 400.</summary>
    public static int Status(HttpRequest request, int status) => IsOpenAi(request) && status == StatusCodes.Status422UnprocessableEntity
        ? StatusCodes.Status400BadRequest : status;

    /// <summary>The error body for <paramref name="request"/>'s route family.</summary>
    public static object Body(HttpRequest request, int status, string errorType, string message)
        => IsOpenAi(request) ? OpenAi(status, errorType, message) : new ErrorResponse(message, errorType);

    /// <summary>
    /// OpenAI's type by status (invalid_request_error, authentication_error, rate_limit_error, server_error); code is
    /// the error type where it says more than the status; param is the field a validation message names first (`field`).
    /// </summary>
    public static OpenAiError OpenAi(int status, string errorType, string message)
    {
        string type = status switch
        {
            StatusCodes.Status401Unauthorized => "authentication_error",
            StatusCodes.Status429TooManyRequests => "rate_limit_error",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        };
        string? code = errorType switch
        {
            "validation" => null,
            "authentication" => "invalid_api_key",
            _ => errorType,
        };
        return new OpenAiError(new OpenAiErrorBody(message, type, errorType == "validation" ? NamedField(message) : null, code));
    }

    /// <summary>Writes the error as JSON (nothing for HEAD, whose response has no body).</summary>
    public static Task WriteAsync(HttpContext ctx, int status, string errorType, string message)
    {
        var res = ctx.Response;
        var allow = res.Headers.Allow;   // a 405 keeps the methods it names
        res.Clear();
        res.Headers.Allow = allow;
        res.StatusCode = Status(ctx.Request, status);
        if (status == StatusCodes.Status401Unauthorized) res.Headers.WWWAuthenticate = "Bearer";
        if (HttpMethods.IsHead(ctx.Request.Method)) return Task.CompletedTask;
        return res.WriteAsJsonAsync(Body(ctx.Request, status, errorType, message), Json.Options);
    }

    /// <summary>The first `field` a message names (the validator's messages put the field first in backticks).</summary>
    static string? NamedField(string message)
    {
        int a = message.IndexOf('`');
        int b = a < 0 ? -1 : message.IndexOf('`', a + 1);
        return b > a + 1 ? message[(a + 1)..b] : null;
    }
}
