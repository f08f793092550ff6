using Quanta.Cuda;
using Quanta.Tests.Cpu;

namespace Quanta.Cuda.Tests;

/// <summary>
/// The fused GPTQ kernel that RMSNorms its own input (decode q/k/v without an rmsnorm launch) against a float64 reference
/// of rmsnorm then the product, and against the rmsnorm kernel followed by the plain kernel.
/// </summary>
public class NormedLinearTests
{
    readonly Random _rng = new();
    const float Eps = 1e-5f;

    /// <summary>Residual rows with a few large features (as real residual streams have) and norm weights around 1.</summary>
    (float[] X, float[] W) Inputs(int rows, int inF)
    {
        var x = Gpu.Random(_rng, rows * inF, 3f);
        for (int i = 0; i < x.Length; i += 97) x[i] *= 40f;
        var w = Gpu.RoundHalf(Array.ConvertAll(Gpu.Random(_rng, inF, 0.3f), v => 1f + v));   // exact in f16 for the _normh kernel
        return (x, w);
    }

    /// <summary>rmsnorm(x) * w rounded to f16, as the kernels compute it (float32 scale, then one rounding).</summary>
    static float[] Normed(float[] x, float[] w, int rows, int inF)
    {
        var xn = new float[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int i = 0; i < inF; i++) ss += (double)x[r * inF + i] * x[r * inF + i];
            float rs = 1f / MathF.Sqrt((float)(ss / inF) + Eps);
            for (int i = 0; i < inF; i++) xn[r * inF + i] = (float)(Half)(x[r * inF + i] * rs * w[i]);
        }
        return xn;
    }

    [Theory]
    [InlineData(12288, 4096, 128, 1)]   // 7B's q/k/v
    [InlineData(24576, 1024, 128, 3)]
    [InlineData(49152, 512, 64, 8)]
    [InlineData(32768, 2048, 128, 2)]
    public void NormedKernelMatchesRmsNormThenProduct(int outF, int inF, int gs, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var k = new Kernels(ctx);
        var lin = CudaLinear.Upload(mem, k, TestTensors.Gptq(_rng, "l", outF, inF, gs, false, false, out var wq));
        // Layers too large for one wave of the whole-slice kernel (which does not norm) take the normed pair kernel.
        {
            Assert.True(lin.TakesNorm(rows), $"{outF}x{inF} at {rows} rows takes the normed kernel");
            var (x, nw) = Inputs(rows, inF);
            var xn = Normed(x, nw, rows, inF);
            ulong xd = mem.Upload<float>(x, "x"), wd = mem.Upload<float>(nw, "w"), wh = mem.Upload<ushort>(Gpu.Half(nw), "w16");
            ulong xnd = mem.Alloc(2L * rows * inF, "xn"), y = mem.Alloc(4L * rows * outF, "y"), y0 = mem.Alloc(4L * rows * outF, "y0");
            ulong scratch = mem.Alloc(256, "scratch");
            k.RmsNorm(xd, wd, xnd, inF, Eps, rows);
            lin.Forward(xnd, y0, rows, scratch);
            var want = LinearTests.Product(xn, wq, rows, inF, outF);
            var plain = Array.ConvertAll(ctx.Download<float>(y0, rows * outF), v => (double)v);
            foreach (bool half in new[] { false, true })
            {
                ctx.ZeroAsync(y, 4L * rows * outF);
                lin.Forward(0, y, rows, scratch, norm: new CudaLinear.InputNorm(xd, half ? wh : wd, Eps, half));
                var got = ctx.Download<float>(y, rows * outF);
                Gpu.Close(got, want, 1e-3, $"normed {outF}x{inF} rows {rows}, w {(half ? "f16" : "f32")}");
                Gpu.Close(got, plain, 1e-3, $"normed (w {(half ? "f16" : "f32")}) against rmsnorm + kernel");
            }
        }
    }
}
