using Quanta.Cpu;
using Quanta.Cuda;
using Quanta.Engine;
using Quanta.Tests;
using Quanta.Tests.Cpu;

namespace Quanta.Cuda.Tests;

/// <summary>The one-row lm_head kernel (Kernels/lm_head.cu): logits against float64 and cuBLAS, its fused greedy choice against the CPU sampler.</summary>
public class LmHeadTests
{
    readonly Random _rng = new();

    /// <summary>
    /// Random f16 weights and a row; a hidden size of one pass (4096), of two passes with the second partly empty (5120),
    /// smaller than a warp's first load (8, 72), and vocabularies with fewer rows than blocks or than the 8 warps of a block.
    /// </summary>
    [Theory]
    [InlineData(32000, 4096)]
    [InlineData(32001, 256)]
    [InlineData(4099, 5120)]
    [InlineData(515, 72)]
    [InlineData(7, 64)]
    [InlineData(300, 8)]
    public void LogitsMatchFloat64(int vocab, int hidden)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var w = Gpu.RoundHalf(Gpu.Random(_rng, vocab * hidden, 0.05f));
        var x = Gpu.RoundHalf(Gpu.Random(_rng, hidden, 2f));
        var head = Head(mem, w, vocab, hidden);
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Alloc(4L * vocab, "logits");
        head.Forward(xd, y);
        var got = ctx.Download<float>(y, vocab);
        for (int v = 0; v < vocab; v++)
        {
            double want = 0, mag = 0;
            for (int i = 0; i < hidden; i++)
            {
                double p = (double)w[(long)v * hidden + i] * x[i];
                want += p;
                mag += Math.Abs(p);
            }
            Assert.True(Math.Abs(got[v] - want) <= 1e-5 * mag + 1e-6, $"vocab {v}: {got[v]} against {want} (sum of |products| {mag})");
        }
    }

    /// <summary>
    /// The fused greedy choice: every vocab row repeats one of 37 rows (so the maximum is tied across blocks and the first
    /// index must win), and the log-softmax within 1e-3 of the CPU sampler's on the kernel's own logits; three rounds, so
    /// the counter is seen to reset.
    /// </summary>
    [Theory]
    [InlineData(32000, 4096)]
    [InlineData(32000, 128)]
    [InlineData(5000, 256)]
    [InlineData(40, 64)]
    public void FusedGreedyMatchesCpuSampler(int vocab, int hidden)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var basis = Gpu.RoundHalf(Gpu.Random(_rng, 37 * hidden, 0.05f));
        var w = new float[(long)vocab * hidden];
        for (int v = 0; v < vocab; v++) Array.Copy(basis, (v * 7 % 37) * hidden, w, (long)v * hidden, hidden);
        var head = Head(mem, w, vocab, hidden);
        using var sampler = new CudaSampler(mem);
        RowSampling[] greedy = [new RowSampling(true, 1f, 0, 1f, 0)];
        var cpu = new Sampler(vocab);
        ulong y = mem.Alloc(4L * vocab, "logits");
        for (int round = 0; round < 3; round++)
        {
            ulong xd = mem.Upload<ushort>(Gpu.Half(Gpu.RoundHalf(Gpu.Random(_rng, hidden, 2f))), "x");
            sampler.Upload(greedy, vocab);
            var g = sampler.FusedGreedy(0, 1, head.Blocks) ?? throw new InvalidOperationException("the row is greedy");
            head.Forward(xd, y, g);
            var ids = new int[1];
            var lps = new float[1];
            sampler.Download(ids, lps);
            var logits = ctx.Download<float>(y, vocab);
            int want = cpu.Sample(logits, greedy[0], out float lp);
            Assert.True(want == ids[0], $"round {round}: fused id {ids[0]}, CPU {want}");
            Assert.True(Math.Abs(lp - lps[0]) <= 1e-3 * Math.Max(1, Math.Abs(lp)), $"round {round}: fused logprob {lps[0]}, CPU {lp}");
        }
    }

    /// <summary>Steps of 1 (the kernel) and 2 logits rows (cuBLAS): logits track the CPU's, and ForwardSample's greedy ids are their argmax.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ModelHeadMatchesCpu(int n)
    {
        Gpu.Context();
        using var cpu = new CpuTestModel(TestPaths.DefaultModel);
        using var r = Gpu.RunnerOver(cpu, 64);
        var rng = new Random();
        int v = cpu.Vocab;
        var batch = Batches.Build(16, new SeqStep([.. Enumerable.Range(0, 20)], 0, [.. Enumerable.Range(0, n).Select(_ => rng.Next(v))], AllLogits: true));
        var logits = Batches.Run(r, batch);
        Gpu.Close(logits, [.. Batches.Run(cpu.Runner, batch).Select(f => (double)f)], 2e-2, "logits against the CPU's");
        SamplingTests.GreedySampleMatchesLogits(r, batch, logits, v);
    }

    /// <summary>
    /// One sequence decoding through its graph (lm_head inside, with the greedy choice, or logits then sample_rows for a
    /// sampled row), steps queued two deep with fed tokens: each id is the CPU sampler's choice on the logits of the same
    /// step run alone with the ids passed in (a sampled row may land across a boundary once), its logprob within 1e-3.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DecodeGraphWithTheHeadMatchesItsLogits(bool greedy)
    {
        Gpu.Context();
        using var cpu = new CpuTestModel(TestPaths.Fixture("tiny-llama-gptq-g128"));
        var rng = new Random();
        int v = cpu.Vocab, steps = 10;
        var prompt = Enumerable.Range(0, 9).Select(_ => rng.Next(v)).ToArray();
        var uniforms = Enumerable.Range(0, steps).Select(_ => rng.NextDouble()).ToArray();
        RowSampling Row(int i) => greedy ? new RowSampling(true, 1f, 0, 1f, 0) : new RowSampling(false, 0.8f, 20, 0.95f, uniforms[i]);
        ForwardBatch Step(int i, int token) => Batches.Build(16, new SeqStep([0, 1], prompt.Length - 1 + i, [token]));
        var prefill = Batches.Build(16, new SeqStep([0, 1], 0, prompt[..^1]));
        var ids = new int[steps];
        var lps = new float[steps];
        using (var r = Gpu.RunnerOver(cpu, 16))
        {
            Batches.Run(r, prefill);
            r.Queue(Step(0, prompt[^1]), [Row(0)], []);
            for (int i = 0; i < steps; i++)
            {
                if (i + 1 < steps) r.Queue(Step(i + 1, v - 1), [Row(i + 1)], [0]);   // placeholder id, replaced on the GPU
                r.Collect(ids.AsSpan(i, 1), lps.AsSpan(i, 1));
            }
        }
        using var alone = Gpu.RunnerOver(cpu, 16);
        Batches.Run(alone, prefill);
        var sampler = new Sampler(v);
        int mismatches = 0;
        for (int i = 0; i < steps; i++)
        {
            var logits = Batches.Run(alone, Step(i, i == 0 ? prompt[^1] : ids[i - 1]));
            int want = sampler.Sample(logits.AsSpan(0, v), Row(i), out float lp);
            if (want != ids[i]) { mismatches++; continue; }
            Assert.True(Math.Abs(lp - lps[i]) <= 1e-3, $"step {i}: logprob {lps[i]} from the graph, {lp} from its logits");
        }
        Assert.True(mismatches <= (greedy ? 0 : 1), $"{mismatches} of {steps} ids differ from the CPU sampler's choice on the step's logits");
    }

    static CudaLmHead Head(DeviceArena mem, float[] w, int vocab, int hidden)
    {
        ulong wd = mem.Upload<ushort>(Gpu.Half(w), "lm_head");
        var lin = CudaLinear.Shared(mem, new Kernels(mem.Ctx), hidden, vocab, wd);
        return CudaLmHead.For(mem.Ctx, lin) ?? throw new InvalidOperationException($"hidden {hidden} should take the kernel");
    }
}
