using Quanta.Engine;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>
/// The quantizer's calibration forward on the GPU: one decoder layer over every calibration sample, run by the runner's
/// own <see cref="CudaLayer"/> (f16 activations into f16 matmuls, f32 accumulation and residual stream, as AutoGPTQ
/// calibrates) with a capture that adds each linear input into a <see cref="CudaHessian"/>. The states of every sample
/// stay on the GPU in f32; samples run in chunks of whole samples of at most <c>chunkTokens</c> tokens (one sample when
/// longer), each chunk a step of fresh prompts over a one-layer KV cache. The weights are the quantizer's fp32 arrays of a
/// <see cref="DenseLayer"/> (rotate-half q/k rows, padded FFN) uploaded as f16.
/// </summary>
internal sealed unsafe class CudaCalibration : IDisposable
{
    const int BlockSize = 16;
    const string AttnNorm = "input_layernorm", FfnNorm = "post_attention_layernorm";
    static readonly string[] LinearNames =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    readonly CudaContext _ctx;
    readonly DeviceArena _mem;
    readonly Kernels _k;
    readonly LlamaConfig _config;
    readonly int _hidden, _qDim, _kvDim, _chunkBudget;
    readonly ulong _invFreq;                             // [head_dim/2] f64
    readonly List<Chunk> _chunks = [];
    ulong _x;                                            // [all tokens, hidden] f32 calibration states
    int[] _starts = [], _lens = [];                      // per sample: first row in _x, tokens
    int _ffn, _chunkTokens, _chunkBlocks;
    CudaLayer? _layer;                                   // over a config of the padded FFN width, rotate-half RoPE
    CudaScratch? _s;                                     // activations of one chunk
    StepPlanner? _planner;
    ulong _kCache, _vCache;                              // [chunk blocks * 16, kv_dim] f16, one layer
    ulong _x64;                                          // [chunk, max width] f64 Hessian input
    readonly Dictionary<string, ulong> _w = [];          // the layer's weights by name: norms [hidden] f32, linears [out, in] f16
    CudaLayerWeights? _weights;

    /// <summary>One step of whole samples S0..S1-1, starting at row T0 of the states, and its batch (blocks from 0).</summary>
    sealed record Chunk(int S0, int S1, int T0, int Tokens, ForwardBatch Batch);

    public CudaCalibration(CudaContext ctx, LlamaConfig c, int chunkTokens)
    {
        CudaLayer.CheckShape(c);
        _ctx = ctx;
        _mem = new DeviceArena(ctx);
        _k = new Kernels(ctx);
        _config = c with { RopeStyle = RopeStyle.RotateHalf };
        (_hidden, _qDim, _kvDim) = (c.HiddenSize, c.NumHeads * c.EffectiveHeadDim, c.NumKvHeads * c.EffectiveHeadDim);
        _chunkBudget = Math.Max(1, chunkTokens);
        _invFreq = _mem.Upload<double>(RotaryFrequencies.Inverse(c.RopeTheta, c.EffectiveHeadDim, c.RopeScaling), "RoPE frequencies");
    }

    /// <summary>States = the embeddings of <paramref name="samples"/>.</summary>
    public void Start(LoadedModel model, int[][] samples)
    {
        Plan([.. samples.Select(s => s.Length)]);
        var emb = new float[model.Weights.Embedding.ElementCount];             // [vocab, hidden]
        GptqFormat.ToFloat(model.Weights.Embedding, 0, emb);
        var row = new float[_lens.DefaultIfEmpty(0).Max() * _hidden];           // one sample [tokens, hidden]
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
        for (int s0 = 0; s0 < lens.Length;)
        {
            int s1 = s0 + 1, tokens = lens[s0];
            while (s1 < lens.Length && tokens + lens[s1] <= _chunkBudget) tokens += lens[s1++];
            var seqs = new SeqTokens[s1 - s0];
            int blocks = 0;
            for (int s = s0; s < s1; s++)
            {
                int n = (lens[s] + BlockSize - 1) / BlockSize;
                seqs[s - s0] = new SeqTokens([.. Enumerable.Range(blocks, n)], 0, new int[lens[s]]);
                blocks += n;
            }
            _chunks.Add(new Chunk(s0, s1, _starts[s0], tokens, ForwardBatch.Of(BlockSize, seqs)));
            (_chunkTokens, _chunkBlocks) = (Math.Max(_chunkTokens, tokens), Math.Max(_chunkBlocks, blocks));
            s0 = s1;
        }
        _x = _mem.Alloc(4L * Math.Max(1, total) * _hidden, "calibration states");
    }

    void SetState(int s, float[] x)
    {
        fixed (float* p = x) _ctx.UploadAsync(_x + 4UL * (ulong)((long)_starts[s] * _hidden), p, 4L * _lens[s] * _hidden);
    }

