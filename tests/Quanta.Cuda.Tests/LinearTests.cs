using Quanta.Cuda;
using Quanta.Model;
using Quanta.Tests.Cpu;

namespace Quanta.Cuda.Tests;

/// <summary>GPTQ (fused kernels, the int4 GEMM, dequantise + cuBLAS) and dense linear layers against float64 references.</summary>
public class LinearTests
{
    readonly Random _rng = new();

    public static TheoryData<int, int, int, bool, bool, int> GptqCases => new()
    {
        { 40, 64, 32, true, false, 1 },      // act-order, out not a multiple of the 16-column tile
        { 40, 64, 32, true, false, 40 },     // five 8-row tiles of x
        { 40, 64, 32, true, false, 70 },     // the int4 GEMM
        { 40, 64, 32, true, false, 300 },    // dequantise + cuBLAS
        { 264, 320, 64, false, true, 3 },
        { 264, 320, 64, false, true, 8 },
        { 264, 320, 64, false, true, 11 },
        { 72, 272, 16, false, false, 5 },    // in not a multiple of the 64-input step, groups of 16
        { 72, 272, 16, false, false, 100 },
        { 48, 208, -1, false, true, 2 },     // per channel, in % 64 != 0
        { 128, 256, -1, false, true, 5 },
        { 128, 256, -1, false, false, 33 },
        { 4096, 4096, 128, false, true, 1 },
        { 1000, 1024, 128, true, false, 7 },
        { 384, 2816, 128, false, false, 2 },
        { 384, 2816, 128, false, false, 64 },
        { 8200, 256, 128, false, true, 3 },  // 513 tiles: two per warp, the last pair half empty
        { 8200, 256, -1, false, false, 8 },
    };

