using System.Diagnostics;
using Quanta.Cuda;
using Quanta.Quantization;

namespace Quanta.Cuda.Tests;

/// <summary>
/// GPTQ and RTN on the GPU against Gptq.Quantize / Gptq.RoundToNearest on the same W and H. Both solve in fp64, so
/// codes should agree almost everywhere (a level flips only where a weight sits on a rounding boundary to ~1e-12, and
/// the flip then spreads along its row): ≥ 99% of codes, output error within 3% of the CPU's.
/// </summary>
public class QuantizeSolveTests
{
    /// <summary>Random W (fp32 values) and X with correlated columns of unequal scale; column <paramref name="dead"/> never active.</summary>
    static (double[] W, float[] X, int Tokens) Problem(int rows, int cols, int seed, int dead = -1)
    {
        var rng = new Random(seed);
        var w = Gpu.Random(rng, rows * cols).Select(v => (double)v).ToArray();
        int tokens = cols + 37;
        var z = Gpu.Random(rng, tokens * cols);
        var colScale = Enumerable.Range(0, cols).Select(_ => (float)(0.2 + 2 * rng.NextDouble())).ToArray();
        var x = new float[tokens * cols];
        for (int t = 0; t < tokens; t++)
            for (int c = 0; c < cols; c++)
                x[t * cols + c] = c == dead ? 0 : colScale[c] * (z[t * cols + c] + 0.6f * z[t * cols + (c + 1) % cols]);
        return (w, x, tokens);
    }

    static CudaHessian GpuHessian(CudaContext ctx, QuantKernels k, DeviceArena m, float[] x, int tokens, int cols)
    {
        var h = new CudaHessian(ctx, k, cols);
        h.Add(m.Upload<float>(x, "x"), tokens, m.Alloc(8L * x.Length, "scratch"));
        return h;
    }

    static double[] Delta(double[] w, QuantizedMatrix q)
    {
        var deq = q.Dequantize();
        return [.. w.Select((v, i) => v - deq[i])];
    }

    [Theory]
    [InlineData(70, 300, -1, false, true, false, false)]
    [InlineData(70, 300, 32, true, false, false, false)]
    [InlineData(70, 300, 128, false, true, false, false)]
    [InlineData(64, 300, 128, true, false, false, false)]
    [InlineData(33, 600, 256, true, true, false, false)]
    [InlineData(70, 300, 32, true, false, true, false)]
    [InlineData(40, 200, 64, false, false, false, true)]
    [InlineData(41, 130, 128, false, true, false, false)]
    [InlineData(16, 64, 128, true, false, false, false)]
    public void GptqMatchesCpu(int rows, int cols, int group, bool actOrder, bool sym, bool staticGroups, bool mse)
    {
        var ctx = Gpu.Context();
        var spec = new QuantSpec(4, group, sym, actOrder, 0.01, mse, staticGroups);
        var (w, x, tokens) = Problem(rows, cols, rows * cols + group, dead: 5);
        var cpuH = new Hessian(cols);
        cpuH.Add(x, tokens);
        var want = Gptq.Quantize(w, rows, cols, cpuH.Scaled(), spec);
        var k = new QuantKernels(ctx);
        using var m = new DeviceArena(ctx);
        using var gpuH = GpuHessian(ctx, k, m, x, tokens, cols);
        var solve = new CudaGptq(ctx, k);
        var got = solve.Gptq(gpuH, w, rows, cols, spec);

        Assert.Equal((want.Rows, want.Columns, want.GroupSize, want.Sym, want.DescAct), (got.Rows, got.Columns, got.GroupSize, got.Sym, got.DescAct));
        Assert.Equal(want.GIdx, got.GIdx);
        Assert.Equal(want.Scales.Length, got.Scales.Length);
        double agree = want.Q.Zip(got.Q).Count(p => p.First == p.Second) / (double)want.Q.Length;
        Assert.True(agree >= 0.99, $"codes agree for {agree:P2}");
        double cpuErr = cpuH.OutputError(Delta(w, want), rows), gpuErr = cpuH.OutputError(Delta(w, got), rows);
        Assert.True(Math.Abs(gpuErr - cpuErr) <= 0.03 * cpuErr, $"error gpu {gpuErr:G6} vs cpu {cpuErr:G6}");
        double rtnErr = cpuH.OutputError(Delta(w, Gptq.RoundToNearest(w, rows, cols, spec)), rows);
        Assert.True(gpuErr < rtnErr, $"gpu gptq {gpuErr:G6} >= rtn {rtnErr:G6}");
        double gpuMeasured = solve.OutputError(gpuH, Delta(w, got), rows);
        Assert.True(Math.Abs(gpuMeasured - gpuErr) <= 1e-9 * gpuErr, $"GPU output error {gpuMeasured:G12} vs CPU {gpuErr:G12}");
    }

