using Quanta.Cuda.Native;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>
/// The quantizer's calibration steps of <see cref="CudaLayer"/>, the same computation as <see cref="DenseForward"/>: fp32
/// throughout (rounding the linear inputs to f16 changes GPTQ's codes), cuBLAS fp32 GEMMs (no TF32), per-sample causal
/// attention through batched GEMMs and a masked softmax kernel, and a capture that adds each linear input into its
/// <see cref="CudaHessian"/>. Owns the activation buffers of one chunk of samples.
/// </summary>
internal sealed unsafe class Fp32Layer : IDisposable
{
    readonly CudaContext _ctx;
    readonly QuantKernels _k;
    readonly IReadOnlyDictionary<string, ulong> _w;     // the layer's weights by name, HF layout f32 (linears [out, in])
    readonly int _hidden, _heads, _kvHeads, _hd, _qw, _kw, _ffn;
    readonly float _eps;
    readonly ulong _invFreq;                             // [hd/2] f32
    readonly ulong _xn, _h, _o;                          // [chunk, hidden] f32
    readonly ulong _q, _att;                             // [chunk, qw] f32
    readonly ulong _kk, _v;                              // [chunk, kw] f32
    readonly ulong _g, _u;                               // [chunk, ffn] f32
    readonly ulong _s;                                   // [heads, maxLen, maxLen] f32 attention scores
    readonly ulong _x64;                                 // [chunk, max width] f64 Hessian input

    /// <summary>Buffers for chunks of up to <paramref name="chunk"/> tokens, samples of up to <paramref name="maxLen"/>.</summary>
    public Fp32Layer(CudaContext ctx, QuantKernels k, LlamaConfig c, int ffn, IReadOnlyDictionary<string, ulong> weights, int chunk, int maxLen)
    {
        (_ctx, _k, _w, _ffn) = (ctx, k, weights, ffn);
        (_hidden, _heads, _kvHeads, _hd, _eps) = (c.HiddenSize, c.NumHeads, c.NumKvHeads, c.EffectiveHeadDim, c.RmsNormEps);
        (_qw, _kw) = (_heads * _hd, _kvHeads * _hd);
        var inv = Array.ConvertAll(RotaryFrequencies.Inverse(c.RopeTheta, _hd, c.RopeScaling), f => (float)f);
        _invFreq = ctx.Upload<float>(inv, "RoPE frequencies");
        long n = chunk;
        _xn = ctx.Alloc(4 * n * _hidden, "calibration normed input");
        _h = ctx.Alloc(4 * n * _hidden, "calibration residual");
        _o = ctx.Alloc(4 * n * _hidden, "calibration projection");
        _q = ctx.Alloc(4 * n * _qw, "calibration q");
        _att = ctx.Alloc(4 * n * _qw, "calibration attention");
        _kk = ctx.Alloc(4 * n * _kw, "calibration k");
        _v = ctx.Alloc(4 * n * _kw, "calibration v");
        _g = ctx.Alloc(4 * n * ffn, "calibration gate");
        _u = ctx.Alloc(4 * n * ffn, "calibration up");
        _s = ctx.Alloc(4L * _heads * maxLen * maxLen, "calibration scores");
        _x64 = ctx.Alloc(8 * n * Math.Max(Math.Max(_hidden, _qw), ffn), "calibration fp64 inputs");
    }

    /// <summary>FFN width of the buffers.</summary>
    public int Ffn => _ffn;

    /// <summary>
    /// Runs the layer on x [tokens, hidden] f32, whole samples at (first row, length) <paramref name="samples"/>, up to the
    /// input of <paramref name="stop"/>, adding the inputs of the linears in <paramref name="hooks"/> to their Hessians. With no
    /// stop x becomes the layer's output; with one x is unchanged (the residual after attention is a buffer of its own).
    /// </summary>
    public void Forward(ulong x, int tokens, (int Row, int Len)[] samples, IReadOnlyDictionary<LinearInput, CudaHessian>? hooks,
                        LinearInput? stop)
        => CudaLayer.Forward(new Ops(this, x, tokens, samples, hooks), stop);

