using Quanta.Bench.Client;

namespace Quanta.Bench.Metrics;

/// <summary>
/// vLLM's serving metrics: TTFT, ITL and end-to-end latency over completed requests; TPOT =
/// (latency − TTFT) / (output tokens − 1) for requests with more than one token; percentiles
/// interpolated linearly (numpy's default); empty samples give 0.
/// </summary>
public static class MetricsCalculator
{
    public static RunMetrics Compute(RunOutcome run)
    {
        var ok = run.Requests.Where(r => r.Success).ToList();
        var failed = run.Requests.Where(r => !r.Success && r.Failure != FailureKind.Cancelled).ToList();
        var failures = new SortedDictionary<string, int>();
        var examples = new SortedDictionary<string, string>();
        foreach (var f in failed)
        {
            failures[f.FailureKey] = failures.GetValueOrDefault(f.FailureKey) + 1;
            examples.TryAdd(f.FailureKey, f.Error ?? "");
        }
        long input = ok.Sum(r => (long)r.PromptLen), output = ok.Sum(r => (long)r.OutputTokens);
        double dur = run.DurationS;
        var speeds = ok.Where(r => r.Latency > 0).Select(r => r.OutputTokens / r.Latency).ToList();
        return new RunMetrics
        {
            Label = run.Arrival.Label,
            RequestInterval = run.Arrival.Interval,
            RequestRate = run.Arrival.Rate,
            MaxConcurrency = run.MaxConcurrency,
            Interrupted = run.Interrupted,
            Completed = ok.Count,
            Failed = failed.Count,
            Cancelled = run.Requests.Count(r => r.Failure == FailureKind.Cancelled),
            Failures = failures,
            FailureExamples = examples,
            DurationS = dur,
            TotalInputTokens = input,
            TotalOutputTokens = output,
            RequestThroughput = dur > 0 ? ok.Count / dur : 0,
            OutputThroughput = dur > 0 ? output / dur : 0,
            TotalTokenThroughput = dur > 0 ? (input + output) / dur : 0,
            SpeedMeanTokS = speeds.Count > 0 ? speeds.Average() : 0,
            SpeedMinTokS = speeds.Count > 0 ? speeds.Min() : 0,
            TtftMs = Ms(ok.Select(r => r.Ttft)),
            TpotMs = Ms(ok.Where(r => r.OutputTokens > 1).Select(r => (r.Latency - r.Ttft) / (r.OutputTokens - 1))),
            ItlMs = Ms(ok.SelectMany(r => r.Itl)),
            E2elMs = Ms(ok.Select(r => r.Latency)),
        };
    }

    /// <summary>Statistics of values given in seconds, reported in milliseconds.</summary>
    public static Stat Ms(IEnumerable<double> seconds)
    {
        var v = seconds.Select(s => s * 1000).ToArray();
        if (v.Length == 0) return new Stat(0, 0, 0, 0);
        Array.Sort(v);
        double mean = v.Average();
        double std = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length);
        return new Stat(mean, Percentile(v, 50), std, Percentile(v, 99));
    }

    /// <summary>Linear interpolation between closest ranks of sorted values (numpy.percentile's default).</summary>
    public static double Percentile(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.Length == 0) return 0;
        double rank = p / 100 * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}
