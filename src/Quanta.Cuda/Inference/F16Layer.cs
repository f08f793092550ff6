using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// The runner's steps of <see cref="CudaLayer"/>: x [T, hidden] f32 is the residual stream, every matmul takes f16
/// activations and accumulates in f32, K/V go into the paged cache. The runner runs it for each layer of a step.
/// </summary>
internal sealed class F16Layer(Kernels k, LlamaConfig c, BlasAttention blas, ulong invFreq, int blockSize)
{
    readonly Kernels _k = k;
    readonly LlamaConfig _c = c;
    readonly BlasAttention _blas = blas;
    readonly ulong _invFreq = invFreq;   // [head_dim/2] f64
    readonly int _blockSize = blockSize, _hidden = c.HiddenSize, _headDim = c.EffectiveHeadDim, _ffn = c.IntermediateSize;
    readonly int _qDim = c.NumHeads * c.EffectiveHeadDim, _kvDim = c.NumKvHeads * c.EffectiveHeadDim;

    /// <summary>
    /// Runs layer <paramref name="w"/> on s.X, the <paramref name="T"/> rows of the step <paramref name="m"/> indexes, writing
    /// their K/V into the layer's caches <paramref name="kc"/>, <paramref name="vc"/>; attention as <paramref name="plan"/>
    /// says; <paramref name="mark"/> names each phase as it is queued (profiling).
    /// </summary>
    public void Forward(CudaScratch s, CudaScratch.Meta m, int T, int maxb, AttentionPlan plan, CudaLayerWeights w, ulong kc, ulong vc,
                        Action<string>? mark = null)
        => CudaLayer.Forward(new Ops(this, s, m, T, maxb, plan, w, kc, vc, mark));

    /// <summary>
    /// One layer of one step: a struct, so the layer's calls are direct and the step allocates nothing. kc, vc
    /// [blocks*block_size, kv_dim] f16: the layer's K and V caches.
    /// </summary>
    struct Ops(F16Layer l, CudaScratch s, CudaScratch.Meta m, int T, int maxb, AttentionPlan plan, CudaLayerWeights w, ulong kc, ulong vc,
               Action<string>? mark) : ICudaLayerOps
    {
        readonly int _ld = l._qDim + 2 * l._kvDim;   // row stride of s.Qkv (q | k | v)
        CudaLinear.InputNorm? _attnNorm;              // the q/k/v kernel's own input norm, or null (s.Xn holds the normed x)

        public void AttnNorm()
        {
            float eps = l._c.RmsNormEps;
            // Where the q/k/v projection is one layer whose kernel norms its input itself, no rmsnorm launch.
            _attnNorm = w.Qkv is [var qkv] && qkv.TakesNorm(T)
                ? w.AttnNormHalf != 0 ? new(s.X, w.AttnNormHalf, eps, Half: true) : new(s.X, w.AttnNorm, eps)
                : null;
            if (_attnNorm is null) l._k.RmsNorm(s.X, w.AttnNorm, s.Xn, l._hidden, eps, T);
        }

        public readonly void Qkv()
        {
            int off = 0;
            foreach (var p in w.Qkv) { p.Forward(s.Xn, s.Qkv + 4UL * (ulong)off, T, s.Linear, _ld, norm: _attnNorm); off += p.Out; }
        }

        public readonly void RopeKv()
        {
            if (plan.RopeInAttention) return;
            bool gemms = plan.PromptStarts is not null;
            int q = l._qDim, kv = l._kvDim;
            l._k.RopeKv(s.Qkv, s.Qkv + 4UL * (ulong)q, s.Qkv + 4UL * (ulong)(q + kv), s.Qh, kc, vc, m.Pos, m.Slot, l._invFreq,
                l._c.NumHeads, l._c.NumKvHeads, l._headDim, (int)l._c.RopeStyle, T, _ld, gemms ? s.Kh : 0, gemms ? s.Vh : 0);
        }

        public readonly void Attention()
        {
            float scale = 1f / MathF.Sqrt(l._headDim);
            if (plan.PromptStarts is { } starts)
                for (int q = 0; q + 1 < starts.Length; q++)
                {
                    if (starts[q + 1] > starts[q])
                        l._blas.Run(s.Qh, s.Kh, s.Vh, s.Att, starts[q], starts[q + 1] - starts[q], s.AttS, s.AttP, scale);
                }
            else if (plan.NumTiles > 0)
                l._k.PrefillAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, m.Tiles, s.Att, l._c.NumHeads, l._c.NumKvHeads, l._headDim,
                    l._blockSize, maxb, scale, plan.NumTiles);
            else
                l._k.PagedAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, s.Att, s.Part, s.SplitsDone, l._c.NumHeads, l._c.NumKvHeads, l._headDim,
                    l._blockSize, maxb, scale, plan.Splits, T, plan.Warps,
                    plan.RopeInAttention ? new Kernels.DecodeRope(s.Qkv, _ld, m.Slot, l._invFreq, (int)l._c.RopeStyle) : null);
        }

        // o_proj and down_proj add straight into the residual stream x (no zeroing, no separate add).
        public readonly void OProj() => w.O.Forward(s.Att, s.X, T, s.Linear, accumulate: true);

        public readonly void FfnNorm() => l._k.RmsNorm(s.X, w.FfnNorm, s.Xn, l._hidden, l._c.RmsNormEps, T);

        public readonly void GateUpSilu()
        {
            int ffn = l._ffn;
            if (w.GateUp is [{ SiluPairs: true } gateUp]) gateUp.ForwardSilu(s.Xn, s.Act, T, s.Linear, s.GateUp);
            else
            {
                int off = 0;
                foreach (var p in w.GateUp) { p.Forward(s.Xn, s.GateUp + 4UL * (ulong)off, T, s.Linear, 2 * ffn); off += p.Out; }
                l._k.SiluMul(s.GateUp, s.GateUp + 4UL * (ulong)ffn, s.Act, ffn, 2 * ffn, T);
            }
        }

        public readonly void DownProj() => w.Down.Forward(s.Act, s.X, T, s.Linear, accumulate: true);

        /// <summary>The runner observes no linear input (its fused kernels may never write one).</summary>
        public readonly void Capture(LinearInput at) { }

        public readonly void Mark(string phase) => mark?.Invoke(phase);
    }
}
