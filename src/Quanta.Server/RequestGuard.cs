using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Quanta.Server.Api;

namespace Quanta.Server;

/// <summary>
/// The middleware around every request: the API key, errors in the route family's shape for whatever a handler
/// throws or routing answers (404, 405), the request's outcome in the metrics (generation routes), and one log line.
/// One request never harms another.
/// </summary>
internal sealed partial class RequestGuard(ServerState s, ILogger log)
{
    /// <summary>
    /// Header and request-line limits the guard answers with a JSON 431 / 414 (Kestrel's defaults). Kestrel itself is
    /// given twice as much (<see cref="KestrelHeaderBytes"/>, <see cref="KestrelRequestLineBytes"/>), so that only
    /// requests past that get its own bodiless answer, sent before any handler runs.
    /// </summary>
    public const int HeaderBytes = 32 * 1024, RequestLineBytes = 8 * 1024;
    public const int KestrelHeaderBytes = 2 * HeaderBytes, KestrelRequestLineBytes = 2 * RequestLineBytes;

    public async Task InvokeAsync(HttpContext ctx, Func<Task> next)
    {
        var record = new RequestRecord();
        ctx.Features.Set(record);
        bool generation = ctx.GetEndpoint()?.Metadata.GetMetadata<GenerationRoute>() is not null;
        if (generation) s.Metrics.RequestCount.Inc();
        try
        {
            if (TooLarge(ctx.Request) is var (status, type, message))
            {
                record.Fail(type, message);
                await ErrorReply.WriteAsync(ctx, status, type, message);
                return;
            }
            if (s.Options.ApiKey is { } key && ctx.Request.Path != "/health" && !Authorized(ctx.Request, key))
            {
                record.Fail("authentication", "Unauthorized");
                await ErrorReply.WriteAsync(ctx, StatusCodes.Status401Unauthorized, "authentication", "Unauthorized");
                return;
            }
            await RunAsync(ctx, next, record);
        }
        finally
        {
            if (generation) Count(ctx, record);
            Log(ctx, record, record.Total);
        }
    }

