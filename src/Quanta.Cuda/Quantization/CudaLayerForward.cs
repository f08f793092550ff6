using Quanta.Cuda.Native;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>
/// The fp32 calibration forward of one decoder layer on the GPU, the same computation as <see cref="DenseForward"/>:
/// cuBLAS fp32 GEMMs (no TF32), per-sample causal attention through batched GEMMs and a masked softmax kernel, and
/// hooks that add each linear input into a <see cref="CudaHessian"/>. The states of every sample stay on the GPU;
/// samples run in chunks of whole samples of at most <c>chunkTokens</c> tokens (one sample when longer).
/// </summary>
internal sealed unsafe class CudaLayerForward : IDisposable
{
    internal const string AttnNorm = "input_layernorm", FfnNorm = "post_attention_layernorm";
    static readonly string[] LinearNames =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    readonly CudaContext _ctx;
    readonly QuantKernels _k;
    readonly int _hidden, _heads, _kvHeads, _hd, _qw, _kw, _chunkBudget;
    readonly float _eps;
    readonly ulong _invFreq;                             // [hd/2] f32
    readonly Dictionary<string, ulong> _w = [];          // the layer's weights by name, HF layout f32 (linears [out, in])
    readonly List<(int S0, int S1, int T0, int Tokens)> _chunks = [];
    ulong _x;                                            // [all tokens, hidden] f32 calibration states
    int[] _starts = [], _lens = [];                      // per sample: first row in _x, tokens
    int _ffn, _chunk, _maxLen;
    ulong _xn, _h, _o;                                   // [chunk, hidden] f32
    ulong _q, _att;                                      // [chunk, qw] f32
    ulong _kk, _v;                                       // [chunk, kw] f32
    ulong _g, _u;                                        // [chunk, ffn] f32
    ulong _s;                                            // [heads, maxLen, maxLen] f32 attention scores
    ulong _x64;                                          // [chunk, max width] f64 Hessian input

    public CudaLayerForward(CudaContext ctx, QuantKernels k, LlamaConfig c, int chunkTokens)
    {
        (_ctx, _k) = (ctx, k);
        (_hidden, _heads, _kvHeads, _hd, _eps) = (c.HiddenSize, c.NumHeads, c.NumKvHeads, c.EffectiveHeadDim, c.RmsNormEps);
        (_qw, _kw, _chunkBudget) = (_heads * _hd, _kvHeads * _hd, Math.Max(1, chunkTokens));
        var inv = Array.ConvertAll(RotaryFrequencies.Inverse(c.RopeTheta, _hd, c.RopeScaling), f => (float)f);
        _invFreq = ctx.Upload<float>(inv, "RoPE frequencies");
    }

    /// <summary>States = the embeddings of <paramref name="samples"/>.</summary>
    public void Start(LoadedModel model, int[][] samples)
    {
        Plan([.. samples.Select(s => s.Length)]);
        var emb = new float[model.Weights.Embedding.ElementCount];             // [vocab, hidden]
        GptqFormat.ToFloat(model.Weights.Embedding, 0, emb);
        var row = new float[_maxLen * _hidden];                                 // one sample [tokens, hidden]
        for (int s = 0; s < samples.Length; s++)
        {
            for (int t = 0; t < _lens[s]; t++) emb.AsSpan(samples[s][t] * _hidden, _hidden).CopyTo(row.AsSpan(t * _hidden));
            SetState(s, row);
        }
    }

    /// <summary>States = <paramref name="states"/>, per sample [tokens, hidden] (tests).</summary>
    public void Start(float[][] states)
    {
        Plan([.. states.Select(s => s.Length / _hidden)]);
        for (int s = 0; s < states.Length; s++) SetState(s, states[s]);
    }

    void Plan(int[] lens)
    {
        if (_x != 0) throw new InvalidOperationException("calibration already started");
        _lens = lens;
        _starts = new int[lens.Length];
        long total = 0;
        for (int s = 0; s < lens.Length; s++) { _starts[s] = (int)total; total += lens[s]; }
        _maxLen = lens.DefaultIfEmpty(1).Max();
        for (int s0 = 0; s0 < lens.Length;)
        {
            int s1 = s0 + 1, tokens = lens[s0];
            while (s1 < lens.Length && tokens + lens[s1] <= _chunkBudget) tokens += lens[s1++];
            _chunks.Add((s0, s1, _starts[s0], tokens));
            _chunk = Math.Max(_chunk, tokens);
            s0 = s1;
        }
        _x = _ctx.Alloc(4L * Math.Max(1, total) * _hidden, "calibration states");
    }

    void SetState(int s, float[] x)
    {
        fixed (float* p = x) _ctx.UploadAsync(_x + 4UL * (ulong)((long)_starts[s] * _hidden), p, 4L * _lens[s] * _hidden);
    }

    /// <summary>The layer the forward runs (weights copied to the GPU).</summary>
    public void Load(DenseLayer layer, int ffn)
    {
        if (_xn == 0) Allocate(ffn);
        else if (ffn != _ffn) throw new ArgumentException($"FFN width {ffn} after {_ffn}");
        Upload(AttnNorm, layer.AttnNorm);
        Upload(FfnNorm, layer.FfnNorm);
        foreach (var name in LinearNames) Upload(name, ModelQuantizer.Field(layer, name));
    }

    /// <summary>Replaces the weights called <paramref name="name"/> (same size, in stream order).</summary>
    public void Upload(string name, float[] w)
    {
        if (!_w.TryGetValue(name, out var p)) _w[name] = p = _ctx.Alloc(4L * w.Length, name);
        fixed (float* s = w) _ctx.UploadAsync(p, s, 4L * w.Length);
    }

