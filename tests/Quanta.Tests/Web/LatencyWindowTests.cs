using System.Threading.Channels;
using Quanta.Engine;
using Quanta.Server.Web;

namespace Quanta.Tests.Web;

public class LatencyWindowTests
{
    /// <summary>A clock the test moves by hand (ticks are microseconds).</summary>
    sealed class ManualClock : TimeProvider
    {
        public long Ticks = 1_000_000_000;
        public override long TimestampFrequency => 1_000_000;
        public override long GetTimestamp() => Ticks;
        public void Advance(double seconds) => Ticks += (long)(seconds * 1_000_000);
    }

    static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Percentiles_are_within_four_percent_of_the_exact_ones()
    {
        var clock = new ManualClock();
        var w = new LatencyWindow(clock);
        for (int i = 1; i <= 1000; i++) w.FirstToken(Ms(i));             // exact p50 = 500, p90 = 900, p99 = 990
        for (int i = 1; i <= 1000; i++) w.NextToken(Ms(0.1 * i));       // exact p50 = 50, p90 = 90, p99 = 99
        var s = w.Snapshot();
        Assert.Equal(1000, s.Ttft.Count);
        Assert.Equal(1000, s.Itl.Count);
        Assert.InRange(s.Ttft.P50!.Value, 500 * 0.96, 500 * 1.04);
        Assert.InRange(s.Ttft.P90!.Value, 900 * 0.96, 900 * 1.04);
        Assert.InRange(s.Ttft.P99!.Value, 990 * 0.96, 990 * 1.04);
        Assert.InRange(s.Itl.P50!.Value, 50 * 0.96, 50 * 1.04);
        Assert.InRange(s.Itl.P99!.Value, 99 * 0.96, 99 * 1.04);
        Assert.Equal(2000, s.TokensTotal);
    }

    [Fact]
    public void Samples_leave_the_window_after_a_minute_and_a_reused_second_starts_empty()
    {
        var clock = new ManualClock();
        var w = new LatencyWindow(clock);
        w.FirstToken(Ms(1000));
        clock.Advance(30);
        w.FirstToken(Ms(10));
        Assert.Equal(2, w.Snapshot().Ttft.Count);
        clock.Advance(30);                                              // the first sample is now 60 s old
        var s = w.Snapshot();
        Assert.Equal(1, s.Ttft.Count);
        Assert.InRange(s.Ttft.P99!.Value, 9.6, 10.4);
        clock.Advance(60 * 10);                                         // same ring slot as the first sample, ten laps later
        w.FirstToken(Ms(3));
        s = w.Snapshot();
        Assert.Equal(1, s.Ttft.Count);
        Assert.InRange(s.Ttft.P50!.Value, 2.88, 3.12);
        Assert.Equal(3, s.TokensTotal);
    }

    [Fact]
    public void Tokens_per_second_counts_the_last_five_seconds()
    {
        var clock = new ManualClock();
        var w = new LatencyWindow(clock);
        for (int sec = 0; sec < 10; sec++)
        {
            for (int i = 0; i < 100; i++) w.NextToken(Ms(1));
            clock.Advance(1);
        }
        // At the start of a second: four full seconds of 100 tokens each and the current, empty one.
        Assert.InRange(w.Snapshot().TokensPerSecond, 99.9, 100.1);
        clock.Advance(10);
        Assert.Equal(0, w.Snapshot().TokensPerSecond);
    }

    [Fact]
    public async Task Track_times_the_first_token_from_submission_and_the_rest_from_each_other()
    {
        var clock = new ManualClock();
        var w = new LatencyWindow(clock);
        var ch = Channel.CreateUnbounded<GenerationEvent>();
        var reader = w.Track(ch.Reader);
        long t0 = clock.Ticks;
        TokenGenerated Token(double afterMs) => new(new TokenInfo(1, "a", 0f, false), [], "a") { Timestamp = t0 + (long)(afterMs * 1000) };
        ch.Writer.TryWrite(Token(250));
        ch.Writer.TryWrite(Token(270));
        ch.Writer.TryWrite(Token(290));
        ch.Writer.TryWrite(new GenerationFinished(FinishReason.Length, 3, 0, "aaa", [], TimeSpan.Zero, TimeSpan.Zero, "aaa"));
        ch.Writer.Complete();
        clock.Advance(5);                                               // read late: the engine's timestamps still count
        int events = 0;
        await foreach (var _ in reader.ReadAllAsync(TestContext.Current.CancellationToken)) events++;
        Assert.Equal(4, events);
        var s = w.Snapshot();
        Assert.Equal(1, s.Ttft.Count);
        Assert.InRange(s.Ttft.P50!.Value, 240, 260);
        Assert.Equal(2, s.Itl.Count);
        Assert.InRange(s.Itl.P50!.Value, 19.2, 20.8);
    }
}