    async Task RunAsync(HttpContext ctx, Func<Task> next, RequestRecord record)
    {
        try
        {
            await next();
            var res = ctx.Response;
            if (!res.HasStarted && res.StatusCode >= 400 && res.ContentLength is null && string.IsNullOrEmpty(res.ContentType))
                await RoutingErrorAsync(ctx, record);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            record.Fail("cancelled", "the client went away");
        }
        catch (ApiException e)
        {
            record.Fail(e.ErrorType, e.Message);
            if (!ctx.Response.HasStarted) await ErrorReply.WriteAsync(ctx, e.Status, e.ErrorType, e.Message);
        }
        catch (Exception e) when (BadRequest(e) is { } bad)
        {
            var (type, message) = bad.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => ("payload_too_large", $"The request body is larger than the payload limit of {s.Options.PayloadLimit} bytes"),
                StatusCodes.Status408RequestTimeout => ("request_timeout", "The request body arrived too slowly"),
                _ => ("bad_request", bad.Message),
            };
            record.Fail(type, message);
            if (!ctx.Response.HasStarted) await ErrorReply.WriteAsync(ctx, bad.StatusCode, type, message);
        }
        catch (Exception e)
        {
            record.Fail("internal", $"{e.GetType().Name}: {e.Message}", e);
            if (!ctx.Response.HasStarted) await ErrorReply.WriteAsync(ctx, StatusCodes.Status500InternalServerError, "internal", record.ErrorMessage!);
            else ctx.Abort();   // a stream cut short must not look complete
        }
    }

    static (int Status, string Type, string Message)? TooLarge(HttpRequest req)
    {
        long line = req.Method.Length + (req.Path.Value?.Length ?? 0) + (req.QueryString.Value?.Length ?? 0) + req.Protocol.Length + 2;
        if (line > RequestLineBytes)
            return (StatusCodes.Status414UriTooLong, "uri_too_long", $"The request line is longer than {RequestLineBytes} bytes");
        long headers = 0;
        foreach (var (name, values) in req.Headers) headers += name.Length + values.ToString().Length + 4;
        return headers > HeaderBytes
            ? (StatusCodes.Status431RequestHeaderFieldsTooLarge, "headers_too_large", $"The request headers are larger than {HeaderBytes} bytes")
            : null;
    }

    /// <summary>Kestrel's rejection of a body (too large, too slow, malformed), possibly wrapped by the JSON reader.</summary>
    static BadHttpRequestException? BadRequest(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is BadHttpRequestException bad) return bad;
        return null;
    }

    /// <summary>A body for the empty answers of routing: 404 (no route) and 405 (a route, another method).</summary>
    Task RoutingErrorAsync(HttpContext ctx, RequestRecord record)
    {
        var req = ctx.Request;
        int status = ctx.Response.StatusCode;
        var (type, message) = status switch
        {
            StatusCodes.Status404NotFound => ("not_found", $"Invalid URL ({req.Method} {req.Path})"),
            StatusCodes.Status405MethodNotAllowed => ("method_not_allowed",
                $"Method {req.Method} is not allowed on {req.Path} (allowed: {ctx.Response.Headers.Allow})"),
            _ => ("http_error", ReasonPhrases.GetReasonPhrase(status)),
        };
        record.Fail(type, message);
        return ErrorReply.WriteAsync(ctx, status, type, message);
    }

    /// <summary>Exactly one outcome per counted request: tgi_request_count = success + the failures by type.</summary>
    void Count(HttpContext ctx, RequestRecord record)
    {
        if (record.ErrorType is { } type) s.Metrics.Failure(type);
        else if (record.Succeeded) s.Metrics.RequestSuccess.Inc();
        else s.Metrics.Failure(ctx.RequestAborted.IsCancellationRequested ? "cancelled" : "incomplete_generation");
    }

    void Log(HttpContext ctx, RequestRecord r, TimeSpan total)
    {
        bool serverFault = r.Exception is not null || r.ErrorType is "generation" or "incomplete_generation" or "internal";
        var level = serverFault ? LogLevel.Error : LogLevel.Information;
        if (!log.IsEnabled(level)) return;
        string route = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? Printable(ctx.Request.Path.Value ?? "");
        double queueMs = r.QueueTime?.TotalMilliseconds ?? 0;
        RequestLine(log, level, r.Exception, ctx.Request.Method, route, ctx.Response.StatusCode, r.PromptTokens ?? 0,
                    r.GeneratedTokens ?? 0, Math.Round(queueMs, 3), Math.Round(total.TotalMilliseconds, 3),
                    r.ErrorType ?? "-", r.ErrorMessage ?? "");
    }

    [LoggerMessage(EventId = 1, EventName = "request", Message =
        "{Method} {Route} {Status} prompt_tokens={PromptTokens} generated_tokens={GeneratedTokens} queue_ms={QueueMs} total_ms={TotalMs} error_type={ErrorType} {Error}")]
    static partial void RequestLine(ILogger logger, LogLevel level, Exception? exception, string method, string route, int status,
                                    int promptTokens, int generatedTokens, double queueMs, double totalMs, string errorType, string error);

    /// <summary>A path as one log line: control characters out, at most 200 characters.</summary>
    static string Printable(string path)
    {
        var sb = new StringBuilder(Math.Min(path.Length, 200));
        foreach (char c in path.AsSpan(0, Math.Min(path.Length, 200))) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    /// <summary>`Authorization: Bearer KEY`, the scheme in any case (RFC 9110), compared in constant time.</summary>
    static bool Authorized(HttpRequest req, string key)
    {
        var header = req.Headers.Authorization.ToString().Trim();
        if (header.Length < 7 || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[7..].Trim()), Encoding.UTF8.GetBytes(key));
    }
}
