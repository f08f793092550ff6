using Quanta.Cuda;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cuda.Tests;

/// <summary>
/// The CUDA quantization kernels against the CPU reference on random inputs, at shapes that are not multiples of the
/// kernels' blocks. Forward tolerances: both sides are fp32 with different summation orders (relative error ~1e-6
/// per op), so 1e-4 over a whole layer; the Hessian and the solve are fp64 on both sides.
/// </summary>
public class QuantizeKernelTests
{
    static readonly LlamaConfig Gqa = new()
    {
        HiddenSize = 96, IntermediateSize = 200, NumLayers = 1, NumHeads = 6, NumKvHeads = 2, VocabSize = 16,
        RopeScaling = new RopeScaling("llama3", 8, 1, 4, 64),
    };

    static DenseLayer RandomLayer(LlamaConfig c, Random rng)
    {
        int h = c.HiddenSize, q = c.NumHeads * c.EffectiveHeadDim, kv = c.NumKvHeads * c.EffectiveHeadDim, f = c.IntermediateSize;
        float s = 1f / MathF.Sqrt(h);
        return new DenseLayer
        {
            AttnNorm = [.. Gpu.Random(rng, h).Select(v => 1 + 0.2f * v)], FfnNorm = [.. Gpu.Random(rng, h).Select(v => 1 + 0.2f * v)],
            Wq = Gpu.Random(rng, q * h, s), Wk = Gpu.Random(rng, kv * h, s), Wv = Gpu.Random(rng, kv * h, s), Wo = Gpu.Random(rng, h * q, s),
            WGate = Gpu.Random(rng, f * h, s), WUp = Gpu.Random(rng, f * h, s), WDown = Gpu.Random(rng, h * f, 1f / MathF.Sqrt(f)),
        };
    }

    static double[] D(float[] f) => Array.ConvertAll(f, v => (double)v);

    [Theory]
    [InlineData(3, 100)]
    [InlineData(17, 4099)]
    public void RmsNormMatchesCpu(int rows, int n)
    {
        var ctx = Gpu.Context();
        var rng = new Random(rows);
        var c = Gqa with { HiddenSize = n };
        var x = Gpu.Random(rng, rows * n, 3f);
        var w = Gpu.Random(rng, n);
        var want = new DenseForward(c).RmsNorm(x, rows, w);
        var k = new QuantKernels(ctx);
        using var m = new DeviceArena(ctx);
        ulong y = m.Alloc(4L * x.Length, "y");
        k.RmsNorm(m.Upload<float>(x, "x"), m.Upload<float>(w, "w"), y, n, c.RmsNormEps, rows);
        Gpu.Close(ctx.Download<float>(y, x.Length), D(want), 1e-6, "rmsnorm");
    }

    /// <summary>Whole layer (GQA, llama3 RoPE scaling, three chunks) and the Hessians of every linear input.</summary>
    [Theory]
    [InlineData(60)]
    [InlineData(4096)]
    public void LayerForwardAndHessiansMatchDenseForward(int chunkTokens)
    {
        var ctx = Gpu.Context();
        var rng = new Random(7);
        var c = Gqa;
        var layer = RandomLayer(c, rng);
        int[] lens = [37, 50, 5, 23];
        var states = lens.Select(l => Gpu.Random(rng, l * c.HiddenSize)).ToArray();
        using var fwd = new DenseForward(c);
        var want = new Dictionary<LinearInput, Hessian>
        {
            [LinearInput.Attn] = new(c.HiddenSize), [LinearInput.O] = new(c.HiddenSize), [LinearInput.Mlp] = new(c.HiddenSize), [LinearInput.Down] = new(c.IntermediateSize),
        };
        var outs = states.Select((x, s) =>
        {
            var y = (float[])x.Clone();
            fwd.Layer(layer, y, lens[s], c.IntermediateSize, (at, inp) => want[at].Add(inp, lens[s]));
            return y;
        }).ToArray();

        using var be = new CudaQuantBackend(c, ctx, chunkTokens);
        be.Start(states);
        be.Load(layer, c.IntermediateSize);
        var hs = be.Collect(null);
        foreach (var (at, h) in want)
        {
            Assert.Equal(h.Tokens, hs[at].Tokens);
            Gpu.Close([.. ((CudaHessian)hs[at]).Download().Select(v => (float)v)], h.Sum, 1e-4, $"Hessian {at}");
        }
        for (int s = 0; s < lens.Length; s++) Gpu.Close(be.State(s), D(states[s]), 0, $"states unchanged by Collect, sample {s}");
        var only = be.Collect(LinearInput.Down);
        Gpu.Close([.. ((CudaHessian)only[LinearInput.Down]).Download().Select(v => (float)v)], want[LinearInput.Down].Sum, 1e-4, "Hessian Down alone");
        be.Advance();
        for (int s = 0; s < lens.Length; s++) Gpu.Close(be.State(s), D(outs[s]), 1e-4, $"layer output, sample {s}");
    }

    [Theory]
    [InlineData(70, 130)]
    [InlineData(300, 64)]
    public void HessianMatchesCpuInFp64(int tokens, int n)
    {
        var ctx = Gpu.Context();
        var rng = new Random(n);
        var x1 = Gpu.Random(rng, tokens * n);
        var x2 = Gpu.Random(rng, 9 * n);
        var want = new Hessian(n);
        want.Add(x1, tokens);
        want.Add(x2, 9);
        var k = new QuantKernels(ctx);
        using var m = new DeviceArena(ctx);
        using var h = new CudaHessian(ctx, k, n);
        ulong scratch = m.Alloc(8L * tokens * n, "scratch");
        h.Add(m.Upload<float>(x1, "x1"), tokens, scratch);
        h.Add(m.Upload<float>(x2, "x2"), 9, scratch);
        Assert.Equal(tokens + 9, h.Tokens);
        var got = h.Download();
        double num = 0, den = 0;
        for (int i = 0; i < got.Length; i++) { num += (got[i] - want.Sum[i]) * (got[i] - want.Sum[i]); den += want.Sum[i] * want.Sum[i]; }
        Assert.True(Math.Sqrt(num / den) < 1e-12, $"relative error {Math.Sqrt(num / den):E2}");
    }

    /// <summary>The GPU's upper factor of (H + damp·I)⁻¹ equals Cholesky.UpperOfInverse (n not a multiple of 64).</summary>
    [Theory]
    [InlineData(200, false)]
    [InlineData(64, true)]
    [InlineData(1, false)]
    public void InverseFactorMatchesCpu(int n, bool actOrder)
    {
        var ctx = Gpu.Context();
        var rng = new Random(n);
        var h = new Hessian(n);
        h.Add(Gpu.Random(rng, 3 * n * n), 3 * n);
        var perm = Enumerable.Range(0, n).ToArray();
        if (actOrder) perm = [.. perm.OrderBy(_ => rng.Next())];
        double f = 2.0 / h.Tokens, damp = 0.01;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) a[i * n + j] = h.Sum[perm[i] * n + perm[j]] * f + (i == j ? damp : 0);
        Assert.True(Cholesky.FactorLower(a, n));
        var want = Cholesky.UpperOfInverse(a, n);
        var k = new QuantKernels(ctx);
        using var m = new DeviceArena(ctx);
        ulong sum = m.Upload<double>(h.Sum, "sum");
        var got = ctx.Download<double>(new CudaGptq(ctx, k).InverseFactor(m, sum, f, perm, n, damp), n * n);
        Gpu.Close([.. got.Select(v => (float)v)], want, 1e-6, "upper factor of H⁻¹");
    }
}