    /// <summary>One chunk's steps on x [T, hidden] f32: h = x + o_proj, then x = h + down_proj.</summary>
    readonly struct Ops(Fp32Layer l, ulong x, int T, (int Row, int Len)[] samples, IReadOnlyDictionary<LinearInput, CudaHessian>? hooks)
        : ICudaLayerOps
    {
        public void AttnNorm() => l._k.RmsNorm(x, l._w[CudaLayerForward.AttnNorm], l._xn, l._hidden, l._eps, T);

        public void Qkv()
        {
            l.Linear(l._xn, T, l._hidden, "self_attn.q_proj", l._q, l._qw);
            l.Linear(l._xn, T, l._hidden, "self_attn.k_proj", l._kk, l._kw);
            l.Linear(l._xn, T, l._hidden, "self_attn.v_proj", l._v, l._kw);
        }

        // Positions restart at 0 in each sample.
        public void RopeKv()
        {
            foreach (var (row, len) in samples)
            {
                l._k.Rope(l._q + 4UL * (ulong)((long)row * l._qw), l._invFreq, l._heads, l._hd, len);
                l._k.Rope(l._kk + 4UL * (ulong)((long)row * l._kw), l._invFreq, l._kvHeads, l._hd, len);
            }
        }

        public void Attention() { foreach (var (row, len) in samples) l.Attention(row, len); }

        public void OProj()
        {
            l.Linear(l._att, T, l._qw, "self_attn.o_proj", l._o, l._hidden);
            l._k.Add(x, l._o, l._h, (long)T * l._hidden);
        }

        public void FfnNorm() => l._k.RmsNorm(l._h, l._w[CudaLayerForward.FfnNorm], l._xn, l._hidden, l._eps, T);

        public void GateUpSilu()
        {
            l.Linear(l._xn, T, l._hidden, "mlp.gate_proj", l._g, l._ffn);
            l.Linear(l._xn, T, l._hidden, "mlp.up_proj", l._u, l._ffn);
            l._k.SiluMul(l._g, l._u, (long)T * l._ffn);
        }

        public void DownProj()
        {
            l.Linear(l._g, T, l._ffn, "mlp.down_proj", l._o, l._hidden);
            l._k.Add(l._h, l._o, x, (long)T * l._hidden);
        }

        public void Capture(LinearInput at)
        {
            if (hooks is null || !hooks.TryGetValue(at, out var h)) return;
            ulong input = at switch { LinearInput.Attn or LinearInput.Mlp => l._xn, LinearInput.O => l._att, _ => l._g };
            h.Add(input, T, l._x64);
        }

        public void Mark(string phase) { }
    }

    /// <summary>y [T, outDim] = x [T, inDim] · Wᵀ, W [outDim, inDim] row-major, fp32.</summary>
    void Linear(ulong x, int tokens, int inDim, string name, ulong y, int outDim)
    {
        float one = 1, zero = 0;
        Cublas.Check(Cublas.GemmEx(_ctx.Cublas, Cublas.OpT, Cublas.OpN, outDim, tokens, inDim, &one, _w[name], Cublas.R32F, inDim,
            x, Cublas.R32F, inDim, &zero, y, Cublas.R32F, outDim, Cublas.Compute32F, Cublas.GemmDefault), $"cublasGemmEx({name})");
    }

    /// <summary>Causal attention of one sample of <paramref name="len"/> rotated tokens at chunk row <paramref name="tl"/>.</summary>
    void Attention(int tl, int len)
    {
        int g = _heads / _kvHeads, D = _hd;
        long ll = (long)len * len;
        ulong qs = _q + 4UL * (ulong)((long)tl * _qw), os = _att + 4UL * (ulong)((long)tl * _qw);
        ulong ks = _kk + 4UL * (ulong)((long)tl * _kw), vs = _v + 4UL * (ulong)((long)tl * _kw);
        float scale = 1f / MathF.Sqrt(D), one = 1f, zero = 0f;
        for (int j = 0; j < g; j++)                      // query heads kvh·g + j, batched over KV heads
            Cublas.Check(Cublas.GemmStridedBatchedEx(_ctx.Cublas, Cublas.OpT, Cublas.OpN, len, len, D, &scale,
                ks, Cublas.R32F, _kw, D, qs + 4UL * (ulong)(j * D), Cublas.R32F, _qw, (long)g * D, &zero,
                _s + 4UL * (ulong)(j * ll), Cublas.R32F, len, g * ll, _kvHeads, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmStridedBatchedEx(Q·Kᵀ)");
        _k.CausalSoftmax(_s, len, _heads);
        for (int j = 0; j < g; j++)
            Cublas.Check(Cublas.GemmStridedBatchedEx(_ctx.Cublas, Cublas.OpN, Cublas.OpN, D, len, len, &one,
                vs, Cublas.R32F, _kw, D, _s + 4UL * (ulong)(j * ll), Cublas.R32F, len, g * ll, &zero,
                os + 4UL * (ulong)(j * D), Cublas.R32F, _qw, (long)g * D, _kvHeads, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmStridedBatchedEx(P·V)");
    }

    public void Dispose()
    {
        _ctx.Synchronize();
        foreach (var p in new[] { _xn, _h, _o, _q, _att, _kk, _v, _g, _u, _s, _x64, _invFreq }) _ctx.Free(p);
    }
}
