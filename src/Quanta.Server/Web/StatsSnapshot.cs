using Quanta.Server.Api;

namespace Quanta.Server.Web;

/// <summary>GPU memory as the backend reports it.</summary>
public sealed record DeviceMemory(long UsedBytes, long TotalBytes);

/// <summary>
/// The body of <c>GET /stats</c>: one snapshot of the engine, the server and the last minute's latencies.
/// Counters (<c>*_total</c>) grow from server start; the dashboard turns them into rates.
/// </summary>
internal sealed record StatsSnapshot(
    long TimestampMs,
    string ModelId,
    string Device,
    int RequestsInFlight,
    int RequestsWaiting,
    int BatchSize,
    int BatchMaxTokens,
    int KvBlocksUsed,
    int KvBlocksTotal,
    int KvBlockSize,
    long PrefixCacheQueriesTotal,
    long PrefixCacheHitsTotal,
    long PreemptionsTotal,
    long RequestsTotal,
    long RequestsSucceededTotal,
    long GeneratedTokensTotal,
    double GeneratedTokensPerSecond,
    LatencyWindow.Percentiles TtftMs,
    LatencyWindow.Percentiles ItlMs,
    long? GpuMemoryUsedBytes,
    long? GpuMemoryTotalBytes)
{
    /// <summary>Reads the engine's counters and the rolling window; no lock is held across the two.</summary>
    public static StatsSnapshot Take(ServerState s)
    {
        var e = s.Model.Engine.Stats;
        var w = s.Metrics.Window.Snapshot();
        var mem = s.Model.DeviceMemory?.Invoke();
        return new StatsSnapshot(
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), s.Model.ModelId, s.Model.DeviceName,
            s.InFlight, e.Waiting, e.Running, e.BatchMaxTokens,
            e.KvBlocksUsed, e.KvBlocksTotal, e.BlockSize,
            e.PrefixCacheQueries, e.PrefixCacheHits, e.Preemptions,
            (long)s.Metrics.RequestCount.Value, (long)s.Metrics.RequestSuccess.Value,
            w.TokensTotal, Math.Round(w.TokensPerSecond, 2), w.Ttft, w.Itl,
            mem?.UsedBytes, mem?.TotalBytes);
    }
}
