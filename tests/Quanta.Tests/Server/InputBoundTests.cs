using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Quanta.Cli;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>A prompt far over max_input_tokens is refused from its length, before tokenizing: fast and without the memory.</summary>
public class InputBoundTests
{
    [Fact]
    public async Task A_huge_prompt_is_refused_quickly_without_tokenizing_it()
    {
        // stories260K's real tokenizer; a payload limit raised so that the body reaches validation.
        var args = new ServeArgs { Device = "cpu", MaxBatchTotalTokens = 4096, Server = new ServerOptions { Port = 0, PayloadLimit = 64_000_000 } };
        await using var s = TestServer.Wrap(await ServeSetup.StartAsync(args, TextWriter.Null, Ct));
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { inputs = new string('a', 4_000_000) }));
        foreach (var path in new[] { "/generate", "/tokenize", "/v1/completions", "/v1/chat/completions" })
        {
            var json = path switch
            {
                "/v1/completions" => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { prompt = new string('a', 4_000_000) })),
                "/v1/chat/completions" => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = new string('a', 4_000_000) } } })),
                _ => body,
            };
            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            var sw = Stopwatch.StartNew();
            using var res = await s.Client.PostAsync(path, new ByteArrayContent(json) { Headers = { ContentType = new("application/json") } }, Ct);
            sw.Stop();
            long used = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            var text = await res.Content.ReadAsStringAsync(Ct);
            Assert.True(res.StatusCode is HttpStatusCode.UnprocessableEntity or HttpStatusCode.BadRequest, $"{path}: {(int)res.StatusCode} {text[..Math.Min(200, text.Length)]}");
            Assert.Contains("at least", text);
            // The body itself costs about 4 MB of bytes plus 8 MB as a string, a few times over; tokenizing it costs far more.
            Assert.True(used < 80_000_000, $"{path}: {used / 1e6:F0} MB allocated");
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"{path}: {sw.Elapsed}");
        }
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
    }
}
