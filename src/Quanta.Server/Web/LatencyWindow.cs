using System.Threading.Channels;
using Quanta.Engine;

namespace Quanta.Server.Web;

/// <summary>
/// Time to first token, inter-token latency and generated tokens over the last minute, for the dashboard.
/// Sixty one-second buckets of log-spaced histograms: recording is one interlocked add, memory is fixed
/// (about 200 KB) whatever the load, and a snapshot merges the buckets without stopping the writers.
/// </summary>
internal sealed class LatencyWindow
{
    const int Seconds = 60;
    // Bin i holds latencies in [MinMs * Growth^i, MinMs * Growth^(i+1)); bin 0 also takes anything smaller and the
    // last bin anything larger. Growth 1.08 keeps a reported percentile within 4% of the true one.
    const double MinMs = 0.05, Growth = 1.08;
    const int Bins = 212;                                   // MinMs * Growth^212 ≈ 600 s
    static readonly double LogGrowth = Math.Log(Growth);

    sealed class Bucket
    {
        public long Second = long.MinValue;
        public long Tokens;
        public readonly long[] Ttft = new long[Bins];       // [Bins] request counts
        public readonly long[] Itl = new long[Bins];        // [Bins] token-gap counts
    }

    readonly Bucket[] _ring = new Bucket[Seconds];
    readonly TimeProvider _time;
    long _tokensTotal;

    public LatencyWindow(TimeProvider time)
    {
        _time = time;
        for (int i = 0; i < Seconds; i++) _ring[i] = new Bucket();
    }

    /// <summary>Tokens read through <see cref="Track"/> since the server started.</summary>
    public long TokensTotal => Interlocked.Read(ref _tokensTotal);

    /// <summary>
    /// Wraps one request's event stream: its first token feeds TTFT (from now), later ones feed ITL. Token
    /// timestamps and the window's <see cref="TimeProvider"/> must share a clock (the system one outside tests).
    /// </summary>
    public ChannelReader<GenerationEvent> Track(ChannelReader<GenerationEvent> events) => new TimedReader(events, this, _time.GetTimestamp());

    /// <summary>Records a first token <paramref name="elapsed"/> after submission.</summary>
    public void FirstToken(TimeSpan elapsed) => Record(elapsed, ttft: true);

    /// <summary>Records a token <paramref name="gap"/> after the previous one of its request.</summary>
    public void NextToken(TimeSpan gap) => Record(gap, ttft: false);

    void Record(TimeSpan latency, bool ttft)
    {
        var b = Current();
        Interlocked.Increment(ref (ttft ? b.Ttft : b.Itl)[Bin(latency.TotalMilliseconds)]);
        Interlocked.Increment(ref b.Tokens);
        Interlocked.Increment(ref _tokensTotal);
    }

    long NowSecond() => (long)Math.Floor(_time.GetTimestamp() / (double)_time.TimestampFrequency);

    Bucket Current()
    {
        long sec = NowSecond();
        var b = _ring[(int)(((sec % Seconds) + Seconds) % Seconds)];
        if (Volatile.Read(ref b.Second) != sec)
        {
            lock (b)
            {
                if (b.Second != sec)
                {
                    Array.Clear(b.Ttft);
                    Array.Clear(b.Itl);
                    Interlocked.Exchange(ref b.Tokens, 0);
                    Volatile.Write(ref b.Second, sec);
                }
            }
        }
        return b;
    }

    static int Bin(double ms) => ms <= MinMs ? 0 : Math.Min(Bins - 1, (int)(Math.Log(ms / MinMs) / LogGrowth));

    /// <summary>The geometric middle of bin <paramref name="i"/>, in milliseconds.</summary>
    static double BinValue(int i) => MinMs * Math.Pow(Growth, i + 0.5);

    /// <summary>Percentiles over the last 60 s and tokens per second over the last 5 s (the current second counted by its elapsed part).</summary>
    public WindowSnapshot Snapshot()
    {
        long now = _time.GetTimestamp();
        double nowSec = now / (double)_time.TimestampFrequency;
        long sec = (long)Math.Floor(nowSec);
        var ttft = new long[Bins];
        var itl = new long[Bins];
        long recentTokens = 0;
        foreach (var b in _ring)
        {
            long s = Volatile.Read(ref b.Second);
            if (s <= sec - Seconds || s > sec) continue;
            for (int i = 0; i < Bins; i++)
            {
                ttft[i] += Volatile.Read(ref b.Ttft[i]);
                itl[i] += Volatile.Read(ref b.Itl[i]);
            }
            if (s > sec - 5) recentTokens += Interlocked.Read(ref b.Tokens);
        }
        double span = 4 + (nowSec - sec);
        return new WindowSnapshot(Percentiles.Of(ttft), Percentiles.Of(itl), recentTokens / span, TokensTotal);
    }

    /// <summary>p50/p90/p99 in milliseconds (null when no sample) and the sample count.</summary>
    public sealed record Percentiles(double? P50, double? P90, double? P99, long Count)
    {
        public static Percentiles Of(long[] bins)
        {
            long n = bins.Sum();
            if (n == 0) return new Percentiles(null, null, null, 0);
            return new Percentiles(At(bins, n, 0.50), At(bins, n, 0.90), At(bins, n, 0.99), n);
        }

        static double At(long[] bins, long n, double q)
        {
            long rank = Math.Max(1, (long)Math.Ceiling(q * n)), seen = 0;
            for (int i = 0; i < bins.Length; i++)
                if ((seen += bins[i]) >= rank) return Math.Round(BinValue(i), 3);
            return Math.Round(BinValue(bins.Length - 1), 3);
        }
    }

    /// <summary>Forwards a request's events and times its tokens by their <see cref="TokenGenerated.Timestamp"/>.</summary>
    sealed class TimedReader(ChannelReader<GenerationEvent> inner, LatencyWindow window, long submitted) : ChannelReader<GenerationEvent>
    {
        long _last = submitted;
        bool _first = true;

        public override bool TryRead(out GenerationEvent item)
        {
            if (!inner.TryRead(out item!)) return false;
            if (item is TokenGenerated t)
            {
                // The engine's emission time: a reader that falls behind must not shrink the gaps it sees.
                long now = t.Timestamp;
                var gap = window._time.GetElapsedTime(_last, now);
                if (_first) window.FirstToken(gap);
                else window.NextToken(gap);
                _first = false;
                _last = now;
            }
            return true;
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken ct = default) => inner.WaitToReadAsync(ct);
        public override Task Completion => inner.Completion;
    }
}

/// <summary>The rolling window at one instant.</summary>
internal sealed record WindowSnapshot(LatencyWindow.Percentiles Ttft, LatencyWindow.Percentiles Itl, double TokensPerSecond, long TokensTotal);
