using Quanta.Cuda;
using Quanta.Model;

namespace Quanta.Bench.Kernels;

public static partial class KernelBench
{
    /// <summary>
    /// Device µs per call of the other kernels of one decode step at batch 1 (residual + RMSNorm, RoPE + KV write,
    /// paged attention over <paramref name="context"/> keys with its split merge, SiLU × up) for a model's shapes.
    /// </summary>
    public static IEnumerable<(string Name, double Microseconds)> DecodeOps(LlamaConfig c, int context, int calls = 100)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        using var mem = new DeviceArena(ctx);
        var k = new KernelProbe(mem);
        int h = c.HiddenSize, hd = c.EffectiveHeadDim, H = c.NumHeads, KH = c.NumKvHeads, ffn = c.IntermediateSize, bs = 16;
        int qkv = (H + 2 * KH) * hd, maxb = (context + bs - 1) / bs;
        ulong Zeros(long bytes, string what) { ulong p = mem.Alloc(bytes, what); ctx.ZeroAsync(p, bytes); return p; }
        ulong x = Zeros(4L * h, "x"), w = Zeros(4L * h, "w"), xn = Zeros(2L * h, "xn");                   // [hidden] f32, f32, f16
        ulong q = Zeros(4L * qkv, "qkv"), qh = Zeros(2L * H * hd, "qh"), att = Zeros(2L * H * hd, "att");  // [qkv] f32, [heads, hd] f16 x2
        ulong kc = Zeros(2L * maxb * bs * KH * hd, "k cache"), vc = Zeros(2L * maxb * bs * KH * hd, "v cache"); // [blocks, 16, kv heads, hd] f16
        ulong gu = Zeros(8L * ffn, "gate_up"), act = Zeros(2L * ffn, "act");                               // [2, ffn] f32, [ffn] f16
        ulong pos = mem.Upload<int>([context - 1], "pos"), slot = mem.Upload<int>([context - 1], "slot"), seq = mem.Upload<int>([0], "seq_of");
        ulong tables = mem.Upload<int>([.. Enumerable.Range(0, maxb)], "tables");
        ulong inv = mem.Upload<double>(RotaryFrequencies.Inverse(c.RopeTheta, hd, c.RopeScaling), "inv_freq");
        int splits = k.AttentionSplits(1, H, context);
        ulong part = Zeros(4L * H * KernelProbe.MaxAttentionSplits * (hd + 2), "part"), done = Zeros(4L * H, "split counters");
        float eps = 1e-5f, scale = 1f / MathF.Sqrt(hd);
        double Time(Action call) => DeviceTimer.GraphMicroseconds(ctx, call, calls);
        yield return ("rmsnorm", Time(() => k.RmsNorm(x, w, xn, h, eps, 1)));
        yield return ("rope_kv", Time(() => k.RopeKv(q, q + 4UL * (ulong)(H * hd), q + 4UL * (ulong)((H + KH) * hd), qh, kc, vc, pos, slot, inv,
            H, KH, hd, c.RopeStyle, 1, qkv)));
        foreach (int sp in new[] { 1, 2, 4, 8, 16 }.Where(n => n <= splits * 2 && n <= context / 8).Append(splits).Distinct().Order())
            foreach (int warps in new[] { 4, 8 })
                yield return ($"paged_attention ({context} keys, {sp} splits, {warps} warps{(sp == splits && warps == KernelProbe.AttentionWarps(1) ? ", the runner's choice" : "")})",
                    Time(() => k.PagedAttention(qh, kc, vc, seq, pos, tables, att, part, done, H, KH, hd, bs, maxb, scale, sp, 1, warps)));
        yield return ("silu_mul", Time(() => k.SiluMul(gu, gu + 4UL * (ulong)ffn, act, ffn, 2 * ffn, 1)));
    }
}