    /// <summary>The layer the forward runs (weights copied to the GPU).</summary>
    public void Load(DenseLayer layer, int ffn)
    {
        if (_layer is null) Allocate(ffn);
        else if (ffn != _ffn) throw new ArgumentException($"FFN width {ffn} after {_ffn}");
        Upload(AttnNorm, layer.AttnNorm);
        Upload(FfnNorm, layer.FfnNorm);
        foreach (var name in LinearNames) Upload(name, ModelQuantizer.Field(layer, name));
        if (_weights is null)
        {
            CudaLinear L(string name, int inF, int outF) => CudaLinear.Shared(_mem, _k, inF, outF, _w[name]);
            _weights = new CudaLayerWeights(_w[AttnNorm], 0, _w[FfnNorm],
                [L("self_attn.q_proj", _hidden, _qDim), L("self_attn.k_proj", _hidden, _kvDim), L("self_attn.v_proj", _hidden, _kvDim)],
                L("self_attn.o_proj", _qDim, _hidden), [L("mlp.gate_proj", _hidden, ffn), L("mlp.up_proj", _hidden, ffn)], L("mlp.down_proj", ffn, _hidden));
        }
    }

    /// <summary>Replaces the weights called <paramref name="name"/> (same size, in stream order): norms in f32, linears in f16.</summary>
    public void Upload(string name, float[] w)
    {
        bool norm = name is AttnNorm or FfnNorm;
        if (!_w.TryGetValue(name, out var p)) _w[name] = p = _mem.Alloc((norm ? 4L : 2L) * w.Length, name);
        if (norm)
        {
            fixed (float* s = w) _ctx.UploadAsync(p, s, 4L * w.Length);
            return;
        }
        var h = new Half[w.Length];
        Parallel.For(0, (w.Length + 65535) / 65536, c =>
        {
            for (int i = c * 65536, e = Math.Min(w.Length, i + 65536); i < e; i++) h[i] = (Half)w[i];
        });
        fixed (Half* s = h) _ctx.UploadAsync(p, s, 2L * h.Length);
    }

    /// <summary>
    /// Runs the layer on every chunk up to the input of <paramref name="stop"/>, adding the inputs of the linears in
    /// <paramref name="hooks"/> to their Hessians; with no stop the states become the layer's output.
    /// </summary>
    public void Run(IReadOnlyDictionary<LinearInput, CudaHessian>? hooks, LinearInput? stop)
    {
        var (layer, s, w) = (_layer!, _s!, _weights ?? throw new InvalidOperationException("Load a layer first"));
        DeviceCapture? capture = hooks is null ? null : (at, x, tokens) =>
        {
            if (hooks.TryGetValue(at, out var h)) h.Add(x, tokens, _x64);
        };
        foreach (var c in _chunks)
        {
            // The indices wait in mapped host memory (two buffers, used in turn) until the stage kernel copies them.
            _ctx.Synchronize();
            var plan = _planner!.Plan(c.Batch, s.Capacity, SamplerRows.None);
            var m = s.WriteMeta(c.Batch, plan.MaxBlocks, plan.Tiles, plan.Tokens);
            _k.Stage(m.Host, m.Ids, m.Count);
            ulong xc = _x + 4UL * (ulong)((long)c.T0 * _hidden);
            _ctx.CopyAsync(s.X, xc, 4L * c.Tokens * _hidden);
            layer.Forward(s, m, plan.Tokens, plan.MaxBlocks, plan.Attention, w, _kCache, _vCache, capture: capture, stopAfter: stop);
            if (stop is null) _ctx.CopyAsync(xc, s.X, 4L * c.Tokens * _hidden);
        }
    }

    /// <summary>The states of sample <paramref name="s"/> [tokens, hidden] (tests).</summary>
    public float[] State(int s)
    {
        _ctx.Synchronize();
        return _ctx.Download<float>(_x + 4UL * (ulong)((long)_starts[s] * _hidden), _lens[s] * _hidden);
    }

    /// <summary>Columns of the input of the linears at <paramref name="at"/>.</summary>
    public int Width(LinearInput at) => at switch { LinearInput.O => _qDim, LinearInput.Down => _ffn, _ => _hidden };

    void Allocate(int ffn)
    {
        if (_chunkTokens == 0) throw new InvalidOperationException("Start the calibration before loading a layer");
        _ffn = ffn;
        var c = _config with { IntermediateSize = ffn };
        var blas = new BlasAttention(_ctx, _k, c.NumHeads, c.NumKvHeads, c.EffectiveHeadDim);
        _layer = new CudaLayer(_k, c, blas, _invFreq, BlockSize);
        _planner = new StepPlanner(new StepShape(Graphs: false, AllQuantized: false, HeadKernel: false, c.NumHeads, c.EffectiveHeadDim, _ctx.Multiprocessors));
        _s = new CudaScratch(_mem, c, c.EffectiveHeadDim, _ => 0);   // dense f16 linears need no scratch
        _s.Ensure(_chunkTokens);
        long cache = 2L * _chunkBlocks * BlockSize * _kvDim;
        _kCache = _mem.Alloc(cache, "calibration K cache");
        _vCache = _mem.Alloc(cache, "calibration V cache");
        _x64 = _mem.Alloc(8L * _chunkTokens * Math.Max(Math.Max(_hidden, _qDim), ffn), "calibration fp64 inputs");
    }

    public void Dispose()
    {
        _ctx.Synchronize();
        _s?.Dispose();
        _mem.Dispose();
        _w.Clear();
        _x = 0;
    }
}
