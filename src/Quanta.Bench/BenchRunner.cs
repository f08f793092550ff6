using System.Diagnostics;
using Quanta.Bench.Client;
using Quanta.Bench.Dataset;

namespace Quanta.Bench;

/// <summary>When requests are sent: a fixed gap, Poisson arrivals at a rate, or all at once.</summary>
public sealed record Arrival(double? Interval = null, double? Rate = null, int Seed = 0)
{
    public static Arrival AllAtOnce { get; } = new();

    /// <summary>Label used in tables: the interval in seconds, "rate R" or "all at once".</summary>
    public string Label => Interval is { } i ? $"{i:0.###}" : Rate is { } r ? $"rate {r:0.###}" : "all at once";

    /// <summary>Send times in seconds from the start, one per request (Poisson gaps drawn from the seed).</summary>
    public double[] Schedule(int count)
    {
        var t = new double[count];
        if (Interval is { } gap)
            for (int i = 0; i < count; i++) t[i] = i * gap;
        else if (Rate is { } rate)
        {
            var rng = new Random(Seed);
            for (int i = 1; i < count; i++) t[i] = t[i - 1] - Math.Log(1 - rng.NextDouble()) / rate;
        }
        return t;
    }
}

/// <summary>One run: every request's outcome and the wall time it took.</summary>
public sealed record RunOutcome(Arrival Arrival, int? MaxConcurrency, IReadOnlyList<RequestOutcome> Requests, double DurationS, bool Interrupted);

/// <summary>Sends a set of prompts on an arrival schedule, at most <c>maxConcurrency</c> in flight.</summary>
public static class BenchRunner
{
    /// <param name="onDone">called once per finished request (from any thread).</param>
    /// <param name="ct">Ctrl-C: stops sending, cancels requests in flight and returns what was measured.</param>
    public static async Task<RunOutcome> RunAsync(IReadOnlyList<BenchPrompt> prompts,
        Func<BenchPrompt, CancellationToken, Task<RequestOutcome>> send, Arrival arrival, int? maxConcurrency,
        Action<RequestOutcome>? onDone, CancellationToken ct)
    {
        if (maxConcurrency is < 1) throw new ArgumentException($"--max-concurrency must be at least 1, not {maxConcurrency}");
        var times = arrival.Schedule(prompts.Count);
        using var gate = maxConcurrency is { } m ? new SemaphoreSlim(m) : null;
        var tasks = new List<Task<RequestOutcome>>(prompts.Count);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < prompts.Count && !ct.IsCancellationRequested; i++)
        {
            var wait = TimeSpan.FromSeconds(times[i]) - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.Zero)
            {
                try { await Task.Delay(wait, ct); }
                catch (OperationCanceledException) { break; }
            }
            tasks.Add(SendOne(prompts[i]));
        }
        var outcomes = await Task.WhenAll(tasks);
        double duration = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new RunOutcome(arrival, maxConcurrency, outcomes, duration, ct.IsCancellationRequested);

        async Task<RequestOutcome> SendOne(BenchPrompt p)
        {
            RequestOutcome o;
            if (gate is not null)
            {
                try { await gate.WaitAsync(ct); }
                catch (OperationCanceledException) { return Done(new RequestOutcome { PromptLen = p.PromptLen, Failure = FailureKind.Cancelled, Error = "cancelled" }); }
                try { o = await send(p, ct); }
                finally { gate.Release(); }
            }
            else o = await send(p, ct);
            return Done(o);
        }

        RequestOutcome Done(RequestOutcome o)
        {
            onDone?.Invoke(o);
            return o;
        }
    }
}
