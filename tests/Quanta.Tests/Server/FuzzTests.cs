using System.Net;
using System.Text;
using System.Text.Json;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>
/// Thousands of generated bodies against both API families: each gets a JSON 4xx in its family's shape or a valid
/// generation, never a 5xx, and the server ends healthy with no KV block held and its counters adding up.
/// </summary>
public class FuzzTests
{
    static readonly string[] Paths = ["/generate", "/generate_stream", "/v1/completions", "/v1/chat/completions", "/tokenize"];

    [Fact]
    public async Task Generated_bodies_get_a_json_4xx_or_a_generation_never_a_5xx()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { PayloadLimit = 100_000, MaxTotalTokens = 48, MaxConcurrentRequests = 64 });
        const int Bodies = 3000;
        var failures = new List<string>();
        int generated = 0, refused = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, Bodies), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct },
            async (i, ct) =>
            {
                var rng = new Random(1000 + i);   // each body reproducible from its number
                string path = Paths[i % Paths.Length];
                byte[] body = BodyFuzzer.Make(rng, path);
                using var content = new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } };
                using var res = await s.Client.PostAsync(path, content, ct);
                string text = await res.Content.ReadAsStringAsync(ct);
                if (res.IsSuccessStatusCode) Interlocked.Increment(ref generated); else Interlocked.Increment(ref refused);
                if (Check(path, res, text) is { } problem)
                    lock (failures) failures.Add($"#{i} {path} {(int)res.StatusCode}: {problem}\n  body: {Preview(body)}\n  reply: {text[..Math.Min(300, text.Length)]}");
            });
        Assert.True(failures.Count == 0, $"{failures.Count} of {Bodies} bad answers:\n" + string.Join("\n", failures.Take(10)));
        Assert.True(generated > Bodies / 10 && refused > Bodies / 10, $"{generated} answered, {refused} refused: the bodies lack variety");

        using (var health = await s.Client.GetAsync("/health", Ct)) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
        await LoadTests.AssertCountsAddUp(s);
    }

    /// <summary>Null when the answer is acceptable, else what is wrong with it.</summary>
    static string? Check(string path, HttpResponseMessage res, string text)
    {
        int status = (int)res.StatusCode;
        if (status >= 500) return "a server error";
        bool openAi = path.StartsWith("/v1", StringComparison.Ordinal);
        if (status >= 400) return ErrorShape(text, openAi);
        if (res.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e.Trim()).ToList();
            if (events.Count == 0) return "an empty stream";
            foreach (var e in events)
            {
                if (!e.StartsWith("data:", StringComparison.Ordinal)) return $"a stream line that is not data: {e}";
                var data = e["data:".Length..].Trim();
                if (data == "[DONE]") continue;
                using var doc = JsonDocument.Parse(data);
                if (doc.RootElement.TryGetProperty("error", out _) && ErrorShape(data, openAi) is { } bad) return bad;
            }
            if (openAi && events[^1] != "data: [DONE]") return "an OpenAI stream without [DONE]";
            return null;
        }
        using var json = JsonDocument.Parse(text);
        var root = json.RootElement;
        return path switch
        {
            "/generate" => root.TryGetProperty("generated_text", out _) ? null : "no generated_text",
            "/tokenize" => root.ValueKind == JsonValueKind.Array ? null : "not a list of tokens",
            _ => root.TryGetProperty("choices", out var c) && c.GetArrayLength() > 0 ? null : "no choices",
        };
    }

    static string? ErrorShape(string text, bool openAi)
    {
        try
        {
            var root = JsonDocument.Parse(text).RootElement;
            if (openAi)
            {
                var e = root.GetProperty("error");
                return e.GetProperty("message").ValueKind == JsonValueKind.String && e.GetProperty("type").ValueKind == JsonValueKind.String
                       && e.TryGetProperty("param", out _) && e.TryGetProperty("code", out _) ? null : "not OpenAI's error shape";
            }
            return root.GetProperty("error").ValueKind == JsonValueKind.String && root.GetProperty("error_type").ValueKind == JsonValueKind.String
                ? null : "not TGI's error shape";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return "an error body that is not the family's JSON shape";
        }
    }

    static string Preview(byte[] body) => body.Length <= 200 ? Encoding.UTF8.GetString(body) : Encoding.UTF8.GetString(body, 0, 200) + $"… ({body.Length} bytes)";
}
