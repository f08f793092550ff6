using Quanta.Bench;
using Quanta.Bench.Client;
using Quanta.Bench.Metrics;

namespace Quanta.Tests.Bench;

public class BenchMetricsTests
{
    static RequestOutcome Ok(int prompt, int output, double ttft, double latency, params double[] itl)
    {
        var o = new RequestOutcome { PromptLen = prompt, OutputTokens = output, Ttft = ttft, Latency = latency, Chunks = output };
        o.Itl.AddRange(itl);
        return o;
    }

    static RequestOutcome Fail(FailureKind kind, int? status = null) =>
        new() { PromptLen = 10, Failure = kind, HttpStatus = status, Error = kind.ToString() };

    [Fact]
    public void HandMadeTimings_GiveVllmMetrics()
    {
        // A: 5 tokens, TTFT 0.2 s, latency 1.0 s -> TPOT 0.2, speed 5 tok/s
        // B: 3 tokens, TTFT 0.4 s, latency 0.6 s -> TPOT 0.1, speed 5 tok/s; C: 1 token -> no TPOT, speed 2 tok/s
        var reqs = new List<RequestOutcome>
        {
            Ok(10, 5, 0.2, 1.0, 0.2, 0.2, 0.2, 0.2),
            Ok(20, 3, 0.4, 0.6, 0.1, 0.1),
            Ok(30, 1, 0.5, 0.5),
            Fail(FailureKind.ConnectionRefused), Fail(FailureKind.HttpStatus, 500), Fail(FailureKind.HttpStatus, 500),
            Fail(FailureKind.MidStream), Fail(FailureKind.Timeout), Fail(FailureKind.Cancelled),
        };
        var m = MetricsCalculator.Compute(new RunOutcome(new Arrival(Interval: 0.5), 4, reqs, 2.0, false));

        Assert.Equal(3, m.Completed);
        Assert.Equal(5, m.Failed);
        Assert.Equal(1, m.Cancelled);
        Assert.Equal(new Dictionary<string, int> { ["connection_refused"] = 1, ["http_500"] = 2, ["mid_stream"] = 1, ["timeout"] = 1 }, m.Failures);
        Assert.Equal(60, m.TotalInputTokens);
        Assert.Equal(9, m.TotalOutputTokens);
        Assert.Equal(1.5, m.RequestThroughput, 9);
        Assert.Equal(4.5, m.OutputThroughput, 9);
        Assert.Equal(34.5, m.TotalTokenThroughput, 9);
        Assert.Equal((5 + 5 + 2) / 3.0, m.SpeedMeanTokS, 9);
        Assert.Equal(2, m.SpeedMinTokS, 9);
        Assert.Equal(1000 * (0.2 + 0.4 + 0.5) / 3, m.TtftMs.Mean, 6);
        Assert.Equal(400, m.TtftMs.Median, 6);
        Assert.Equal(150, m.TpotMs.Mean, 6);                      // (200 + 100) / 2, the 1-token request excluded
        Assert.Equal((4 * 200 + 2 * 100) / 6.0, m.ItlMs.Mean, 6);
        Assert.Equal(200, m.ItlMs.Median, 6);
        Assert.Equal(700, m.E2elMs.Mean, 6);
        Assert.Equal("0.5", m.Label);
        Assert.Equal(0.5, m.RequestInterval);
    }

    [Fact]
    public void A_stall_of_every_stream_shows_as_ITL_p99_against_its_median_in_the_sweep_table()
    {
        // Two requests of 101 tokens, 10 ms apart but for two 50 ms gaps each (a long step every running request waits through).
        static double[] Gaps() => [.. Enumerable.Repeat(0.01, 98), 0.05, 0.05];
        var reqs = new List<RequestOutcome> { Ok(10, 101, 0.1, 0.1 + Gaps().Sum(), Gaps()), Ok(10, 101, 0.1, 0.1 + Gaps().Sum(), Gaps()) };
        var m = MetricsCalculator.Compute(new RunOutcome(new Arrival(Interval: 0.25), null, reqs, 2.0, false));
        Assert.Equal(10, m.ItlMs.Median, 9);
        Assert.Equal(50, m.ItlMs.P99, 9);                          // 4 of 200 gaps: above the 99th percentile's rank
        Assert.Equal(10.8, m.TpotMs.P99, 9);                       // TPOT averages the stall away
        var table = Quanta.Bench.Report.MarkdownReport.SweepTable([m]);
        Assert.Contains("| TTFT p99 (ms) | TPOT p99 (ms) | ITL median (ms) | ITL p99 (ms) | completed | failed |", table);
        Assert.Contains("| 100.0 | 10.8 | 10.0 | 50.0 | 2 | 0 |", table);
    }

    [Fact]
    public void NoCompletedRequests_GiveZeros()
    {
        var m = MetricsCalculator.Compute(new RunOutcome(Arrival.AllAtOnce, null, [Fail(FailureKind.Other)], 1.0, false));
        Assert.Equal(0, m.Completed);
        Assert.Equal(1, m.Failures["other"]);
        Assert.Equal(new Stat(0, 0, 0, 0), m.TtftMs);
        Assert.Equal(0, m.SpeedMinTokS);
        Assert.Equal("all at once", m.Label);
    }

    [Fact]
    public void Percentile_InterpolatesLikeNumpy()
    {
        double[] v = [1, 2, 3, 4];
        Assert.Equal(2.5, MetricsCalculator.Percentile(v, 50), 12);
        Assert.Equal(3.97, MetricsCalculator.Percentile(v, 99), 12);   // numpy.percentile([1,2,3,4], 99)
        Assert.Equal(4, MetricsCalculator.Percentile(v, 100), 12);
        Assert.Equal(7, MetricsCalculator.Percentile([7.0], 99), 12);
        var s = MetricsCalculator.Ms([0.001, 0.003]);
        Assert.Equal(new Stat(2, 2, 1, 2.98), s with { P99 = Math.Round(s.P99, 9) });
    }

    [Fact]
    public void Arrivals_FixedGapPoissonSeededAllAtOnce()
    {
        Assert.Equal([0, 0.25, 0.5, 0.75], new Arrival(Interval: 0.25).Schedule(4));
        Assert.All(Arrival.AllAtOnce.Schedule(5), t => Assert.Equal(0, t));
        var a = new Arrival(Rate: 4, Seed: 7).Schedule(4000);
        Assert.Equal(a, new Arrival(Rate: 4, Seed: 7).Schedule(4000));
        Assert.NotEqual(a, new Arrival(Rate: 4, Seed: 8).Schedule(4000));
        double meanGap = a[^1] / (a.Length - 1);
        Assert.InRange(meanGap, 0.25 * 0.93, 0.25 * 1.07);        // exponential gaps with mean 1/rate
        Assert.True(a.Zip(a.Skip(1)).All(p => p.Second >= p.First));
    }
}
