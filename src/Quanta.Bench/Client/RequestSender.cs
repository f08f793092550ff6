using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Quanta.Bench.Dataset;

namespace Quanta.Bench.Client;

/// <summary>
/// Sends one streaming generation request and times it as vLLM's benchmark does: TTFT = send → first
/// chunk, ITL = gaps between chunks, latency = send → last chunk. The output length is forced
/// (<c>max_new_tokens</c> / <c>max_tokens</c>) and EOS ignored where the API allows: OpenAI backends send
/// vLLM's <c>ignore_eos</c>; TGI has no such parameter, so for tgi <c>ignore_eos</c> is sent as an extra
/// parameter that Quanta honours and TGI ignores (a TGI run may stop early at EOS).
/// </summary>
public sealed class RequestSender(HttpClient http, Uri baseUrl, BackendKind backend, string? model, TimeSpan timeout, bool ignoreEos = true)
{
    public Uri Endpoint { get; } = new(baseUrl, backend switch
    {
        BackendKind.Tgi => "generate_stream",
        BackendKind.OpenAi => "v1/completions",
        _ => "v1/chat/completions",
    });

    object Body(BenchPrompt p) => backend switch
    {
        BackendKind.Tgi => new
        {
            inputs = p.Prompt,
            parameters = new { max_new_tokens = p.OutputLen, do_sample = false, details = true, ignore_eos = ignoreEos },
        },
        BackendKind.OpenAi => new
        {
            model, prompt = p.Prompt, max_tokens = p.OutputLen, temperature = 0.0, stream = true,
            stream_options = new { include_usage = true }, ignore_eos = ignoreEos,
        },
        _ => (object)new
        {
            model, messages = new[] { new { role = "user", content = p.Prompt } }, max_tokens = p.OutputLen,
            temperature = 0.0, stream = true, stream_options = new { include_usage = true }, ignore_eos = ignoreEos,
        },
    };

