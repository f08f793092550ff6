namespace Quanta.Bench.Metrics;

/// <summary>Mean, median, standard deviation and 99th percentile of a sample, in milliseconds.</summary>
public sealed record Stat(double Mean, double Median, double Std, double P99);

/// <summary>Everything one run measured (vLLM's definitions plus per-request speed); serialized to results.json.</summary>
public sealed record RunMetrics
{
    public required string Label { get; init; }
    public double? RequestInterval { get; init; }
    public double? RequestRate { get; init; }
    public int? MaxConcurrency { get; init; }
    public bool Interrupted { get; init; }
    public int Completed { get; init; }
    public int Failed { get; init; }
    /// <summary>Requests stopped by Ctrl-C; not counted as failures.</summary>
    public int Cancelled { get; init; }
    /// <summary>Failed requests by kind: connection_refused, http_500, mid_stream, timeout, other.</summary>
    public required SortedDictionary<string, int> Failures { get; init; }
    /// <summary>First message seen for each failure kind.</summary>
    public required SortedDictionary<string, string> FailureExamples { get; init; }
    public double DurationS { get; init; }
    public long TotalInputTokens { get; init; }
    public long TotalOutputTokens { get; init; }
    public double RequestThroughput { get; init; }        // completed requests / duration
    public double OutputThroughput { get; init; }         // output tokens / duration
    public double TotalTokenThroughput { get; init; }     // (input + output tokens) / duration
    public double SpeedMeanTokS { get; init; }            // mean over requests of output tokens / latency
    public double SpeedMinTokS { get; init; }             // lowest such speed
    public required Stat TtftMs { get; init; }
    public required Stat TpotMs { get; init; }
    public required Stat ItlMs { get; init; }
    public required Stat E2elMs { get; init; }
}