    [Theory]
    [InlineData(70, 300, -1, true, false)]
    [InlineData(70, 300, 32, false, false)]
    [InlineData(33, 130, 128, true, false)]
    [InlineData(40, 200, 64, false, true)]
    public void RoundToNearestMatchesCpu(int rows, int cols, int group, bool sym, bool mse)
    {
        var ctx = Gpu.Context();
        var spec = new QuantSpec(4, group, sym, MseGrid: mse);
        var (w, _, _) = Problem(rows, cols, rows + cols);
        var want = Gptq.RoundToNearest(w, rows, cols, spec);
        var got = new CudaGptq(ctx, new QuantKernels(ctx)).RoundToNearest(w, rows, cols, spec);
        Assert.Equal(want.GIdx, got.GIdx);
        Assert.False(got.DescAct);
        if (!mse)
        {
            Assert.Equal(want.Q, got.Q);
            Assert.Equal(want.Scales, got.Scales);
            Assert.Equal(want.Zeros, got.Zeros);
            return;
        }
        double agree = want.Q.Zip(got.Q).Count(p => p.First == p.Second) / (double)want.Q.Length;
        Assert.True(agree >= 0.999, $"codes agree for {agree:P2}");      // pow() of the two runtimes may differ in the last ulp
    }

    /// <summary>A 7B down_proj ([4096, 11008], g128, act-order): the whole GPU solve, timed; no CPU comparison (too slow).</summary>
    [Fact]
    public void Gptq7BDownProjTimed()
    {
        var ctx = Gpu.Context();
        int rows = 4096, cols = 11008, tokens = 2048;
        var rng = new Random(1);
        var w = Gpu.Random(rng, rows * cols, 0.02f).Select(v => (double)v).ToArray();
        var x = Gpu.Random(rng, tokens * cols);
        var k = new QuantKernels(ctx);
        using var m = new DeviceArena(ctx);
        using var h = GpuHessian(ctx, k, m, x, tokens, cols);
        var solve = new CudaGptq(ctx, k);
        var spec = new QuantSpec(4, 128, true, true);
        solve.Gptq(h, w[..(64 * cols)], 64, cols, spec);                     // warm-up: compiles the kernels
        var sw = Stopwatch.StartNew();
        var q = solve.Gptq(h, w, rows, cols, spec);
        double total = sw.Elapsed.TotalSeconds;
        sw.Restart();
        using (var m2 = new DeviceArena(ctx))
        {
            solve.InverseFactor(m2, h.Sum, 2.0 / tokens, [.. Enumerable.Range(0, cols)], cols, 0.01);
            ctx.Synchronize();
        }
        double inverse = sw.Elapsed.TotalSeconds;
        double err = solve.OutputError(h, Delta(w, q), rows), rtn = solve.OutputError(h, Delta(w, solve.RoundToNearest(w, rows, cols, spec)), rows);
        TestContext.Current.TestOutputHelper?.WriteLine($"GPTQ [4096x11008] g128 act-order on {ctx.Name}: {total:F2} s (inverse factor {inverse:F2} s); error {err:G4} vs rtn {rtn:G4}");
        Assert.True(err < rtn, $"gptq {err:G4} >= rtn {rtn:G4}");
    }
}
