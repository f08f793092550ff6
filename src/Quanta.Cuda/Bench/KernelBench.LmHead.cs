using Quanta.Engine;

namespace Quanta.Cuda;

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
        var k = new Kernels(ctx);
        using var mem = new DeviceArena(ctx);
        var rng = new Random(11);
        var w = new Half[(long)vocab * hidden];
        uint s = 12345;
        for (long i = 0; i < w.Length; i++) { s = s * 1664525 + 1013904223; w[i] = (Half)(((s >> 8) / (float)(1 << 24) - 0.5f) * 0.05f); }
        var x = new Half[hidden];
        for (int i = 0; i < x.Length; i++) x[i] = (Half)(rng.NextDouble() * 2 - 1);
        ulong wd = mem.Upload<Half>(w, "lm_head"), xd = mem.Upload<Half>(x, "x"), yd = mem.Alloc(4L * vocab, "logits");
        ulong y2 = mem.Alloc(4L * vocab, "logits (kernel)");
        var lin = CudaLinear.Shared(mem, k, hidden, vocab, wd);
        var head = CudaLmHead.For(ctx, lin) ?? throw new ArgumentException($"hidden {hidden}: the lm_head kernel needs a multiple of 8");
        using var sampler = new CudaSampler(mem);
        sampler.Write([new RowSampling(true, 1f, 0, 1f, 0)], vocab);
        var g = sampler.FusedGreedy(0, 1, head.Blocks) ?? throw new InvalidOperationException("a greedy row expected");
        double cublas = Time(ctx, () => lin.Forward(xd, yd, 1, 0), calls);
        double cublasGreedy = Time(ctx, () => { lin.Forward(xd, yd, 1, 0); sampler.Launch(yd, vocab, 0, 1); }, calls);
        double kernel = Time(ctx, () => head.Forward(xd, y2), calls);
        double kernelGreedy = Time(ctx, () => head.Forward(xd, y2, g), calls);
        ctx.Synchronize();
        float[] a = ctx.Download<float>(yd, vocab), b = ctx.Download<float>(y2, vocab);
        double diff = 0;
        for (int i = 0; i < a.Length; i++) diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
        return new LmHeadTiming(vocab, hidden, cublas, cublasGreedy, kernel, kernelGreedy, diff);
    }
}
