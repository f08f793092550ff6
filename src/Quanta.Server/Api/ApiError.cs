using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Quanta.Server.Api;

/// <summary>
/// A request that fails with a status and an error type (TGI's error_type: validation, overloaded, ...); written in
/// the route family's shape by <see cref="ErrorReply"/>.
/// </summary>
internal sealed class ApiException(int status, string errorType, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string ErrorType { get; } = errorType;

    public static ApiException Validation(string message) => new(StatusCodes.Status422UnprocessableEntity, "validation", message);
    public static ApiException Overloaded() => new(StatusCodes.Status429TooManyRequests, "overloaded", "Model is overloaded");
    public static ApiException Unavailable() => new(StatusCodes.Status503ServiceUnavailable, "unavailable", "Server is shutting down");
}

internal static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectNullableAnnotations = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,   // `top_p`, <, > as written (bodies are JSON, never HTML)
        Converters = { new StringOrListConverter() },
    };

    /// <summary>Reads the body as <typeparamref name="T"/>: bad JSON is 400, a wrong shape or type 422.</summary>
    public static async Task<T> ReadBodyAsync<T>(HttpRequest request, CancellationToken ct)
    {
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(request.Body, default, ct); }
        catch (JsonException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "validation",
                "Failed to parse the request body as JSON: " + e.Message);
        }
        using (doc)
        {
            try
            {
                return doc.RootElement.Deserialize<T>(Options)
                    ?? throw ApiException.Validation("Failed to deserialize the JSON body into the target type: body is null");
            }
            catch (JsonException e)
            {
                throw ApiException.Validation("Failed to deserialize the JSON body into the target type: " + Describe(e));
            }
            catch (InvalidOperationException e)   // a string that is not valid UTF-8 / UTF-16
            {
                throw ApiException.Validation("Failed to deserialize the JSON body into the target type: " + e.Message);
            }
        }
    }

    static string Describe(JsonException e)
    {
        var path = e.Path is { Length: > 2 } p ? p[2..] : null;   // "$.parameters.top_k" -> "parameters.top_k"
        var msg = e.Message;
        int cut = msg.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut >= 0) msg = msg[..cut];
        if (msg.StartsWith("The JSON value could not be converted to ", StringComparison.Ordinal))
            msg = "invalid type: expected " + Expected(msg["The JSON value could not be converted to ".Length..].TrimEnd('.'));
        return path is null ? msg : $"{path}: {msg}";
    }

    static string Expected(string type) => type switch
    {
        _ when type.Contains("Int32") => "an integer",
        _ when type.Contains("UInt64") => "a non-negative integer",
        _ when type.Contains("Single") || type.Contains("Double") => "a number",
        _ when type.Contains("Boolean") => "a boolean",
        _ when type.Contains("List") => "a string or an array of strings",
        _ when type.Contains("String") => "a string",
        _ => "an object",
    };

    /// <summary>NaN/infinite logprobs become null (as serde_json writes them).</summary>
    public static float? Finite(float v) => float.IsFinite(v) ? v : null;
}

/// <summary>Accepts "x" or ["x", "y"] (OpenAI's stop, prompt).</summary>
internal sealed class StringOrListConverter : JsonConverter<List<string>>
{
    public override List<string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String) return [reader.GetString()!];
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected a string or an array of strings");
        var list = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String) throw new JsonException("expected an array of strings");
            list.Add(reader.GetString()!);
        }
        return list;
    }

    public override void Write(Utf8JsonWriter writer, List<string> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var s in value) writer.WriteStringValue(s);
        writer.WriteEndArray();
    }
}
