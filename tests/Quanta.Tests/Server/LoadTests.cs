using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>A bounded load: 200 concurrent mixed requests, some cancelled midway; counters add up, blocks and memory come back.</summary>
/// <remarks>Alone in its collection, run after the parallel ones: the managed-heap check reads the whole process.</remarks>
[Collection(nameof(LoadTests))]
public class LoadTests
{
    [Fact]
    public async Task Two_hundred_concurrent_mixed_requests_with_cancels_leave_the_server_as_it_was()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { MaxConcurrentRequests = 256 }, numBlocks: 128, stepDelayMs: 1);
        await Round(s, 24, seed: 1);                                   // warm-up: JIT, pools, connections
        long before = GC.GetTotalMemory(forceFullCollection: true);

        int cancelled = await Round(s, 200, seed: 2);

        Assert.True(cancelled > 0);   // a slow machine may finish a few before their client's timer fires
        await AssertCountsAddUp(s);
        Assert.Contains("tgi_request_failure{err=\"cancelled\"}", await s.Client.GetStringAsync("/metrics", Ct));
        // A handler ends when its client leaves; the engine drops that request's sequences on its next loop.
        Assert.Equal(0, await Settled(s, "quanta_kv_cache_blocks_used"));
        Assert.Equal(0, await Settled(s, "quanta_requests_in_flight"));
        long after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 32_000_000, $"managed memory grew by {(after - before) / 1e6:F1} MB");
        var ok = await s.PostJsonAsync("/generate", new { inputs = "after", parameters = new { max_new_tokens = 3 } });
        Assert.Equal(HashRunner.Reference("after", 3, out _), ok.GetProperty("generated_text").GetString());
    }

    /// <summary>
    /// Runs <paramref name="count"/> requests at once over both families; every fifth asks for many tokens and is
    /// cancelled by its client 20-80 ms in (in the queue or midway). Returns how many were cancelled.
    /// </summary>
    static async Task<int> Round(TestServer s, int count, int seed)
    {
        var rng = new Random(seed);
        int cancelled = 0;
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            bool cancel = i % 5 == 4;
            int tokens = cancel ? 400 : 8 + rng.Next(24);
            string prompt = $"load {i} " + new string('x', rng.Next(40));
            (string path, object body) = (i % 6) switch
            {
                0 => ("/generate", (object)new { inputs = prompt, parameters = new { max_new_tokens = tokens, ignore_eos = true } }),
                1 => ("/generate_stream", new { inputs = prompt, parameters = new { max_new_tokens = tokens, ignore_eos = true } }),
                2 => ("/v1/completions", new { prompt, max_tokens = tokens, ignore_eos = true, stream = true }),
                3 => ("/v1/completions", new { prompt = new[] { prompt, prompt + "!" }, max_tokens = tokens, n = 2, temperature = 0.7, ignore_eos = true }),
                4 => ("/v1/chat/completions", new { messages = new[] { new { role = "user", content = prompt } }, max_tokens = tokens, stream = true, n = 2, ignore_eos = true }),
                _ => ("/v1/chat/completions", new { messages = new[] { new { role = "user", content = prompt } }, max_tokens = tokens, logprobs = true, top_logprobs = 2 }),
            };
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            if (cancel) cts.CancelAfter(TimeSpan.FromMilliseconds(20 + rng.Next(60)));
            using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
            try
            {
                using var res = await s.Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                var text = await res.Content.ReadAsStringAsync(cts.Token);
                Assert.True(res.StatusCode == HttpStatusCode.OK, $"{path}: {(int)res.StatusCode} {text}");
                Assert.DoesNotContain("\"error\"", text);
            }
            catch (OperationCanceledException) when (cancel)
            {
                Interlocked.Increment(ref cancelled);
            }
        }));
        return cancelled;
    }

    /// <summary>The metric once it reads 0, or its value after 5 s (a leak, not a late drop).</summary>
    static async Task<double> Settled(TestServer s, string metric)
    {
        double value = await s.MetricAsync(metric);
        for (int attempt = 0; attempt < 100 && value != 0; attempt++)
        {
            await Task.Delay(50, Ct);
            value = await s.MetricAsync(metric);
        }
        return value;
    }

    /// <summary>tgi_request_count = tgi_request_success + the failures of every type (waits for handlers still closing).</summary>
    internal static async Task AssertCountsAddUp(ServerClient s)
    {
        string text = "";
        for (int attempt = 0; attempt < 100; attempt++)
        {
            text = await s.Client.GetStringAsync("/metrics", Ct);
            var (count, success, failures) = Counts(text);
            if (count > 0 && count == success + failures) return;
            await Task.Delay(50, Ct);
        }
        var (c, ok, failed) = Counts(text);
        Assert.Fail($"tgi_request_count {c} != success {ok} + failures {failed}:\n" +
                    string.Join('\n', text.Split('\n').Where(l => l.StartsWith("tgi_request_failure", StringComparison.Ordinal))));
    }

    static (double Count, double Success, double Failures) Counts(string metrics)
    {
        double count = 0, success = 0, failures = 0;
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith('#') || line.Length == 0) continue;
            int space = line.LastIndexOf(' ');
            double value = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            if (line.StartsWith("tgi_request_count ", StringComparison.Ordinal)) count = value;
            else if (line.StartsWith("tgi_request_success ", StringComparison.Ordinal)) success = value;
            else if (line.StartsWith("tgi_request_failure{", StringComparison.Ordinal)) failures += value;
        }
        return (count, success, failures);
    }
}

[CollectionDefinition(nameof(LoadTests), DisableParallelization = true)]
public sealed class LoadTestsCollection;