    /// <summary>
    /// Runs the layer on every chunk up to the input of <paramref name="stop"/>, adding the inputs of the linears in
    /// <paramref name="hooks"/> to their Hessians; with no stop the states become the layer's output.
    /// </summary>
    public void Run(IReadOnlyDictionary<LinearInput, CudaHessian>? hooks, LinearInput? stop)
    {
        foreach (var (s0, s1, t0, T) in _chunks)
        {
            ulong xc = _x + 4UL * (ulong)((long)t0 * _hidden);
            _k.RmsNorm(xc, _w[AttnNorm], _xn, _hidden, _eps, T);
            Hook(hooks, LinearInput.Attn, _xn, T);
            if (stop == LinearInput.Attn) continue;
            Linear(_xn, T, _hidden, "self_attn.q_proj", _q, _qw);
            Linear(_xn, T, _hidden, "self_attn.k_proj", _kk, _kw);
            Linear(_xn, T, _hidden, "self_attn.v_proj", _v, _kw);
            for (int s = s0; s < s1; s++) Attention(_starts[s] - t0, _lens[s]);
            Hook(hooks, LinearInput.O, _att, T);
            if (stop == LinearInput.O) continue;
            Linear(_att, T, _qw, "self_attn.o_proj", _o, _hidden);
            _k.Add(xc, _o, _h, (long)T * _hidden);
            _k.RmsNorm(_h, _w[FfnNorm], _xn, _hidden, _eps, T);
            Hook(hooks, LinearInput.Mlp, _xn, T);
            if (stop == LinearInput.Mlp) continue;
            Linear(_xn, T, _hidden, "mlp.gate_proj", _g, _ffn);
            Linear(_xn, T, _hidden, "mlp.up_proj", _u, _ffn);
            _k.SiluMul(_g, _u, (long)T * _ffn);
            Hook(hooks, LinearInput.Down, _g, T);
            if (stop == LinearInput.Down) continue;
            Linear(_g, T, _ffn, "mlp.down_proj", _o, _hidden);
            _k.Add(_h, _o, xc, (long)T * _hidden);
        }
    }

    /// <summary>The states of sample <paramref name="s"/> [tokens, hidden] (tests).</summary>
    public float[] State(int s)
    {
        var r = new float[_lens[s] * _hidden];
        _ctx.Synchronize();
        fixed (float* p = r) _ctx.Download(p, _x + 4UL * (ulong)((long)_starts[s] * _hidden), 4L * r.Length);
        return r;
    }

    /// <summary>Columns of the input of the linears at <paramref name="at"/>.</summary>
    public int Width(LinearInput at) => at switch { LinearInput.O => _qw, LinearInput.Down => _ffn, _ => _hidden };

    void Hook(IReadOnlyDictionary<LinearInput, CudaHessian>? hooks, LinearInput at, ulong x, int tokens)
    {
        if (hooks is not null && hooks.TryGetValue(at, out var h)) h.Add(x, tokens, _x64);
    }

    /// <summary>y [T, outDim] = x [T, inDim] · Wᵀ, W [outDim, inDim] row-major, fp32.</summary>
    void Linear(ulong x, int tokens, int inDim, string name, ulong y, int outDim)
    {
        float one = 1, zero = 0;
        Cublas.Check(Cublas.GemmEx(_ctx.Cublas, Cublas.OpT, Cublas.OpN, outDim, tokens, inDim, &one, _w[name], Cublas.R32F, inDim,
            x, Cublas.R32F, inDim, &zero, y, Cublas.R32F, outDim, Cublas.Compute32F, Cublas.GemmDefault), $"cublasGemmEx({name})");
    }

    /// <summary>RoPE and causal attention of one sample of <paramref name="len"/> tokens at chunk row <paramref name="tl"/>.</summary>
    void Attention(int tl, int len)
    {
        int g = _heads / _kvHeads, D = _hd;
        long ll = (long)len * len;
        ulong qs = _q + 4UL * (ulong)((long)tl * _qw), os = _att + 4UL * (ulong)((long)tl * _qw);
        ulong ks = _kk + 4UL * (ulong)((long)tl * _kw), vs = _v + 4UL * (ulong)((long)tl * _kw);
        _k.Rope(qs, _invFreq, _heads, D, len);
        _k.Rope(ks, _invFreq, _kvHeads, D, len);
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

    void Allocate(int ffn)
    {
        if (_chunk == 0) throw new InvalidOperationException("Start the calibration before loading a layer");
        _ffn = ffn;
        long c = _chunk;
        _xn = _ctx.Alloc(4 * c * _hidden, "calibration normed input");
        _h = _ctx.Alloc(4 * c * _hidden, "calibration residual");
        _o = _ctx.Alloc(4 * c * _hidden, "calibration projection");
        _q = _ctx.Alloc(4 * c * _qw, "calibration q");
        _att = _ctx.Alloc(4 * c * _qw, "calibration attention");
        _kk = _ctx.Alloc(4 * c * _kw, "calibration k");
        _v = _ctx.Alloc(4 * c * _kw, "calibration v");
        _g = _ctx.Alloc(4 * c * ffn, "calibration gate");
        _u = _ctx.Alloc(4 * c * ffn, "calibration up");
        _s = _ctx.Alloc(4L * _heads * _maxLen * _maxLen, "calibration scores");
        _x64 = _ctx.Alloc(8 * c * Math.Max(Math.Max(_hidden, _qw), ffn), "calibration fp64 inputs");
    }

    public void Dispose()
    {
        _ctx.Synchronize();
        foreach (var p in new[] { _x, _xn, _h, _o, _q, _att, _kk, _v, _g, _u, _s, _x64, _invFreq }.Concat(_w.Values)) _ctx.Free(p);
        _w.Clear();
        _x = 0;
    }
}
