using static Quanta.Tests.Server.TestCt;
using System.Net;
using System.Text;
using System.Text.Json;
using Quanta.Server;

namespace Quanta.Tests.Server;

public class ServingTests
{
    static object Greedy(string inputs, int n) => new { inputs, parameters = new { max_new_tokens = n } };

    [Fact]
    public async Task Sixty_four_concurrent_clients_each_get_their_solo_greedy_output()
    {
        await using var s = await TestServer.StartAsync();
        var prompts = Enumerable.Range(0, 64).Select(i => $"client {i} says {new string((char)('a' + i % 26), i % 7)}").ToList();
        var solo = new Dictionary<int, string>();
        foreach (int i in new[] { 0, 17, 63 })
            solo[i] = (await s.PostJsonAsync("/generate", Greedy(prompts[i], 24))).GetProperty("generated_text").GetString()!;
        var results = await Task.WhenAll(prompts.Select(async (p, i) =>
            (await s.PostJsonAsync("/generate", Greedy(p, 24 + i % 5))).GetProperty("generated_text").GetString()));
        for (int i = 0; i < 64; i++) Assert.Equal(HashRunner.Reference(prompts[i], 24 + i % 5, out _), results[i]);
        foreach (var (i, text) in solo) Assert.StartsWith(text, results[i]!);
    }