    [Theory]
    [MemberData(nameof(GptqCases))]
    public void GptqMatchesDequantisedReference(int outF, int inF, int gs, bool actOrder, bool sym, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var layer = TestTensors.Gptq(_rng, "l", outF, inF, gs, actOrder, sym, out var w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        Assert.True(lin.IsQuantized);
        Assert.Equal(actOrder, lin.Perm != 0);
        Check(ctx, mem, lin, w, inF, outF, rows, 3e-3);
    }

    /// <summary>
    /// The fused kernel's plans at 7B-like shapes, where K is split over the warps of a block and over blocks (atomics): q/k/v
    /// and gate/up at one row (pairs of tiles; gate/up in 4-warp blocks where one wave of 8-warp blocks would cut its split),
    /// down_proj's 11008 inputs (one tile per warp), staged rows with blocks along K, act-order.
    /// </summary>
    [Theory]
    [InlineData(12288, 4096, 128, false, 1)]
    [InlineData(22016, 4096, 128, false, 1)]
    [InlineData(4096, 11008, 128, false, 1)]
    [InlineData(4096, 11008, 128, false, 24)]
    [InlineData(12288, 4096, 128, false, 8)]
    [InlineData(1000, 1024, 128, true, 3)]
    [InlineData(384, 2816, 128, false, 17)]
    [InlineData(8200, 512, 128, false, 2)]
    public void GptqPlansMatchDequantisedReference(int outF, int inF, int gs, bool actOrder, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var layer = TestTensors.Gptq(_rng, "l", outF, inF, gs, actOrder, true, out var w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        var (ks, splits, per, v) = lin.Plan(rows);
        Assert.True(ks * splits * per >= (inF + 63) / 64, $"plan {ks}x{splits}x{per} ({v}) covers K");
        Check(ctx, mem, lin, w, inF, outF, rows, 3e-3);
    }

    /// <summary>
    /// The fused kernel on layers that load their weights each way: long per-channel rows, groups of 3 k-steps, groups of 64,
    /// asymmetric zero points, 1-4 row tiles; integer weights with fp32 group sums keep 1e-3 of the reference.
    /// </summary>
    [Theory]
    [InlineData(64, 11008, -1, true, 1)]
    [InlineData(64, 11008, -1, false, 5)]
    [InlineData(96, 576, 192, false, 3)]
    [InlineData(520, 4096, 64, false, 1)]
    [InlineData(520, 4096, 128, true, 12)]
    [InlineData(136, 1024, 128, false, 33)]
    public void FusedKernelMatchesReference(int outF, int inF, int gs, bool sym, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var layer = TestTensors.Gptq(_rng, "l", outF, inF, gs, false, sym, out var w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        Check(ctx, mem, lin, w, inF, outF, rows, 1e-3);
    }

    /// <summary>
    /// The whole-slice kernel (two tiles with 2 k-steps per warp) where the plan takes it: a last slice shorter than a round
    /// (in = 320, 11008), a half-empty last pair (513 tiles), act-order, 1-8 rows, plain and accumulating.
    /// </summary>
    [Theory]
    [InlineData(4096, 4096, 128, false, 1)]
    [InlineData(1000, 1024, 128, true, 3)]
    [InlineData(264, 320, 64, false, 8)]
    [InlineData(8200, 512, 128, false, 1)]
    [InlineData(520, 11008, 128, false, 2)]
    public void WholeSliceKernelMatchesReference(int outF, int inF, int gs, bool actOrder, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var layer = TestTensors.Gptq(_rng, "l", outF, inF, gs, actOrder, false, out var w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        var (ks, splits, per, v) = lin.Plan(rows);
        Assert.True(v.Whole && v.Pairs, $"the whole-slice plan takes {outF}x{inF} at {rows} rows ({v})");
        Assert.True(ks * splits * per >= (inF + 63) / 64, $"plan {ks}x{splits}x{per} covers K");
        Check(ctx, mem, lin, w, inF, outF, rows, 1e-3);
        CheckAccumulate(ctx, mem, lin, w, inF, outF, rows);
    }

    /// <summary>accumulate: y += x · Wᵀ on every path (fused kernel with one and several K splits, dequantise + GEMM, dense).</summary>
    [Theory]
    [InlineData(true, 4096, 1000, 1)]
    [InlineData(true, 256, 264, 8)]
    [InlineData(true, 256, 264, 40)]
    [InlineData(true, 256, 264, 70)]
    [InlineData(false, 64, 72, 5)]
    public void AccumulateAddsIntoY(bool gptq, int inF, int outF, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        float[] w;
        LinearWeights layer = gptq ? TestTensors.Gptq(_rng, "l", outF, inF, 128, false, true, out w) : TestTensors.DenseLinear(_rng, "l", DType.F16, outF, inF, out w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        CheckAccumulate(ctx, mem, lin, w, inF, outF, rows);
    }

    static void CheckAccumulate(CudaContext ctx, DeviceArena mem, CudaLinear lin, float[] w, int inF, int outF, int rows)
    {
        var x = Gpu.RoundHalf(Gpu.Random(new Random(), rows * inF));
        var y0 = Gpu.Random(new Random(), rows * outF);
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Upload<float>(y0, "y");
        ulong scratch = mem.Alloc(Math.Max(256, lin.ScratchBytes(rows)), "scratch");
        lin.Forward(xd, y, rows, scratch, accumulate: true);
        var got = ctx.Download<float>(y, rows * outF);
        var want = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = y0[r * outF + o];
                for (int i = 0; i < inF; i++) s += (double)x[r * inF + i] * w[o * inF + i];
                want[r * outF + o] = s;
            }
        Gpu.Close(got, want, 3e-3, $"accumulate {outF}x{inF} rows {rows}");
    }

    [Theory]
    [InlineData(DType.F16, 72, 48, 3)]
    [InlineData(DType.F32, 200, 136, 20)]
    [InlineData(DType.BF16, 64, 64, 1)]
    public void DenseMatchesReference(DType dtype, int outF, int inF, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var layer = TestTensors.DenseLinear(_rng, "d", dtype, outF, inF, out var w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        Assert.False(lin.IsQuantized);
        Check(ctx, mem, lin, w, inF, outF, rows, 3e-3);
    }

    /// <summary>q/k/v-like parts joined into one matrix; outputs side by side in a wider row (ldy).</summary>
    [Theory]
    [InlineData(true, 3)]
    [InlineData(true, 20)]
    [InlineData(false, 2)]
    public void FusedPartsMatchEachReference(bool gptq, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int inF = 256;
        int[] outs = [128, 64, 64];
        var w = new float[outs.Length][];
        LinearWeights[] parts = gptq
            ? [.. outs.Select((o, i) => (LinearWeights)TestTensors.Gptq(_rng, "p" + i, o, inF, 64, false, true, out w[i]))]
            : [.. outs.Select((o, i) => (LinearWeights)TestTensors.DenseLinear(_rng, "p" + i, DType.F16, o, inF, out w[i]))];
        var fused = LinearFusion.Fuse(mem, new Kernels(ctx), parts);
        Assert.NotNull(fused);
        Assert.Equal(256, fused.Out);
        var all = new float[256 * inF];
        for (int i = 0, at = 0; i < outs.Length; at += w[i].Length, i++) w[i].CopyTo(all, at);
        Check(ctx, mem, fused, all, inF, 256, rows, 3e-3);
    }

    /// <summary>Gate/up fused with alternating runs of 8 columns: act = silu(gate) * up from the kernel's epilogue or silu_mul.</summary>
    [Theory]
    [InlineData(true, 64, false, 1)]     // two tiles per warp, SiLU epilogue
    [InlineData(true, 64, false, 12)]    // 9-16 rows: product, then silu_mul
    [InlineData(true, 64, false, 20)]    // three row tiles
    [InlineData(true, 64, true, 40)]     // act-order, two passes
    [InlineData(true, 64, false, 44)]    // passes of 32 (epilogue) and 12 (product, then silu_mul)
    [InlineData(true, 64, false, 70)]    // the int4 GEMM, then silu_mul over the runs
    [InlineData(true, 64, false, 140)]   // dequantise + cuBLAS, then silu_mul
    [InlineData(true, 32, false, 3)]     // groups of 32: product, then silu_mul
    [InlineData(false, 0, false, 5)]     // dense
    [InlineData(true, 128, false, 1, 4096, 11008)]    // 7B's gate/up at one row: two tiles per warp in 4-warp blocks
    [InlineData(true, 128, false, 24, 4096, 11008)]   // staged rows with the epilogue
    public void GateUpSiluMatchesReference(bool gptq, int gs, bool actOrder, int rows, int inF = 256, int ffn = 136)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var w = new float[2][];
        LinearWeights[] parts = gptq
            ? [.. Enumerable.Range(0, 2).Select(i => (LinearWeights)TestTensors.Gptq(_rng, "p" + i, ffn, inF, gs, actOrder, true, out w[i]))]
            : [.. Enumerable.Range(0, 2).Select(i => (LinearWeights)TestTensors.DenseLinear(_rng, "p" + i, DType.F16, ffn, inF, out w[i]))];
        if (actOrder)   // fusable only with one g_idx: give up the first part's
        {
            var (a, b) = ((GptqLinear)parts[0], (GptqLinear)parts[1]);
            parts[1] = new GptqLinear
            {
                Name = b.Name, InFeatures = inF, OutFeatures = ffn, QWeight = b.QWeight, QZeros = b.QZeros, Scales = b.Scales,
                GIdx = a.GIdx, Bits = 4, GroupSize = gs, Sym = b.Sym, DescAct = true,
            };
            w[1] = GptqFormat.Dequantize((GptqLinear)parts[1]);
        }
        var fused = LinearFusion.Fuse(mem, new Kernels(ctx), parts, siluPairs: true);
        Assert.NotNull(fused);
        Assert.True(fused.SiluPairs);
        var x = Gpu.RoundHalf(Gpu.Random(new Random(), rows * inF));
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), act = mem.Alloc(2L * rows * ffn, "act"), y = mem.Alloc(4L * rows * 2 * ffn, "y");
        ulong scratch = mem.Alloc(Math.Max(256, fused.ScratchBytes(rows)), "scratch");
        var want = new double[rows * ffn];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < ffn; j++)
            {
                double g = 0, u = 0;
                for (int i = 0; i < inF; i++) { g += (double)x[r * inF + i] * w[0][j * inF + i]; u += (double)x[r * inF + i] * w[1][j * inF + i]; }
                want[r * ffn + j] = g / (1 + Math.Exp(-g)) * u;
            }
        ctx.ZeroAsync(act, 2L * rows * ffn);
        fused.ForwardSilu(xd, act, rows, scratch, y);
        var got = Gpu.Float(ctx.Download<ushort>(act, rows * ffn));
        Gpu.Close(got, want, 3e-3, $"gate/up silu rows {rows}");
    }

    [Fact]
    public void PartsWithDifferentGroupsAreNotFused()
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        LinearWeights[] parts = [TestTensors.Gptq(_rng, "a", 64, 128, 32, true, false, out _), TestTensors.Gptq(_rng, "b", 64, 128, 32, true, false, out _)];
        Assert.Null(LinearFusion.Fuse(mem, new Kernels(ctx), parts));
    }

    [Fact]
    public void UnevenGroupsFallBackToFp16()
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var layer = TestTensors.Gptq(_rng, "u", 32, 64, 16, false, true, out _);
        var gidx = (int[])layer.GIdx.Clone();
        for (int i = 0; i < 8; i++) gidx[i] = 1;      // group 1 gets 24 rows, group 0 only 8
        var uneven = new GptqLinear
        {
            Name = "u", InFeatures = 64, OutFeatures = 32, QWeight = layer.QWeight, QZeros = layer.QZeros, Scales = layer.Scales,
            GIdx = gidx, Bits = 4, GroupSize = 16, Sym = true, DescAct = true,
        };
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), uneven);
        Assert.False(lin.IsQuantized);
        Check(ctx, mem, lin, GptqFormat.Dequantize(uneven), 64, 32, 2, 3e-3);
    }

    static void Check(CudaContext ctx, DeviceArena mem, CudaLinear lin, float[] w, int inF, int outF, int rows, double tol)
    {
        var x = Gpu.RoundHalf(Gpu.Random(new Random(), rows * inF));
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Alloc(4L * rows * outF, "y");
        ulong scratch = mem.Alloc(Math.Max(256, lin.ScratchBytes(rows)), "scratch");
        lin.Forward(xd, y, rows, scratch);
        Gpu.Close(ctx.Download<float>(y, rows * outF), Product(x, w, rows, inF, outF), tol, $"linear {outF}x{inF} rows {rows}");
    }

    /// <summary>x [rows, inF] · wᵀ (w [outF, inF]) in float64.</summary>
    internal static double[] Product(float[] x, float[] w, int rows, int inF, int outF)
    {
        var want = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = 0;
                for (int i = 0; i < inF; i++) s += (double)x[r * inF + i] * w[o * inF + i];
                want[r * outF + o] = s;
            }
        return want;
    }
}
