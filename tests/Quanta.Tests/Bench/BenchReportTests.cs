using System.Text.Json;
using Quanta.Bench;
using Quanta.Bench.Report;
using SkiaSharp;

namespace Quanta.Tests.Bench;

public class BenchReportTests
{
    static readonly string[] MetricKeys =
    [
        "completed", "failed", "cancelled", "failures", "duration_s", "total_input_tokens", "total_output_tokens",
        "request_throughput", "output_throughput", "total_token_throughput", "speed_mean_tok_s", "speed_min_tok_s",
        "ttft_ms", "tpot_ms", "itl_ms", "e2el_ms",
    ];

    /// <summary>Runs a 2-point interval sweep of 20 prompts against <paramref name="baseUrl"/> and checks every output.</summary>
    internal static async Task<BenchReport> SweepAndCheck(Uri baseUrl, string? tokenizer, string dataset, int? outputLen)
    {
        var dir = Path.Combine(Path.GetTempPath(), "quanta-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var http = ServeBenchmark.CreateHttpClient();
            var o = new ServeBenchOptions
            {
                BaseUrl = baseUrl, Dataset = dataset, NumPrompts = 20, InputLen = 16, OutputLen = outputLen, Tokenizer = tokenizer,
                Arrivals = [new Arrival(Interval: 0.02), new Arrival(Interval: 0.01)],
            };
            var report = await ServeBenchmark.RunAsync(o, http, null, TestContext.Current.CancellationToken);
            Assert.Equal(2, report.Runs.Count);
            Assert.All(report.Runs, r => Assert.Equal(20, r.Completed + r.Failed));
            var table = MarkdownReport.SweepTable(report.Runs);
            Assert.Contains("| interval (s) | throughput (req/s) | average tokens/s | lowest tokens/s | TTFT p99 (ms) | TPOT p99 (ms) | ITL median (ms) | ITL p99 (ms) |", table);
            Assert.Contains("| 0.02 |", table);
            Assert.Contains("| 0.01 |", table);

            report.WriteAll(dir);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            var runs = doc.RootElement.GetProperty("runs");
            Assert.Equal(2, runs.GetArrayLength());
            foreach (var run in runs.EnumerateArray())
            {
                foreach (var k in MetricKeys) Assert.True(run.TryGetProperty(k, out _), $"results.json lacks {k}");
                foreach (var s in new[] { "mean", "median", "p99" }) Assert.True(run.GetProperty("ttft_ms").TryGetProperty(s, out _));
            }
            Assert.Equal(0.02, runs[0].GetProperty("request_interval").GetDouble());
            Assert.Contains("average tokens/s", File.ReadAllText(Path.Combine(dir, "results.md")));
            using var png = SKBitmap.Decode(Path.Combine(dir, "chart.png"));
            Assert.NotNull(png);
            Assert.Equal((900, 520), (png.Width, png.Height));
            Assert.Equal(report.Runs[1].RequestThroughput, BenchReport.Load(Path.Combine(dir, "results.json")).Runs[1].RequestThroughput);
            return report;
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Sweep_AgainstFakeServer_WritesTableJsonAndPng()
    {
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(2));
        var report = await SweepAndCheck(server.BaseUrl, null, "random", 3);
        Assert.Equal("fake-tgi", report.Model);
        Assert.All(report.Runs, r => { Assert.Equal(20, r.Completed); Assert.Equal(60, r.TotalOutputTokens); Assert.Equal(320, r.TotalInputTokens); });
        Assert.Equal(41, server.Requests);                                      // 2 runs x 20 + the test request
    }

    [Fact]
    public void Compare_PairsRunsAndPrintsRatios()
    {
        var a = Report("A", 2.0, 10);
        var b = Report("B", 3.0, 5);
        var text = Compare.Render(a, "a.json", b, "b.json");
        Assert.Contains("| request throughput (req/s) | 2.00 | 3.00 | 1.50x |", text);
        Assert.Contains("| per-request speed mean (tok/s) | 10.00 | 5.00 | 0.50x |", text);
        Assert.Contains("## 0.5", text);
    }

    [Fact]
    public void Compare_ByLabelWhenShared_ElseByPosition()
    {
        var a = Report("A", 2.0, 10) with { Runs = [Run("1", 1), Run("0.5", 2)] };
        var b = Report("B", 3.0, 5) with { Runs = [Run("0.5", 4), Run("0.25", 8)] };
        var text = Compare.Render(a, "a.json", b, "b.json");
        Assert.Contains("run 1: only in A", text);
        Assert.Contains("run 0.25: only in B", text);
        Assert.Contains("| request throughput (req/s) | 2.00 | 4.00 | 2.00x |", text);
        var c = Report("C", 1, 1) with { Runs = [Run("rate 4", 5)] };
        Assert.Contains("## A 1 vs B rate 4", Compare.Render(a, "a.json", c, "c.json"));
    }

    [Fact]
    public void Load_RejectsOtherJson()
    {
        var f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "[1,2]");
            var ex = Assert.Throws<InvalidDataException>(() => BenchReport.Load(f));
            Assert.Contains(f, ex.Message);
            Assert.Contains("results.json", ex.Message);
        }
        finally { File.Delete(f); }
    }

    static Quanta.Bench.Metrics.RunMetrics Run(string label, double thr) => Report("x", thr, 1).Runs[0] with { Label = label };

    static BenchReport Report(string name, double thr, double speed) => new()
    {
        Backend = "tgi", BaseUrl = "http://x/", Model = name, Dataset = "random", NumPrompts = 10,
        Runs = [new() { Label = "0.5", RequestInterval = 0.5, RequestThroughput = thr, SpeedMeanTokS = speed, Failures = [], FailureExamples = [],
            TtftMs = new(1, 1, 0, 1), TpotMs = new(1, 1, 0, 1), ItlMs = new(1, 1, 0, 1), E2elMs = new(1, 1, 0, 1) }],
    };
}
