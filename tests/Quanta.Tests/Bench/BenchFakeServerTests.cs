using Quanta.Bench;
using Quanta.Bench.Client;
using Quanta.Bench.Dataset;
using Quanta.Bench.Metrics;

namespace Quanta.Tests.Bench;

public class BenchFakeServerTests
{
    static readonly TimeSpan First = TimeSpan.FromMilliseconds(300), Gap = TimeSpan.FromMilliseconds(100);

    static BenchPrompt P(string text, int output = 5) => new(text, text.Split(' ').Length + 1, output);

    static RequestSender Sender(Uri url, HttpClient http, double timeoutS = 30) =>
        new(http, url, BackendKind.Tgi, null, TimeSpan.FromSeconds(timeoutS));

    [Fact]
    public async Task KnownDelays_GiveTtftItlTpotAndSpeed()
    {
        await using var server = await FakeTgiServer.StartAsync(First, Gap);
        using var http = ServeBenchmark.CreateHttpClient();
        var prompts = Enumerable.Range(0, 4).Select(i => P($"hello number {i}")).ToList();
        await Sender(server.BaseUrl, http).SendAsync(P("warm up", 1), TestContext.Current.CancellationToken);   // JIT, first connection
        var run = await BenchRunner.RunAsync(prompts, Sender(server.BaseUrl, http).SendAsync, Arrival.AllAtOnce, null, null, TestContext.Current.CancellationToken);
        var m = MetricsCalculator.Compute(run);

        Assert.Equal(4, m.Completed);
        Assert.Equal(0, m.Failed);
        Assert.Equal(20, m.TotalOutputTokens);                      // details.generated_tokens
        Assert.Equal(16, m.TotalInputTokens);
        Assert.All(run.Requests, r => { Assert.Equal(5, r.Chunks); Assert.Equal(4, r.Itl.Count); Assert.Equal(" w w w w w", r.GeneratedText); });
        // Lower bounds are exact (the server waits at least this long); upper bounds leave room for a busy machine.
        Assert.InRange(m.TtftMs.Mean, 295, 300 + 400);
        Assert.InRange(m.ItlMs.Median, 90, 100 + 150);
        Assert.InRange(m.TpotMs.Mean, 95, 100 + 150);
        Assert.InRange(m.E2elMs.Mean, 695, 700 + 600);
        Assert.InRange(m.SpeedMeanTokS, 5 / 1.3, 5 / 0.695);
        Assert.True(m.SpeedMinTokS <= m.SpeedMeanTokS);
        Assert.InRange(m.DurationS, 0.695, 1.3 + 1);
        Assert.Equal(4 / m.DurationS, m.RequestThroughput, 9);
        Assert.Equal(20 / m.DurationS, m.OutputThroughput, 9);
    }

