using System.Diagnostics;
using Quanta.Engine;
using Quanta.Grammar;
using Quanta.Model;

namespace Quanta.Bench.Decode;

public static partial class DecodeBenchmark
{
    /// <summary>
    /// An array of strings: it cannot end before its closing bracket, and any text fits inside its strings, so every
    /// step of every row stays constrained (the default grammar of <c>bench decode --grammar json</c>).
    /// </summary>
    public const string EndlessSchema = """{"type":"array","items":{"type":"string"}}""";

    /// <summary>
    /// Decode steps as the engine runs a batch of constrained rows: each row's mask for its grammar state (a cached lookup
    /// once the state has been met) goes with its sampling parameters, the device (or, without one, the CPU Sampler on
    /// the host's logits) chooses, and each row's grammar advances by its token (a token the mask did not allow throws;
    /// after EOS the row starts a new output).
    /// A step's time covers all of it; <paramref name="maskUs"/> gets each step's host grammar work per row (µs).
    /// </summary>
    static List<double> Constrained(int steps, Func<int, ForwardBatch> next, RowSampling[] rows, TokenGrammar grammar, IDeviceSampler? device,
                                    IModelRunner runner, float[] logits, int[] ids, float[] lps, List<double> maskUs)
    {
        int v = runner.Config.VocabSize;
        var matchers = rows.Select(_ => new GrammarMatcher(grammar, steps)).ToArray();
        var host = device is null ? new Sampler(v) : null;
        var times = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            var step = next(i);
            long t0 = Stopwatch.GetTimestamp();
            for (int r = 0; r < rows.Length; r++) rows[r] = rows[r] with { Mask = matchers[r].Allowed() };
            long t1 = Stopwatch.GetTimestamp();
            if (device is not null) device.ForwardSample(step, rows, ids, lps);
            else
            {
                runner.Forward(step, logits);
                for (int r = 0; r < rows.Length; r++) ids[r] = host!.Sample(logits.AsSpan(r * v, v), rows[r], out lps[r]);
            }
            long t2 = Stopwatch.GetTimestamp();
            // A row that chose EOS (its output complete) starts a new output, as a new request would take its place.
            for (int r = 0; r < rows.Length; r++)
                if (grammar.Vocabulary.IsEos(ids[r])) matchers[r] = new GrammarMatcher(grammar, steps);
                else matchers[r].Accept(ids[r]);
            long t3 = Stopwatch.GetTimestamp();
            maskUs.Add((t1 - t0 + t3 - t2) * 1e6 / Stopwatch.Frequency / rows.Length);
            times.Add(Stopwatch.GetElapsedTime(t0, t3).TotalMilliseconds);
        }
        return times;
    }
}
