using Quanta.Cuda;

namespace Quanta.Bench.Kernels;

/// <summary>One timed one-row lm_head: cuBLAS and the lm_head kernel, each alone and with the greedy choice, µs per call.</summary>
public sealed record LmHeadTiming(int Vocab, int Hidden, double Cublas, double CublasGreedy, double Kernel, double KernelGreedy, double MaxDiff);

public static partial class KernelBench
{
    /// <summary>
    /// An f16 head of random weights and one row: cuBLAS, cuBLAS + greedy_rows, the lm_head kernel, and the kernel with its
    /// fused greedy choice; MaxDiff is the largest |kernel - cuBLAS| logit. Back-to-back calls in a graph: the kernel's
    /// first loads overlap the call before (as they overlap the final norm in a decode step), cuBLAS's do not.
    /// </summary>
    public static LmHeadTiming LmHead(int vocab, int hidden, int calls = 50)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        using var mem = new DeviceArena(ctx);
        var probe = new KernelProbe(mem);
        var rng = new Random(11);
        var w = new Half[(long)vocab * hidden];                                 // [vocab, hidden]
        uint s = 12345;
        for (long i = 0; i < w.Length; i++) { s = s * 1664525 + 1013904223; w[i] = (Half)(((s >> 8) / (float)(1 << 24) - 0.5f) * 0.05f); }
        var x = new Half[hidden];
        for (int i = 0; i < x.Length; i++) x[i] = (Half)(rng.NextDouble() * 2 - 1);
        ulong wd = mem.Upload<Half>(w, "lm_head"), xd = mem.Upload<Half>(x, "x");
        ulong yd = mem.Alloc(4L * vocab, "logits"), y2 = mem.Alloc(4L * vocab, "logits (kernel)");  // [vocab] f32 each
        using var head = probe.LmHead(probe.HalfLinear(hidden, vocab, wd))
            ?? throw new ArgumentException($"hidden {hidden}: the lm_head kernel needs a multiple of 8");
        double Time(Action call) => DeviceTimer.GraphMicroseconds(ctx, call, calls);
        double cublas = Time(() => head.Cublas(xd, yd));
        double cublasGreedy = Time(() => head.CublasGreedy(xd, yd));
        double kernel = Time(() => head.Kernel(xd, y2));
        double kernelGreedy = Time(() => head.KernelGreedy(xd, y2));
        ctx.Synchronize();
        float[] a = ctx.Download<float>(yd, vocab), b = ctx.Download<float>(y2, vocab);
        double diff = 0;
        for (int i = 0; i < a.Length; i++) diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
        return new LmHeadTiming(vocab, hidden, cublas, cublasGreedy, kernel, kernelGreedy, diff);
    }
}
