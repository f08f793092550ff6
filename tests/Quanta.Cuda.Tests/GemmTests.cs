using Quanta.Cuda;
using Quanta.Model;
using Quanta.Tests.Cpu;

namespace Quanta.Cuda.Tests;

/// <summary>
/// The int4 GEMMs (gptq_gemm.cu; on Hopper gptq_wgmma.cu from <see cref="GemmPlanner.MinWgmmaRows"/>) against a float64 product
/// of the dequantised weights from <see cref="GemmPlanner.MinRows"/> rows to past the most the GEMM takes (where dequantise + cuBLAS runs): rows that are not a multiple of the tile, K not a multiple of the 64-input step, act-order, per-channel, symmetric and asymmetric
/// zero points, groups of 16 to 192 (scaled per weight or summed per group), split K, accumulation into y.
/// </summary>
public class GemmTests
{
    public static TheoryData<int, int, int, bool, bool, int> Cases => new()
    {
        { 256, 512, 128, false, true, GemmPlanner.MinRows },   // the fewest rows the GEMM takes
        { 200, 320, 64, false, false, 40 },      // out not a multiple of the 128-feature block, in % 64 != 0
        { 136, 1024, 128, true, true, 64 },      // act-order
        { 264, 336, 16, false, false, 65 },      // groups of 16 (scaled per weight), a second row block of one row
        { 520, 576, 192, false, false, 100 },    // groups of 3 k-steps
        { 128, 4096, -1, false, true, 127 },     // per channel, split K
        { 1000, 1024, 32, true, false, GemmPlanner.MaxRows },   // act-order, groups of 32, the most rows the GEMM takes
        { 64, 11008, 128, false, true, 96 },     // down_proj's K: one block of features, K split many ways
        { 4096, 256, 128, false, false, 128 },   // 32 feature blocks
        { 384, 512, 128, true, true, 200 },      // act-order: the 256-row wgmma block (dequantise + cuBLAS elsewhere)
        { 72, 320, 16, false, true, 300 },       // past the GEMM's rows, groups of 16
        { 200, 320, 64, false, false, 65 },      // the fewest rows a wgmma block takes, in % 64 != 0 (zeros past in)
        { 264, 336, 16, true, false, 129 },      // act-order, groups of 16, the fewest rows of the 256-row block
        { 128, 4096, -1, false, false, 160 },    // per channel, split K, asymmetric
        { 520, 576, 192, true, true, GemmPlanner.MaxWgmmaRows },   // act-order, groups of 3 k-steps, the most rows a wgmma GEMM takes
        { 64, 11008, 128, false, true, 257 },    // one row past the wgmma GEMM: dequantise + cuBLAS
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GemmMatchesFloat64Product(int outF, int inF, int gs, bool actOrder, bool sym, int rows)
    {
        var (ctx, mem, lin, w) = Layer(outF, inF, gs, actOrder, sym);
        using var _ = mem;
        var x = Gpu.RoundHalf(Gpu.Random(new Random(rows), rows * inF));
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Alloc(4L * rows * outF, "y");
        ulong scratch = mem.Alloc(Math.Max(256, lin.ScratchBytes(rows)), "scratch");
        lin.Forward(xd, y, rows, scratch);
        var got = ctx.Download<float>(y, rows * outF);
        var want = Product(x, w, rows, inF, outF);
        Gpu.Close(got, want, 3e-3, $"gemm {outF}x{inF} g{gs} rows {rows}");
        RowsClose(got, want, rows, outF, 1e-2, $"gemm {outF}x{inF} g{gs}");
    }

    /// <summary>With accumulate, y += the product: one split (plain adds) and split K (atomics).</summary>
    [Theory]
    [InlineData(512, 264, 40)]
    [InlineData(11008, 128, 96)]
    [InlineData(512, 264, 200)]
    [InlineData(4096, 520, 128)]
    public void AccumulateAddsIntoY(int inF, int outF, int rows)
    {
        var (ctx, mem, lin, w) = Layer(outF, inF, 128, false, true);
        using var _ = mem;
        var x = Gpu.RoundHalf(Gpu.Random(new Random(1), rows * inF));
        var y0 = Gpu.Random(new Random(2), rows * outF);
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Upload<float>(y0, "y");
        ulong scratch = mem.Alloc(Math.Max(256, lin.ScratchBytes(rows)), "scratch");
        lin.Forward(xd, y, rows, scratch, accumulate: true);
        var want = Product(x, w, rows, inF, outF);
        for (int i = 0; i < want.Length; i++) want[i] += y0[i];
        Gpu.Close(ctx.Download<float>(y, rows * outF), want, 3e-3, $"accumulate {outF}x{inF} rows {rows}");
    }

    /// <summary>y with a row stride wider than out (columns past out untouched), as the fused q/k/v output is read.</summary>
    [Theory]
    [InlineData(48)]
    [InlineData(100)]   // the wgmma block on Hopper
    public void StridedOutputLeavesOtherColumns(int rows)
    {
        const int outF = 144, inF = 256, ldy = 160;
        var (ctx, mem, lin, w) = Layer(outF, inF, 64, false, false);
        using var _ = mem;
        var x = Gpu.RoundHalf(Gpu.Random(new Random(3), rows * inF));
        var sentinel = Enumerable.Repeat(7f, rows * ldy).ToArray();
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Upload<float>(sentinel, "y");
        lin.Forward(xd, y, rows, mem.Alloc(Math.Max(256, lin.ScratchBytes(rows)), "scratch"), ldy);
        var got = ctx.Download<float>(y, rows * ldy);
        var want = Product(x, w, rows, inF, outF);
        var packed = new float[rows * outF];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(got, r * ldy, packed, r * outF, outF);
            for (int c = outF; c < ldy; c++) Assert.Equal(7f, got[r * ldy + c]);
        }
        Gpu.Close(packed, want, 3e-3, "strided gemm");
    }

    internal static (CudaContext, DeviceArena, CudaLinear, float[]) Layer(int outF, int inF, int gs, bool actOrder, bool sym)
    {
        var ctx = Gpu.Context();
        var mem = new DeviceArena(ctx);
        var layer = TestTensors.Gptq(new Random(outF * 31 + inF), "l", outF, inF, gs, actOrder, sym, out var w);
        var lin = CudaLinear.Upload(mem, new Kernels(ctx), layer);
        Assert.True(lin.IsQuantized);
        return (ctx, mem, lin, w);
    }

    /// <summary>Each row's relative error, so that a wrong block or row cannot hide in the whole product's norm.</summary>
    internal static void RowsClose(float[] got, double[] want, int rows, int outF, double tol, string what)
    {
        for (int r = 0; r < rows; r++)
            Gpu.Close(got.AsSpan(r * outF, outF), want.AsSpan(r * outF, outF), tol, $"{what} row {r}");
    }

    /// <summary>x [rows, inF] · wᵀ in float64, rows in parallel.</summary>
    internal static double[] Product(float[] x, float[] w, int rows, int inF, int outF)
    {
        var want = new double[rows * outF];
        Parallel.For(0, rows, r =>
        {
            for (int o = 0; o < outF; o++)
            {
                double s = 0;
                for (int i = 0; i < inF; i++) s += (double)x[r * inF + i] * w[o * inF + i];
                want[r * outF + o] = s;
            }
        });
        return want;
    }
}
