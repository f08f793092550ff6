using System.Diagnostics;
using Quanta.Bench.Kernels;
using Quanta.Cuda;
using Quanta.Engine;
using Quanta.Grammar;
using Quanta.Model;

namespace Quanta.Bench.Decode;

/// <summary>What one decode benchmark runs: batch sizes, steps, the timed prefill and how tokens are chosen.</summary>
/// <param name="Batches">decode batch sizes, each timed over <paramref name="Steps"/> steps.</param>
/// <param name="PromptTokens">tokens of the timed single-sequence prefill (0 = none).</param>
/// <param name="Context">tokens each sequence holds before decode starts.</param>
/// <param name="HostLogits">copy every logits row to the host instead of choosing tokens on the device.</param>
/// <param name="Queue">queue each step before the one before it is collected, as serve does.</param>
/// <param name="Sampling">how each row's token is chosen (greedy when not sampling).</param>
public sealed record DecodeBenchOptions(int[] Batches, int Steps, int PromptTokens, int Context, bool HostLogits, bool Queue, SamplingParams Sampling)
{
    /// <summary>
    /// Constrained decoding: every row's output is held to this grammar (compiled over the model's vocabulary), each
    /// step's masks computed on the host and applied where the tokens are chosen; null = free rows.
    /// </summary>
    public TokenGrammar? Grammar { get; init; }

    /// <summary>Tokens per KV block of the runner the benchmark needs.</summary>
    public const int BlockSize = 16;

    /// <summary>Blocks of one decoding sequence.</summary>
    internal int BlocksPerSeq => (Context + Steps + BlockSize - 1) / BlockSize;

    /// <summary>KV tokens the runner needs: the largest batch's sequences, or the prefill.</summary>
    public int KvTokens => Math.Max(Batches.Max() * BlocksPerSeq, (PromptTokens + BlockSize - 1) / BlockSize) * BlockSize;

    /// <summary>Tokens of the largest step (sizes the runner's activations).</summary>
    public int MaxStepTokens => Math.Max(Math.Max(PromptTokens, Batches.Max()), 1);
}

/// <summary>Times decode steps per batch size and one long prefill; bytes read per step over copy bandwidth gives the roofline.</summary>
public static partial class DecodeBenchmark
{
    const int BlockSize = DecodeBenchOptions.BlockSize;

