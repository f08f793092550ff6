using System.Buffers;
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

    readonly byte[] _prefix = Encoding.UTF8.GetBytes(prefix);
    readonly ArrayBufferWriter<byte> _event = new();    // one event's bytes, reused
    Utf8JsonWriter? _json;

    public Task WriteAsync<T>(T payload, CancellationToken ct)
    {
        Begin();
        _json ??= new Utf8JsonWriter(_event, new JsonWriterOptions { Encoder = Json.Options.Encoder });
        _json.Reset(_event);
        JsonSerializer.Serialize(_json, payload, Json.Options);
        return EndAsync(ct);
    }

    public Task WriteRawAsync(string data, CancellationToken ct)
    {
        Begin();
        Encoding.UTF8.GetBytes(data, _event);
        return EndAsync(ct);
    }

    void Begin()
    {
        _event.ResetWrittenCount();
        _event.Write(_prefix);
    }

    async Task EndAsync(CancellationToken ct)
    {
        _event.Write("\n\n"u8);
        await response.Body.WriteAsync(_event.WrittenMemory, ct);
        await response.Body.FlushAsync(ct);
    }
}
