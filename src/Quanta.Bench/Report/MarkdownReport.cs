using System.Globalization;
using System.Text;
using Quanta.Bench.Metrics;

namespace Quanta.Bench.Report;

/// <summary>The sweep table (the columns users publish) and the per-run detail table, as Markdown.</summary>
public static class MarkdownReport
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// interval, throughput req/s, average and lowest per-request tokens/s, TTFT p99, TPOT p99, ITL median and p99
    /// (gaps between streamed tokens of all requests: a step that stalls the decoding requests shows as p99 far above the median),
    /// completed, failed.
    /// </summary>
    public static string SweepTable(IReadOnlyList<RunMetrics> runs)
    {
        var sb = new StringBuilder();
        var first = runs.Any(r => r.RequestInterval is not null) ? "interval (s)" : "arrivals";
        sb.AppendLine($"| {first} | throughput (req/s) | average tokens/s | lowest tokens/s | TTFT p99 (ms) | TPOT p99 (ms) | ITL median (ms) | ITL p99 (ms) | completed | failed |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in runs)
            sb.AppendLine(Inv, $"| {r.Label}{(r.Interrupted ? " (interrupted)" : "")} | {r.RequestThroughput:0.00} | {r.SpeedMeanTokS:0.00} | {r.SpeedMinTokS:0.00} | {r.TtftMs.P99:0.0} | {r.TpotMs.P99:0.0} | {r.ItlMs.Median:0.0} | {r.ItlMs.P99:0.0} | {r.Completed} | {r.Failed} |");
        return sb.ToString();
    }

    /// <summary>Every metric, one column per run.</summary>
    public static string Details(IReadOnlyList<RunMetrics> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| metric | " + string.Join(" | ", runs.Select(r => r.Label)) + " |");
        sb.AppendLine("|---|" + string.Concat(runs.Select(_ => "---:|")));
        foreach (var (name, get) in Rows())
            sb.AppendLine($"| {name} | " + string.Join(" | ", runs.Select(get)) + " |");
        return sb.ToString();
    }

    /// <summary>Rows of the detail table (also used by <c>bench compare</c>): name and a formatter.</summary>
    public static IEnumerable<(string Name, Func<RunMetrics, string> Get)> Rows()
    {
        yield return ("completed", r => r.Completed.ToString(Inv));
        yield return ("failed", r => r.Failed.ToString(Inv));
        yield return ("cancelled (Ctrl-C)", r => r.Cancelled.ToString(Inv));
        yield return ("failures by kind", r => r.Failures.Count == 0 ? "-" : string.Join(", ", r.Failures.Select(kv => $"{kv.Key} {kv.Value}")));
        yield return ("duration (s)", r => F(r.DurationS));
        yield return ("input tokens", r => r.TotalInputTokens.ToString(Inv));
        yield return ("output tokens", r => r.TotalOutputTokens.ToString(Inv));
        foreach (var (name, get) in Numeric()) yield return (name, r => F(get(r)));
    }

    /// <summary>The numeric metrics, for ratios.</summary>
    public static IEnumerable<(string Name, Func<RunMetrics, double> Get)> Numeric()
    {
        yield return ("request throughput (req/s)", r => r.RequestThroughput);
        yield return ("output throughput (tok/s)", r => r.OutputThroughput);
        yield return ("total token throughput (tok/s)", r => r.TotalTokenThroughput);
        yield return ("per-request speed mean (tok/s)", r => r.SpeedMeanTokS);
        yield return ("per-request speed lowest (tok/s)", r => r.SpeedMinTokS);
        foreach (var (n, s) in new (string, Func<RunMetrics, Stat>)[] { ("TTFT", r => r.TtftMs), ("TPOT", r => r.TpotMs), ("ITL", r => r.ItlMs), ("E2E latency", r => r.E2elMs) })
        {
            yield return ($"{n} mean (ms)", r => s(r).Mean);
            yield return ($"{n} median (ms)", r => s(r).Median);
            yield return ($"{n} p99 (ms)", r => s(r).P99);
        }
    }

    public static string F(double v) => v.ToString("0.00", Inv);

    public static string Full(BenchReport rep)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# quanta bench serve");
        sb.AppendLine();
        sb.AppendLine($"backend `{rep.Backend}`, {rep.BaseUrl}, model `{rep.Model ?? "-"}`, dataset `{rep.Dataset}`, {rep.NumPrompts} prompts, seed {rep.Seed}, started {rep.StartedUtc:u}");
        sb.AppendLine();
        foreach (var note in rep.Notes) sb.AppendLine($"- {note}");
        if (rep.Notes.Count > 0) sb.AppendLine();
        sb.Append(SweepTable(rep.Runs));
        sb.AppendLine();
        sb.Append(Details(rep.Runs));
        var examples = rep.Runs.SelectMany(r => r.FailureExamples).GroupBy(kv => kv.Key).ToList();
        if (examples.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Failures (first message of each kind):");
            foreach (var g in examples) sb.AppendLine($"- {g.Key}: {g.First().Value}");
        }
        return sb.ToString();
    }
}