    /// <summary>
    /// Times the steps on <paramref name="runner"/> (sized by <see cref="DecodeBenchOptions.KvTokens"/> and
    /// <see cref="DecodeBenchOptions.MaxStepTokens"/>) with every row chosen as the engine would for the options' sampling
    /// (a fresh uniform per row and step), and writes the table to <paramref name="output"/>.
    /// </summary>
    public static void Run(IModelRunner runner, LlamaWeights w, DecodeBenchOptions o, TextWriter output, CancellationToken ct)
    {
        var c = runner.Config;
        var (batches, steps, promptTokens, ctx0, sampling) = (o.Batches, o.Steps, o.PromptTokens, o.Context, o.Sampling);
        var choice = RowSampling.For(sampling, c.VocabSize, 0);
        int perSeq = o.BlocksPerSeq;
        var cuda = runner as CudaModelRunner;
        double bandwidth = cuda is not null ? CopyBandwidth.Measure() : HostBandwidth();
        int hd = c.EffectiveHeadDim;
        long kvPerToken = cuda?.KvBytesPerToken ?? 2L * c.NumLayers * c.NumKvHeads * hd * sizeof(float);
        var cost = StepCost.Of(c, w, kvPerToken);
        long weightBytes = cuda?.DecodeWeightBytes ?? cost.WeightBytes;
        output.WriteLine($"device: {runner.DeviceName}; copy bandwidth {bandwidth / 1e9:F0} GB/s (read + write); weights read per step {weightBytes / 1e9:F2} GB");
        var sampler = runner as IDeviceSampler;
        bool deviceSampling = sampler is not null && !o.HostLogits;
        bool queue = o.Queue && deviceSampling && sampler!.CanQueue && o.Grammar is null;
        string how = choice.Greedy ? "greedily" : $"by sampling (temperature {choice.Temperature}, top-k {choice.TopK}, top-p {choice.TopP})";
        output.WriteLine(deviceSampling
            ? $"decode steps choose tokens {how} on the device, as serve does (--host-logits: copy every logits row to the host instead)"
            : "decode steps copy every logits row to the host" + (choice.Greedy || o.Grammar is not null ? "" : " (no token is chosen there, so the sampling options change nothing)"));
        if (o.Grammar is { } grammar)
            output.WriteLine($"every row is constrained to {grammar.Spec.Kind} {grammar.Spec.Value}: each step's masks come from the host " +
                (deviceSampling ? "and are applied on the device; steps are not queued ahead (a row's mask needs the token before it)" : "and tokens are chosen there"));
        else if (deviceSampling)
            output.WriteLine(queue ? "each step is queued, its tokens fed on the device, before the one before it is collected, as serve does (--no-queue: one at a time)"
                                    : "each step is prepared after the one before it finished");
        output.WriteLine("batch | ms/step | tok/s | GB read/step | roofline");
        var logits = new float[batches.Max() * c.VocabSize];
        var rng = new Random(1);
        foreach (int b in batches)
        {
            ct.ThrowIfCancellationRequested();
            var tables = Enumerable.Range(0, b).Select(s => Enumerable.Range(s * perSeq, perSeq).ToArray()).ToArray();
            var pre = Build(c, rng, tables, Enumerable.Repeat(0, b).ToArray(), ctx0);
            runner.Forward(pre, logits);
            cuda?.TakeProfile();
            var rows = new RowSampling[b];
            var ids = new int[b];
            var lps = new float[b];
            // Decode step i of every sequence (random tokens at position ctx0 + i), with each row's sampling in rows.
            ForwardBatch Next(int i)
            {
                for (int r = 0; r < b; r++) rows[r] = RowSampling.For(sampling, c.VocabSize, sampling.DoSample ? rng.NextDouble() : 0);
                return Build(c, rng, tables, Enumerable.Repeat(ctx0 + i, b).ToArray(), 1);
            }
            var times = new List<double>();
            var maskUs = new List<double>();
            if (o.Grammar is { } g) times = Constrained(steps, Next, rows, g, deviceSampling ? sampler : null, runner, logits, ids, lps, maskUs);
            else if (queue) times = Queued(steps, Next, rows, sampler!, ids, lps);
            else for (int i = 0; i < steps; i++)
            {
                var step = Next(i);
                long t0 = Stopwatch.GetTimestamp();
                if (deviceSampling) sampler!.ForwardSample(step, rows, ids, lps);
                else runner.Forward(step, logits);
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            var timed = times.Skip(Math.Min(3, steps - 1)).Order().ToArray();
            double ms = timed[timed.Length / 2];
            long bytes = weightBytes + (long)b * (ctx0 + steps / 2) * kvPerToken;
            double roofMs = bytes / bandwidth * 1e3;
            output.WriteLine($"{b,5} | {ms,7:F3} | {b / ms * 1e3,8:F1} | {bytes / 1e9,12:F2} | {roofMs / ms * 100,6:F1}%");
            if (o.Grammar is not null)
                output.WriteLine($"  host grammar work (masks, advancing by the chosen tokens) per row and step: median {maskUs.Order().ElementAt(maskUs.Count / 2):F2} us, " +
                                 $"mean {maskUs.Average():F2} us (the first steps build their states' masks)");
            if (cuda?.TakeProfile() is { } prof)
            {
                long attended = (long)b * (ctx0 + (steps + 1) / 2);
                Profile(output, $"{steps} steps of {b} rows", prof, steps, cost.Step(b, attended, attended, b));
            }
        }
        if (promptTokens > 0)
        {
            var table = new[] { Enumerable.Range(0, (promptTokens + BlockSize - 1) / BlockSize).ToArray() };
            var pf = Build(c, rng, table, [0], promptTokens);
            runner.Forward(pf, logits);
            var t = new List<double>();
            for (int i = 0; i < 3; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runner.Forward(pf, logits);
                t.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            double ms = t.Order().ElementAt(1);
            output.WriteLine($"prefill {promptTokens} tokens: {ms:F1} ms, {promptTokens / ms * 1e3:F0} tok/s");
            if (cuda?.TakeProfile() is { } prof)
                Profile(output, $"4 prefills of {promptTokens} tokens", prof, 4, cost.Step(promptTokens, (long)promptTokens * (promptTokens + 1) / 2, promptTokens, 1));
        }
    }

    /// <summary>
    /// Decode steps as serve runs them: step i+1 (its tokens fed on the device from step i's ids) is queued before step i
    /// is collected; a step's time is the interval between successive collects.
    /// </summary>
    static List<double> Queued(int steps, Func<int, ForwardBatch> next, RowSampling[] rows, IDeviceSampler sampler, int[] ids, float[] lps)
    {
        var feed = Enumerable.Range(0, rows.Length).ToArray();
        var times = new List<double>();
        long t0 = Stopwatch.GetTimestamp();
        sampler.Queue(next(0), rows, []);
        for (int i = 0; i < steps; i++)
        {
            if (i + 1 < steps) sampler.Queue(next(i + 1), rows, feed);
            sampler.Collect(ids, lps);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            t0 = Stopwatch.GetTimestamp();
        }
        return times;
    }

    /// <summary>Each sequence s adds <paramref name="n"/> random tokens at positions start[s]..; logits for its last token.</summary>
    static ForwardBatch Build(LlamaConfig c, Random rng, int[][] tables, int[] start, int n)
        => ForwardBatch.Of(BlockSize, [.. tables.Select((t, s) => new SeqTokens(t, start[s], [.. Enumerable.Range(0, n).Select(_ => rng.Next(c.VocabSize))]))]);

    /// <summary>A profile's GPU time per phase over <paramref name="steps"/> alike, with each phase's rate of its least work.</summary>
    static void Profile(TextWriter output, string what, IReadOnlyDictionary<string, double> ms, int steps, IReadOnlyDictionary<string, PhaseCost> perStep)
    {
        output.WriteLine($"  profile over {what}: GPU time per phase; TFLOP/s and GB/s of the least work each phase needs (StepCost)");
        foreach (var line in StepCost.Lines(ms, steps, perStep)) output.WriteLine("    " + line);
    }

    /// <summary>Host memory copy bandwidth (read + write) of one 256 MiB copy, best of 5.</summary>
    static unsafe double HostBandwidth()
    {
        const int n = 256 << 20;
        var a = GC.AllocateUninitializedArray<byte>(n);
        var b = GC.AllocateUninitializedArray<byte>(n);
        a.AsSpan().Fill(1);
        double best = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            a.AsSpan().CopyTo(b);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return 2.0 * n / best;
    }
}
