using Quanta.Bench.Client;
using Quanta.Bench.Dataset;
using Quanta.Cli;
using Quanta.Server;

namespace Quanta.Tests.Bench;

/// <summary>bench serve against Quanta's own server (in process, CPU, the built-in stories260K).</summary>
public class BenchQuantaServerTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static Task<QuantaServer> Serve() => ServeSetup.StartAsync(
        new ServeArgs { Device = "cpu", MaxBatchTotalTokens = 8192, Server = new ServerOptions { Port = 0 } }, TextWriter.Null, Ct);

    [Fact]
    public async Task TwoPointSweep_TwentyPrompts_TableJsonAndPng()
    {
        await using var server = await Serve();
        var report = await BenchReportTests.SweepAndCheck(new Uri(server.Address), null, "random", 4);
        // ignore_eos is honoured: exactly 4 tokens each; random prompts reach at most --input-len 16 at a word boundary.
        Assert.All(report.Runs, r => { Assert.Equal(20, r.Completed); Assert.Equal(80, r.TotalOutputTokens); Assert.InRange(r.TotalInputTokens, 20 * 12, 20 * 16); });
        Assert.All(report.Runs, r => Assert.True(r.TtftMs.P99 > 0 && r.SpeedMinTokS > 0));
    }

    [Fact]
    public async Task ShareGpt_FilteredToTheServersContext_AllComplete()
    {
        var dataset = TestPaths.SharedPath("datasets", "sharegpt", "ShareGPT_V3_filtered_1000.json");
        await using var server = await Serve();
        using var http = Quanta.Bench.ServeBenchmark.CreateHttpClient();
        var o = new Quanta.Bench.ServeBenchOptions
        {
            BaseUrl = new Uri(server.Address), Dataset = dataset, NumPrompts = 8, OutputLen = 3, Tokenizer = TestPaths.DefaultModel,
            Arrivals = [Quanta.Bench.Arrival.AllAtOnce],
        };
        var report = await Quanta.Bench.ServeBenchmark.RunAsync(o, http, null, Ct);
        Assert.Equal(511, report.MaxPromptLen);          // stories260K: 512 positions, so under vLLM's 1024 / 2048
        Assert.Equal(512, report.MaxTotalLen);
        Assert.Equal(8, report.Runs[0].Completed);
        Assert.Equal(24, report.Runs[0].TotalOutputTokens);
    }

    static Quanta.Bench.ServeBenchOptions Options(QuantaServer server, string dataset, bool fit, int prompts) => new()
    {
        BaseUrl = new Uri(server.Address), Dataset = TestPaths.SharedPath("datasets", "sharegpt", dataset), NumPrompts = prompts,
        FitToServer = fit, Arrivals = [Quanta.Bench.Arrival.AllAtOnce],
    };

    /// <summary>The README's example: sharegpt_sample's prompts and replies mostly exceed stories260K's 512 positions.</summary>
    [Fact]
    public async Task ReadmeExample_FitToServer_CutsRepliesToTheContextAndSaysHowMany()
    {
        await using var server = await Serve();
        using var http = Quanta.Bench.ServeBenchmark.CreateHttpClient();
        var skipped = await Assert.ThrowsAsync<InvalidDataException>(
            () => Quanta.Bench.ServeBenchmark.RunAsync(Options(server, "sharegpt_sample.json", fit: false, 4), http, null, Ct));
        Assert.Contains("--fit-to-server cuts prompts and outputs to fit", skipped.Message);

        // Token counts come from the server's /tokenize, which refuses the prompts too long for it (422): they are cut.
        var report = await Quanta.Bench.ServeBenchmark.RunAsync(Options(server, "sharegpt_sample.json", fit: true, 4), http, null, Ct);
        Assert.Equal(4, report.NumPrompts);
        Assert.Equal(4, report.Runs[0].Completed);
        var note = Assert.Single(report.Notes);
        Assert.Matches(@"^limits 511 prompt tokens, 512 in all \(from the server's /info\): 4 prompts cut to 256 tokens at most, " +
                       @"[0-4] output lengths lowered to fit, 0 prompts skipped$", note);
        var run = report.Runs[0];
        Assert.InRange(run.TotalInputTokens, 4 * 200, 4 * 256);   // cut at a word, up to half the context
        Assert.InRange(run.TotalInputTokens + run.TotalOutputTokens, 4 * 200 + 4 * 4, 4 * 512);
    }

    [Fact]
    public async Task PromptsOnly_WithoutOutputLen_GenerateTheDefaultAndSaySo()
    {
        await using var server = await Serve();
        using var http = Quanta.Bench.ServeBenchmark.CreateHttpClient();
        var report = await Quanta.Bench.ServeBenchmark.RunAsync(Options(server, "ShareGPT_V3_filtered_1000.json", fit: false, 3), http, null, Ct);
        Assert.Equal(128, report.OutputLen);
        Assert.Contains("the dataset has prompts only (no replies): each request generates 128 tokens (--output-len sets it)", report.Notes);
        Assert.Equal(3, report.Runs[0].Completed);
        Assert.Equal(3 * 128, report.Runs[0].TotalOutputTokens);
    }

    [Fact]
    public async Task LocalTokenizer_CountsLikeTheServer()
    {
        await using var server = await Serve();
        using var http = Quanta.Bench.ServeBenchmark.CreateHttpClient();
        var remote = new ServerTokenCounter(http, new Uri(server.Address + "/"), BackendKind.Tgi);
        // OpenAI style first ({"prompt"}): Quanta answers 422 and the counter switches to TGI's {"inputs"}.
        var remoteOpenAi = new ServerTokenCounter(http, new Uri(server.Address + "/"), BackendKind.OpenAiChat);
        var local = new LocalTokenCounter(LocalTokenCounter.Open(TestPaths.DefaultModel));
        foreach (var text in new[] { "Once upon a time, there was a little girl.", "Tom and Lily went to the park", "a" })
            foreach (bool bos in new[] { true, false })
            {
                int n = await local.CountAsync(text, bos, Ct);
                Assert.True(n >= (bos ? 2 : 1));
                Assert.Equal(n, await remote.CountAsync(text, bos, Ct));
                Assert.Equal(n, await remoteOpenAi.CountAsync(text, bos, Ct));
            }
    }
}
