using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Quanta.Server.Api;

/// <summary>Server-Sent Events writer: one <c>data:{json}</c> event per call, flushed at once.</summary>
internal sealed class Sse(HttpResponse response, string prefix)
{
    public static Sse Start(HttpResponse response, string prefix)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["x-accel-buffering"] = "no";
        return new Sse(response, prefix);
    }

    public Task WriteAsync<T>(T payload, CancellationToken ct)
        => WriteRawAsync(JsonSerializer.Serialize(payload, Json.Options), ct);

    public async Task WriteRawAsync(string data, CancellationToken ct)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(prefix + data + "\n\n"), ct);
        await response.Body.FlushAsync(ct);
    }
}
