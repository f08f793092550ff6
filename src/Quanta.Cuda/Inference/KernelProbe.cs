using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// The runner's kernels, one launch at a time, for kernel benchmarks (Quanta.Bench): its linears, the other kernels of a
/// decode step and its one-row lm_head paths, on device buffers the caller allocates in <paramref name="mem"/>. Every
/// call queues work on the context's stream (time it with <see cref="DeviceTimer"/>); the runner itself never uses this.
/// </summary>
public sealed class KernelProbe(DeviceArena mem)
{
    readonly Kernels _k = new(mem.Ctx);

    /// <summary>The fused GPTQ kernels of module "gptq" (for <see cref="CudaContext.KernelResources"/>).</summary>
    public static IEnumerable<string> GptqKernels => GptqKernelName.All;

    /// <summary>Most split-K attention parts of a decode step.</summary>
    public const int MaxAttentionSplits = CudaScratch.MaxSplits;

    /// <summary>Split-K attention parts the runner takes for a step of <paramref name="tokens"/> over <paramref name="context"/> keys.</summary>
    public int AttentionSplits(int tokens, int heads, int context) => StepPlanner.AttentionSplits(mem.Ctx.Multiprocessors, tokens, heads, context);

    /// <summary>Warps per attention block the runner takes for a step of <paramref name="tokens"/>.</summary>
    public static int AttentionWarps(int tokens) => StepPlanner.AttentionWarps(tokens);

    /// <summary>A checkpoint linear (GPTQ or f16) uploaded as the runner holds it.</summary>
    public DeviceLinear Linear(LinearWeights w) => new(CudaLinear.Upload(mem, _k, w));

    /// <summary>An f16 linear over weights already on the device: <paramref name="weights"/> [outF, inF] f16.</summary>
    public DeviceLinear HalfLinear(int inF, int outF, ulong weights) => new(CudaLinear.Shared(mem, _k, inF, outF, weights));

    /// <summary>xn [rows, n] f16 = RMSNorm(x [rows, n] f32) · w [n] f32.</summary>
    public void RmsNorm(ulong x, ulong w, ulong xn, int n, float eps, int rows) => _k.RmsNorm(x, w, xn, n, eps, rows);

    /// <summary>RoPE of q and k (rows of qkv [tokens, ld] f32 at q, k, v), q heads to qh f16, k and v written to the paged caches at slot.</summary>
    public void RopeKv(ulong q, ulong k, ulong v, ulong qh, ulong kCache, ulong vCache, ulong pos, ulong slot, ulong invFreq,
        int heads, int kvHeads, int headDim, RopeStyle style, int tokens, int ld)
        => _k.RopeKv(q, k, v, qh, kCache, vCache, pos, slot, invFreq, heads, kvHeads, headDim, (int)style, tokens, ld);

    /// <summary>Paged decode attention of qh [tokens, heads, head_dim] f16 into output, split over <paramref name="splits"/> parts.</summary>
    public void PagedAttention(ulong qh, ulong kCache, ulong vCache, ulong seqOf, ulong pos, ulong tables, ulong output, ulong parts, ulong counters,
        int heads, int kvHeads, int headDim, int blockSize, int maxBlocks, float scale, int splits, int tokens, int warps)
        => _k.PagedAttention(qh, kCache, vCache, seqOf, pos, tables, output, parts, counters, heads, kvHeads, headDim, blockSize, maxBlocks,
            scale, splits, tokens, warps);

    /// <summary>act [rows, n] f16 = silu(gate) · up, gate and up rows of ld floats.</summary>
    public void SiluMul(ulong gate, ulong up, ulong act, int n, int ld, int rows) => _k.SiluMul(gate, up, act, n, ld, rows);

    /// <summary>The one-row lm_head paths over an f16 head (hidden a multiple of 8), or null where the kernel cannot take it.</summary>
    public LmHeadProbe? LmHead(DeviceLinear head) =>
        CudaLmHead.For(mem.Ctx, head.Layer) is { } h ? new LmHeadProbe(mem, head.Layer, h) : null;
}

/// <summary>A linear layer on the device as the runner holds it.</summary>
public sealed class DeviceLinear
{
    internal DeviceLinear(CudaLinear layer) => Layer = layer;

    internal CudaLinear Layer { get; }

    /// <summary>Input and output features.</summary>
    public int In => Layer.In;
    public int Out => Layer.Out;

    /// <summary>Bytes of its weights, scales and indices on the device (what one call reads).</summary>
    public long DeviceBytes => Layer.DeviceBytes;

    /// <summary>Scratch bytes a call of <paramref name="rows"/> rows needs.</summary>
    public long ScratchBytes(int rows) => Layer.ScratchBytes(rows);

    /// <summary>y [rows, out] f32 = x [rows, in] f16 · Wᵀ.</summary>
    public void Forward(ulong x, ulong y, int rows, ulong scratch) => Layer.Forward(x, y, rows, scratch);
}

/// <summary>
/// The runner's ways to compute one row's logits [vocab] f32 from x [hidden] f16: cuBLAS, cuBLAS and the greedy_rows
/// sampler, the lm_head kernel, and the kernel with its fused greedy choice.
/// </summary>
public sealed class LmHeadProbe : IDisposable
{
    readonly CudaLinear _lin;
    readonly CudaLmHead _head;
    readonly CudaSampler _sampler;
    readonly CudaLmHead.Greedy _greedy;

    internal LmHeadProbe(DeviceArena mem, CudaLinear lin, CudaLmHead head)
    {
        (_lin, _head, _sampler) = (lin, head, new CudaSampler(mem));
        _sampler.Write([new RowSampling(true, 1f, 0, 1f, 0)], lin.Out);
        _greedy = _sampler.FusedGreedy(0, 1, head.Blocks) ?? throw new InvalidOperationException("a greedy row expected");
    }

    public void Cublas(ulong x, ulong logits) => _lin.Forward(x, logits, 1, 0);

    public void CublasGreedy(ulong x, ulong logits)
    {
        _lin.Forward(x, logits, 1, 0);
        _sampler.Launch(logits, _lin.Out, 0, 1);
    }

    public void Kernel(ulong x, ulong logits) => _head.Forward(x, logits);

    public void KernelGreedy(ulong x, ulong logits) => _head.Forward(x, logits, _greedy);

    public void Dispose() => _sampler.Dispose();
}