    [Fact]
    public async Task Failures_AreCountedByType()
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(10));
        using var http = ServeBenchmark.CreateHttpClient();
        var good = Sender(server.BaseUrl, http, timeoutS: 0.5);
        var refused = Sender(FakeTgiServer.ClosedPortUrl(), http);
        // One request first, so the good ones of the run are not held past the 0.5 s timeout by the server's first-call start-up
        // on a busy machine (seen once in CI while another build ran on its two cores).
        await Sender(server.BaseUrl, http).SendAsync(P("warm up", 1), TestContext.Current.CancellationToken);
        var prompts = new[] { "fine one", "fine two", "status500 a", "status500 b", "error-mid", "abort-mid", "hang", "refused" }.Select(t => P(t)).ToList();
        var run = await BenchRunner.RunAsync(prompts, (p, ct) => (p.Prompt == "refused" ? refused : good).SendAsync(p, ct), Arrival.AllAtOnce, null, null, TestContext.Current.CancellationToken);
        var m = MetricsCalculator.Compute(run);

        Assert.Equal(2, m.Completed);
        Assert.Equal(6, m.Failed);
        Assert.Equal(new Dictionary<string, int> { ["connection_refused"] = 1, ["http_500"] = 2, ["mid_stream"] = 2, ["timeout"] = 1 }, m.Failures);
        Assert.Contains("boom", run.Requests[4].Error);                         // the error event's message
        Assert.Contains("overloaded", m.FailureExamples["http_500"]);
        Assert.Equal(2, run.Requests[4].Chunks);                                // tokens before the error were seen
        Assert.Equal(10, m.TotalOutputTokens);                                  // only completed requests count
    }

    [Fact]
    public async Task Overload_IsItsOwnKind_NotAMidStreamFailure()
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(10));
        using var http = ServeBenchmark.CreateHttpClient();
        await Sender(server.BaseUrl, http).SendAsync(P("warm up", 1), TestContext.Current.CancellationToken);
        var prompts = new[] { "fine", "overload-event a", "overload-event b", "status429", "error-mid" }.Select(t => P(t)).ToList();
        var run = await BenchRunner.RunAsync(prompts, Sender(server.BaseUrl, http).SendAsync, Arrival.AllAtOnce, null, null, TestContext.Current.CancellationToken);
        var m = MetricsCalculator.Compute(run);

        Assert.Equal(1, m.Completed);
        Assert.Equal(new Dictionary<string, int> { ["overloaded"] = 3, ["mid_stream"] = 1 }, m.Failures);
        Assert.Equal(429, run.Requests[3].HttpStatus);
        Assert.Contains("Model is overloaded", m.FailureExamples["overloaded"]);
    }

    [Theory]
    [InlineData(BackendKind.OpenAi)]
    [InlineData(BackendKind.OpenAiChat)]
    public async Task OpenAiStreams_TimedAndCountedByUsage(BackendKind backend)
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(20));
        using var http = ServeBenchmark.CreateHttpClient();
        var sender = new RequestSender(http, server.BaseUrl, backend, "m", TimeSpan.FromSeconds(30));
        await sender.SendAsync(P("warm up", 1), TestContext.Current.CancellationToken);
        var o = await sender.SendAsync(P("hello there", 4), TestContext.Current.CancellationToken);
        Assert.True(o.Success, o.Error);
        Assert.Equal(4, o.Chunks);                 // the chat role-only chunk carries no text and is not a token
        Assert.Equal(104, o.OutputTokens);         // usage.completion_tokens wins over the chunk count
        Assert.Equal(" w w w w", o.GeneratedText);
        Assert.Equal(3, o.Itl.Count);
        Assert.InRange(o.Ttft, 0.095, 1.0);
    }

    [Fact]
    public async Task MaxConcurrency_LimitsRequestsInFlight()
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(10));
        using var http = ServeBenchmark.CreateHttpClient();
        var prompts = Enumerable.Range(0, 6).Select(i => P($"p {i}", 3)).ToList();
        var run = await BenchRunner.RunAsync(prompts, Sender(server.BaseUrl, http).SendAsync, Arrival.AllAtOnce, 2, null, TestContext.Current.CancellationToken);
        Assert.All(run.Requests, r => Assert.True(r.Success, r.Error));
        Assert.Equal(2, server.MaxInFlight);
    }

    [Fact]
    public async Task Cancel_StopsSendingAndKeepsWhatWasMeasured()
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10));
        using var http = ServeBenchmark.CreateHttpClient();
        using var cts = new CancellationTokenSource();
        var prompts = Enumerable.Range(0, 50).Select(i => P($"p {i}", 2)).ToList();
        int done = 0;
        var run = await BenchRunner.RunAsync(prompts, Sender(server.BaseUrl, http).SendAsync, new Arrival(Interval: 0.05), null,
            o => { if (Interlocked.Increment(ref done) == 3) cts.Cancel(); }, cts.Token);
        Assert.True(run.Interrupted);
        Assert.InRange(run.Requests.Count, 3, 49);
        Assert.True(MetricsCalculator.Compute(run).Completed >= 3);
    }

    [Fact]
    public async Task UnreachableServer_OneLineError()
    {
        using var http = ServeBenchmark.CreateHttpClient();
        var o = new ServeBenchOptions { BaseUrl = FakeTgiServer.ClosedPortUrl(), Dataset = "random", NumPrompts = 2, InputLen = 8, OutputLen = 2, Arrivals = [Arrival.AllAtOnce] };
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => ServeBenchmark.RunAsync(o, http, null, TestContext.Current.CancellationToken));
        Assert.Contains("cannot reach the server", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public async Task WrongBackend_OneLineError()
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.Zero, TimeSpan.Zero, openAi: false);
        using var http = ServeBenchmark.CreateHttpClient();
        var o = new ServeBenchOptions { BaseUrl = server.BaseUrl, Backend = BackendKind.OpenAi, Model = "m", Dataset = "random", NumPrompts = 2, InputLen = 8, OutputLen = 2, Arrivals = [Arrival.AllAtOnce] };
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => ServeBenchmark.RunAsync(o, http, null, TestContext.Current.CancellationToken));
        Assert.Contains("returned", ex.Message);
        Assert.Contains("--backend", ex.Message);
    }
}
