using System.CommandLine;
using System.Diagnostics;
using Quanta.Cli.Commands;
using Quanta.Cuda;
using Quanta.Engine;
using Quanta.IO;
using Quanta.Model;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddBenchDecode(Command bench)
    {
        var cmd = new Command("decode", "Decode and prefill speed of a backend on a model, with the memory-bandwidth roofline");
        var modelId = new Option<string>("--model-id") { Description = "Model folder or .bin (no tokenizer needed)", Required = true };
        var batches = new Option<string>("--batch") { Description = "Comma list of decode batch sizes", DefaultValueFactory = _ => "1,8,32,128" };
        var tokens = new Option<int>("--tokens") { Description = "Decode steps per batch size", DefaultValueFactory = _ => 256 }.AtLeast(1);
        var prompt = new Option<int>("--prompt-tokens") { Description = "Tokens of the timed single-sequence prefill", DefaultValueFactory = _ => 2048 }.AtLeast(0);
        var context = new Option<int>("--context") { Description = "Tokens each sequence holds before decode starts", DefaultValueFactory = _ => 16 }.AtLeast(1);
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var hostLogits = new Option<bool>("--host-logits") { Description = "Copy every logits row to the host each step instead of choosing tokens on the device" };
        var noQueue = new Option<bool>("--no-queue") { Description = "Wait for each step before preparing the next (serve queues each decode step while the one before runs)" };
        var temperature = new Option<float>("--temperature") { Description = "Sample with this temperature instead of greedily (with --top-k/--top-p: 1)", DefaultValueFactory = _ => 0f }.AtLeast(0f);
        var topK = new Option<int>("--top-k") { Description = "Sample from the k most likely tokens (0 = off)", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var topP = new Option<float>("--top-p") { Description = "Sample from the smallest set of tokens holding this probability mass (1 = off)", DefaultValueFactory = _ => 1f }.Must(v => v is > 0 and <= 1, "in (0, 1]");
        var profile = new Option<bool>("--profile") { Description = "CUDA: print GPU milliseconds per phase of the steps (runs them without graphs, one at a time)" };
        foreach (var o in new Option[] { modelId, batches, tokens, prompt, context, device, hostLogits, noQueue, temperature, topK, topP, profile }) cmd.Options.Add(o);
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(() =>
        {
            var bs = pr.GetValue(batches)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var b) && b > 0 ? b : throw new ArgumentException($"--batch: '{s}' is not a positive integer")).ToArray();
            int steps = pr.GetValue(tokens), promptTokens = pr.GetValue(prompt), ctx0 = pr.GetValue(context);
            float t = pr.GetValue(temperature), p = pr.GetValue(topP);
            int k = pr.GetValue(topK);
            var sampling = new SamplingParams { DoSample = t > 0 || k > 0 || p < 1, Temperature = t > 0 ? t : 1f, TopK = k, TopP = p };
            using var ck = ModelLoader.Open(pr.GetValue(modelId));
            DecodeBench.Run(ck.Config, ck.Weights, pr.GetValue(device)!, bs, steps, promptTokens, ctx0, pr.GetValue(hostLogits), !pr.GetValue(noQueue), sampling, ct,
                pr.GetValue(profile));
            return Task.FromResult(0);
        }));
        bench.Subcommands.Add(cmd);
    }
}

/// <summary>Times decode steps per batch size and one long prefill; bytes read per step over copy bandwidth gives the roofline.</summary>
internal static class DecodeBench
{
    const int BlockSize = 16;

    /// <summary>Times the steps with every row chosen as the engine would for <paramref name="sampling"/> (a fresh uniform per row and step).</summary>
    public static void Run(LlamaConfig c, LlamaWeights w, string device, int[] batches, int steps, int promptTokens, int ctx0, bool hostLogits,
                           bool queue, SamplingParams sampling, CancellationToken ct, bool profile = false)
    {
        var choice = RowSampling.For(sampling, c.VocabSize, 0);
        int perSeq = (ctx0 + steps + BlockSize - 1) / BlockSize;
        int blocks = Math.Max(batches.Max() * perSeq, (promptTokens + BlockSize - 1) / BlockSize);
        using var runner = RunnerFactory.Create(c, w, device, BlockSize, blocks * BlockSize, Console.Out, Math.Max(Math.Max(promptTokens, batches.Max()), 1),
            cudaProfile: profile);
        var cuda = runner as CudaModelRunner;
        double bandwidth = cuda is not null ? CudaBench.CopyBandwidth() : HostBandwidth();
        long weightBytes = cuda?.DecodeWeightBytes ?? WeightBytes(w);
        int hd = c.EffectiveHeadDim;
        long kvPerToken = cuda?.KvBytesPerToken ?? 2L * c.NumLayers * c.NumKvHeads * hd * sizeof(float);
        Console.WriteLine($"device: {runner.DeviceName}; copy bandwidth {bandwidth / 1e9:F0} GB/s (read + write); weights read per step {weightBytes / 1e9:F2} GB");
        var sampler = runner as IDeviceSampler;
        bool deviceSampling = sampler is not null && !hostLogits;
        queue &= deviceSampling && sampler!.CanQueue;
        string how = choice.Greedy ? "greedily" : $"by sampling (temperature {choice.Temperature}, top-k {choice.TopK}, top-p {choice.TopP})";
        Console.WriteLine(deviceSampling
            ? $"decode steps choose tokens {how} on the device, as serve does (--host-logits: copy every logits row to the host instead)"
            : "decode steps copy every logits row to the host" + (choice.Greedy ? "" : " (no token is chosen there, so the sampling options change nothing)"));
        if (deviceSampling)
            Console.WriteLine(queue ? "each step is queued, its tokens fed on the device, before the one before it is collected, as serve does (--no-queue: one at a time)"
                                    : "each step is prepared after the one before it finished");
        Console.WriteLine("batch | ms/step | tok/s | GB read/step | roofline");
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
            if (queue) times = Queued(steps, Next, rows, sampler!, ids, lps);
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
            Console.WriteLine($"{b,5} | {ms,7:F3} | {b / ms * 1e3,8:F1} | {bytes / 1e9,12:F2} | {roofMs / ms * 100,6:F1}%");
            if (cuda?.TakeProfile() is { } prof) Console.WriteLine($"  profile ms over {steps} steps: {prof}");
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
            Console.WriteLine($"prefill {promptTokens} tokens: {ms:F1} ms, {promptTokens / ms * 1e3:F0} tok/s");
            if (cuda?.TakeProfile() is { } prof) Console.WriteLine($"  profile ms over 4 prefills: {prof}");
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

    static long WeightBytes(LlamaWeights w)
    {
        static long L(LinearWeights l) => l switch
        {
            GptqLinear g => g.QWeight.ByteLength + g.QZeros.ByteLength + g.Scales.ByteLength,
            DenseLinear d => d.Weight.ByteLength,
            _ => 0,
        };
        return w.Layers.Sum(l => L(l.Wq) + L(l.Wk) + L(l.Wv) + L(l.Wo) + L(l.WGate) + L(l.WUp) + L(l.WDown)) + L(w.LmHead);
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
