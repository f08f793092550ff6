using Quanta.Cuda;
using Quanta.Engine;
using Quanta.Tests.Cpu;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Quanta.Cuda.Tests;

/// <summary>The GPU for a test, or a skip with the reason there is none; comparison helpers.</summary>
internal static class Gpu
{
    public static CudaContext Context()
    {
        var why = CudaContext.Unavailable();
        if (why is not null) Assert.Skip("no usable CUDA GPU: " + why);
        return CudaContext.Shared;
    }

    public static ushort[] Half(float[] f) => [.. f.Select(v => BitConverter.HalfToUInt16Bits((Half)v))];
    public static float[] Float(ushort[] h) => [.. h.Select(v => (float)BitConverter.UInt16BitsToHalf(v))];

    public static float[] Random(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Values rounded through fp16, as the GPU sees them.</summary>
    public static float[] RoundHalf(float[] f) => Float(Half(f));

    /// <summary>Asserts ‖got − want‖ / ‖want‖ ≤ tol and that nothing is NaN.</summary>
    public static void Close(ReadOnlySpan<float> got, ReadOnlySpan<double> want, double tol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++)
        {
            Assert.False(float.IsNaN(got[i]) || float.IsInfinity(got[i]), $"{what}: element {i} is {got[i]}");
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        double rel = Math.Sqrt(num / Math.Max(den, 1e-30));
        Assert.True(rel <= tol, $"{what}: relative error {rel:E2} > {tol:E1}");
    }

    /// <summary>A CUDA runner over the CPU test model's weights (block size 16), for comparing the two in one process.</summary>
    public static CudaModelRunner RunnerOver(CpuTestModel cpu, int blocks, CudaRunnerOptions? options = null)
        => new(cpu.Checkpoint.Config, cpu.Checkpoint.Weights, new KvCacheOptions(16, blocks), options);
}
