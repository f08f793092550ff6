using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// One Llama decoder layer on the GPU: x += Wo · attention(RoPE(Wq · norm(x)), ...) over the paged KV cache, then
/// x += WDown · (silu(WGate · norm(x)) * WUp · norm(x)); x [T, hidden] f32 is the residual stream, every matmul takes f16
/// activations and accumulates in f32. The runner runs it for each layer of a step.
/// </summary>
internal sealed class CudaLayer(Kernels k, LlamaConfig c, BlasAttention blas, ulong invFreq, int blockSize)
{
    readonly int _hidden = c.HiddenSize, _headDim = c.EffectiveHeadDim, _ffn = c.IntermediateSize;
    readonly int _qDim = c.NumHeads * c.EffectiveHeadDim, _kvDim = c.NumKvHeads * c.EffectiveHeadDim;

    /// <summary>
    /// Runs layer <paramref name="w"/> on s.X, the <paramref name="T"/> rows of the step <paramref name="m"/> indexes, writing
    /// their K/V into the layer's caches <paramref name="kc"/>, <paramref name="vc"/>; attention as <paramref name="plan"/>
    /// says; <paramref name="mark"/> names each phase as it is queued (profiling).
    /// </summary>
    public void Forward(CudaScratch s, CudaScratch.Meta m, int T, int maxb, AttentionPlan plan, CudaLayerWeights w, ulong kc, ulong vc,
                        Action<string>? mark = null)
    {
        float eps = c.RmsNormEps, scale = 1f / MathF.Sqrt(_headDim);
        // Where the q/k/v projection is one layer whose kernel norms its input itself, no rmsnorm launch.
        CudaLinear.InputNorm? attnNorm = w.Qkv is [var qkv] && qkv.TakesNorm(T)
            ? w.AttnNormHalf != 0 ? new(s.X, w.AttnNormHalf, eps, Half: true) : new(s.X, w.AttnNorm, eps)
            : null;
        if (attnNorm is null) k.RmsNorm(s.X, w.AttnNorm, s.Xn, _hidden, eps, T);
        mark?.Invoke("norm");
        int ld = _qDim + 2 * _kvDim, off = 0;
        foreach (var p in w.Qkv) { p.Forward(s.Xn, s.Qkv + 4UL * (ulong)off, T, s.Linear, ld, norm: attnNorm); off += p.Out; }
        mark?.Invoke("qkv_proj");
        bool gemms = plan.PromptStarts is not null;
        if (!plan.RopeInAttention)
            k.RopeKv(s.Qkv, s.Qkv + 4UL * (ulong)_qDim, s.Qkv + 4UL * (ulong)(_qDim + _kvDim), s.Qh, kc, vc, m.Pos, m.Slot, invFreq,
                c.NumHeads, c.NumKvHeads, _headDim, (int)c.RopeStyle, T, ld, gemms ? s.Kh : 0, gemms ? s.Vh : 0);
        mark?.Invoke("rope_kv");
        if (plan.PromptStarts is { } starts)
            for (int q = 0; q + 1 < starts.Length; q++)
            {
                if (starts[q + 1] > starts[q])
                    blas.Run(s.Qh, s.Kh, s.Vh, s.Att, starts[q], starts[q + 1] - starts[q], s.AttS, s.AttP, scale);
            }
        else if (plan.NumTiles > 0)
            k.PrefillAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, m.Tiles, s.Att, c.NumHeads, c.NumKvHeads, _headDim,
                blockSize, maxb, scale, plan.NumTiles);
        else
            k.PagedAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, s.Att, s.Part, s.SplitsDone, c.NumHeads, c.NumKvHeads, _headDim,
                blockSize, maxb, scale, plan.Splits, T, plan.Warps,
                plan.RopeInAttention ? new Kernels.DecodeRope(s.Qkv, ld, m.Slot, invFreq, (int)c.RopeStyle) : null);
        mark?.Invoke("attention");
        // o_proj and down_proj add straight into the residual stream x (no zeroing, no separate add).
        w.O.Forward(s.Att, s.X, T, s.Linear, accumulate: true);
        mark?.Invoke("o_proj");
        k.RmsNorm(s.X, w.FfnNorm, s.Xn, _hidden, eps, T);
        mark?.Invoke("norm");
        if (w.GateUp is [{ SiluPairs: true } gateUp]) gateUp.ForwardSilu(s.Xn, s.Act, T, s.Linear, s.GateUp);
        else
        {
            off = 0;
            foreach (var p in w.GateUp) { p.Forward(s.Xn, s.GateUp + 4UL * (ulong)off, T, s.Linear, 2 * _ffn); off += p.Out; }
            k.SiluMul(s.GateUp, s.GateUp + 4UL * (ulong)_ffn, s.Act, _ffn, 2 * _ffn, T);
        }
        mark?.Invoke("gate_up_silu");
        w.Down.Forward(s.Act, s.X, T, s.Linear, accumulate: true);
        mark?.Invoke("down_proj");
    }
}