    public async Task<RequestOutcome> SendAsync(BenchPrompt p, CancellationToken ct)
    {
        var o = new RequestOutcome { PromptLen = p.PromptLen };
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(timeout);
        long start = Stopwatch.GetTimestamp();
        bool streaming = false;
        try
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, Endpoint) { Content = Json(Body(p)) };
            using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token);
            if (!resp.IsSuccessStatusCode)
            {
                o.Failure = resp.StatusCode == HttpStatusCode.TooManyRequests ? FailureKind.Overloaded : FailureKind.HttpStatus;
                o.HttpStatus = (int)resp.StatusCode;
                o.Error = $"HTTP {(int)resp.StatusCode}: {Truncate(ErrorText(await resp.Content.ReadAsStringAsync(timeoutCts.Token)))}";
                return o;
            }
            streaming = true;
            await ReadStreamAsync(resp, o, start, timeoutCts.Token);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            o.Failure = FailureKind.Cancelled;
            o.Error = "cancelled";
        }
        catch (OperationCanceledException)
        {
            o.Failure = FailureKind.Timeout;
            o.Error = $"no answer within {timeout.TotalSeconds:0.#} s";
        }
        catch (HttpRequestException e) when (!streaming && e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            o.Failure = FailureKind.ConnectionRefused;
            o.Error = e.Message;
        }
        catch (Exception e) when (streaming && e is IOException or HttpRequestException)
        {
            o.Failure = FailureKind.MidStream;
            o.Error = "stream broke off: " + e.Message;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or IOException or InvalidOperationException)
        {
            o.Failure = FailureKind.Other;
            o.Error = e.Message;
        }
        return o;
    }

    async Task ReadStreamAsync(HttpResponseMessage resp, RequestOutcome o, long start, CancellationToken ct)
    {
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(ct));
        long last = start;
        bool finished = false;
        int? reported = null;
        var text = new System.Text.StringBuilder();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
            var data = line.AsSpan(5).Trim();
            if (data.SequenceEqual("[DONE]")) { finished = true; break; }
            long now = Stopwatch.GetTimestamp();
            using var doc = JsonDocument.Parse(data.ToString());
            var ev = doc.RootElement;
            if (ev.ValueKind != JsonValueKind.Object) throw new InvalidOperationException("stream event is not a JSON object");
            if (ev.TryGetProperty("error", out var err) && err.ValueKind != JsonValueKind.Null)
            {
                o.Failure = IsOverload(ev, err) ? FailureKind.Overloaded : FailureKind.MidStream;
                o.Error = "error event: " + Truncate(ErrorText(ev.GetRawText()));
                break;
            }
            var (chunk, count, final) = backend == BackendKind.Tgi ? ParseTgi(ev) : ParseOpenAi(ev);
            reported = count ?? reported;
            finished |= final && backend == BackendKind.Tgi;
            if (chunk is null) continue;
            text.Append(chunk);
            if (o.Chunks == 0) o.Ttft = Seconds(start, now);
            else o.Itl.Add(Seconds(last, now));
            last = now;
            o.Chunks++;
        }
        o.Latency = Seconds(start, last);
        o.GeneratedText = text.ToString();
        o.OutputTokens = reported ?? o.Chunks;
        if (o.Failure == FailureKind.None && !finished)
        {
            o.Failure = FailureKind.MidStream;
            o.Error = "stream ended before its final event";
        }
    }

    /// <summary>TGI: every event carries one token; the last has generated_text and details.generated_tokens.</summary>
    static (string? Chunk, int? Count, bool Final) ParseTgi(JsonElement ev)
    {
        string? chunk = ev.TryGetProperty("token", out var tok) && tok.ValueKind == JsonValueKind.Object
            ? (tok.TryGetProperty("text", out var t) ? t.GetString() ?? "" : "") : null;
        int? count = ev.TryGetProperty("details", out var d) && d.ValueKind == JsonValueKind.Object
            && d.TryGetProperty("generated_tokens", out var g) && g.TryGetInt32(out int n) ? n : null;
        bool final = ev.TryGetProperty("generated_text", out var gt) && gt.ValueKind == JsonValueKind.String;
        return (chunk, count, final);
    }

    /// <summary>OpenAI: a chunk counts when it carries text; usage.completion_tokens is the server's count.</summary>
    (string? Chunk, int? Count, bool Final) ParseOpenAi(JsonElement ev)
    {
        string? chunk = null;
        if (ev.TryGetProperty("choices", out var ch) && ch.ValueKind == JsonValueKind.Array && ch.GetArrayLength() > 0)
        {
            var c0 = ch[0];
            var src = backend == BackendKind.OpenAiChat
                ? (c0.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object && delta.TryGetProperty("content", out var content) ? content : default)
                : (c0.TryGetProperty("text", out var t) ? t : default);
            if (src.ValueKind == JsonValueKind.String && src.GetString() is { Length: > 0 } s) chunk = s;
        }
        int? count = ev.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object
            && u.TryGetProperty("completion_tokens", out var ct) && ct.TryGetInt32(out int n) ? n : null;
        return (chunk, count, false);
    }

    /// <summary>
    /// TGI's overload event (<c>{"error", "error_type": "overloaded"}</c>, what Quanta and TGI stream when no slot is free)
    /// or an OpenAI-shaped error whose type or code says so.
    /// </summary>
    static bool IsOverload(JsonElement ev, JsonElement err)
    {
        static bool Says(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() == "overloaded";
        return Says(ev, "error_type") || Says(err, "type") || Says(err, "code");
    }

    /// <summary>The message of a TGI (<c>{"error": "..."}</c>) or OpenAI (<c>{"error": {"message"}}</c>) error body, else the body.</summary>
    internal static string ErrorText(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e))
            {
                if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
                if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) return m.GetString()!;
            }
        }
        catch (JsonException) { }
        return body;
    }

    /// <summary>A JSON body with Content-Length (some servers do not read chunked request bodies).</summary>
    internal static ByteArrayContent Json(object body)
    {
        var c = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body));
        c.Headers.ContentType = new("application/json");
        return c;
    }

    static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    static string Truncate(string s) => (s.Length > 200 ? s[..200] + "..." : s).ReplaceLineEndings(" ");
}