    [Fact]
    public async Task Over_max_concurrent_requests_get_429()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { MaxConcurrentRequests = 2 }, stepDelayMs: 20);
        var busy = Enumerable.Range(0, 2).Select(i => s.PostAsync("/generate", Greedy($"busy {i}", 40))).ToList();
        while (await s.MetricAsync("quanta_requests_in_flight") < 2) await Task.Delay(10, Ct);
        using var res = await s.PostAsync("/generate", Greedy("one too many", 2));
        Assert.Equal(HttpStatusCode.TooManyRequests, res.StatusCode);
        var json = await res.JsonAsync();
        Assert.Equal("Model is overloaded", json.GetProperty("error").GetString());
        Assert.Equal("overloaded", json.GetProperty("error_type").GetString());
        var streamed = JsonExt.Parse(Assert.Single(await s.PostSseAsync("/generate_stream", Greedy("stream too many", 2))));
        Assert.Equal("Model is overloaded", streamed.GetProperty("error").GetString());
        Assert.Equal("overloaded", streamed.GetProperty("error_type").GetString());
        foreach (var b in busy) using (var r = await b) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using var after = await s.PostAsync("/generate", Greedy("room again", 2));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Client_disconnect_mid_stream_frees_its_blocks()
    {
        await using var s = await TestServer.StartAsync(stepDelayMs: 10);
        using var cts = new CancellationTokenSource();
        var req = new HttpRequestMessage(HttpMethod.Post, "/generate_stream")
        { Content = new StringContent(JsonSerializer.Serialize(Greedy(new string('x', 100), 400)), Encoding.UTF8, "application/json") };
        var res = await s.Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var reader = new StreamReader(await res.Content.ReadAsStreamAsync(cts.Token));
        Assert.StartsWith("data:", await reader.ReadLineAsync(cts.Token));
        Assert.True(await s.MetricAsync("quanta_kv_cache_blocks_used") >= 7);   // 101 prompt tokens = 7 blocks
        cts.Cancel();
        res.Dispose();
        string[] gauges = ["quanta_kv_cache_blocks_used", "tgi_batch_current_size", "quanta_requests_in_flight"];
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && (await Task.WhenAll(gauges.Select(s.MetricAsync))).Any(v => v > 0)) await Task.Delay(20, Ct);
        foreach (var g in gauges) Assert.Equal(0, await s.MetricAsync(g));
    }

    [Fact]
    public async Task Client_disconnect_during_generate_cancels_the_request()
    {
        await using var s = await TestServer.StartAsync(stepDelayMs: 10);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var pending = s.Client.PostAsync("/generate", new StringContent(JsonSerializer.Serialize(Greedy(new string('y', 50), 400)),
            Encoding.UTF8, "application/json"), cts.Token);
        while (await s.MetricAsync("tgi_batch_current_size") < 1) await Task.Delay(5, Ct);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await s.MetricAsync("quanta_kv_cache_blocks_used") > 0 && DateTime.UtcNow < deadline) await Task.Delay(20, Ct);
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
        Assert.Equal(0, await s.MetricAsync("tgi_request_success"));
    }

    [Fact]
    public async Task A_kv_budget_too_small_for_all_requests_still_completes_them_all()
    {
        // 12 blocks x 16 = 192 KV tokens; 8 requests of ~20 + 60 tokens need ~5 blocks each. Slow steps keep them overlapping.
        await using var s = await TestServer.StartAsync(numBlocks: 12, stepDelayMs: 5);
        var prompts = Enumerable.Range(0, 8).Select(i => $"preempt me please #{i:00}!").ToList();
        var results = await Task.WhenAll(prompts.Select(async p =>
            (await s.PostJsonAsync("/generate", Greedy(p, 60))).GetProperty("generated_text").GetString()));
        for (int i = 0; i < prompts.Count; i++) Assert.Equal(HashRunner.Reference(prompts[i], 60, out _), results[i]);
        Assert.True(await s.MetricAsync("quanta_preemptions") > 0);
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
    }

    [Fact]
    public async Task A_shared_long_prefix_hits_the_prefix_cache()
    {
        await using var s = await TestServer.StartAsync();
        var prefix = string.Concat(Enumerable.Repeat("The same long system prompt. ", 4));   // 117 tokens with BOS: 7 full blocks
        await s.PostJsonAsync("/generate", Greedy(prefix + "First question?", 4));
        double hits = await s.MetricAsync("quanta_prefix_cache_hits");
        var second = await s.PostJsonAsync("/generate", Greedy(prefix + "Second one?", 4));
        Assert.True(await s.MetricAsync("quanta_prefix_cache_hits") >= hits + 7);
        Assert.True(await s.MetricAsync("quanta_prefix_cache_queries") >= 14);
        Assert.Equal(HashRunner.Reference(prefix + "Second one?", 4, out _), second.GetProperty("generated_text").GetString());
    }

    [Fact]
    public async Task Api_key_guards_every_route_but_health()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { ApiKey = "sekret" });
        using (var r = await s.Client.GetAsync("/health", Ct)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        foreach (var path in new[] { "/info", "/metrics" })
            using (var r = await s.Client.GetAsync(path, Ct))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
                Assert.Equal("Bearer", r.Headers.WwwAuthenticate.Single().Scheme);
                Assert.Equal("authentication", (await r.JsonAsync()).GetProperty("error_type").GetString());
            }
        using (var r = await s.Client.GetAsync("/v1/models", Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Equal("invalid_api_key", (await r.JsonAsync()).GetProperty("error").GetProperty("code").GetString());
        }
        using (var r = await s.PostAsync("/generate", Greedy("a", 1))) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        s.Client.DefaultRequestHeaders.Authorization = new("Bearer", "wrong");
        using (var r = await s.Client.GetAsync("/info", Ct)) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        s.Client.DefaultRequestHeaders.Authorization = new("bearer", "sekret");   // the scheme in any case (RFC 9110)
        using (var r = await s.Client.GetAsync("/info", Ct)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        s.Client.DefaultRequestHeaders.Authorization = new("Bearer", "sekret");
        using (var r = await s.PostAsync("/generate", Greedy("a", 1))) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task Stop_drains_in_flight_streams_and_refuses_new_requests()
    {
        var s = await TestServer.StartAsync(stepDelayMs: 5);
        var stream = s.PostSseAsync("/generate_stream", Greedy("drain me", 60));
        while (await s.MetricAsync("quanta_requests_in_flight") < 1) await Task.Delay(5, Ct);
        var stop = s.Server.StopAsync();
        await Task.Delay(20, Ct);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var r = await s.PostAsync("/generate", Greedy("late", 1));
            r.EnsureSuccessStatusCode();
        });
        var events = await stream;
        Assert.Equal(60, events.Count);
        Assert.Equal(HashRunner.Reference("drain me", 60, out _), JsonExt.Parse(events[^1]).GetProperty("generated_text").GetString());
        await stop;
        await s.DisposeAsync();
    }
}
