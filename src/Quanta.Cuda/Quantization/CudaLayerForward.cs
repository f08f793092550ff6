using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>
/// The calibration forward of the GPU quantizer: the states of every sample stay on the GPU and run through one decoder
/// layer, <see cref="CudaLayer"/> with the fp32 steps of <see cref="Fp32Layer"/>, in chunks of whole samples of at most
/// <c>chunkTokens</c> tokens (one sample when longer). Holds the layer's fp32 weights.
/// </summary>
internal sealed unsafe class CudaLayerForward : IDisposable
{
    internal const string AttnNorm = "input_layernorm", FfnNorm = "post_attention_layernorm";
    static readonly string[] LinearNames =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    /// <summary>Tokens rows T0.. of the states, whole samples at (row in the chunk, length) Samples.</summary>
    readonly record struct Chunk(int T0, int Tokens, (int Row, int Len)[] Samples);

    readonly CudaContext _ctx;
    readonly QuantKernels _k;
    readonly LlamaConfig _c;
    readonly int _hidden, _chunkBudget;
    readonly Dictionary<string, ulong> _w = [];          // the layer's weights by name, HF layout f32 (linears [out, in])
    readonly List<Chunk> _chunks = [];
    ulong _x;                                            // [all tokens, hidden] f32 calibration states
    int[] _starts = [], _lens = [];                      // per sample: first row in _x, tokens
    int _chunk, _maxLen;                                 // most tokens of a chunk, of a sample
    Fp32Layer? _layer;                                   // activation buffers, made at the first Load

    public CudaLayerForward(CudaContext ctx, QuantKernels k, LlamaConfig c, int chunkTokens)
    {
        (_ctx, _k, _c) = (ctx, k, c);
        (_hidden, _chunkBudget) = (c.HiddenSize, Math.Max(1, chunkTokens));
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
            int t0 = _starts[s0];
            _chunks.Add(new(t0, tokens, [.. Enumerable.Range(s0, s1 - s0).Select(s => (_starts[s] - t0, lens[s]))]));
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
        if (_chunk == 0) throw new InvalidOperationException("Start the calibration before loading a layer");
        _layer ??= new Fp32Layer(_ctx, _k, _c, ffn, _w, _chunk, _maxLen);
        if (ffn != _layer.Ffn) throw new ArgumentException($"FFN width {ffn} after {_layer.Ffn}");
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
        var layer = _layer ?? throw new InvalidOperationException("no layer loaded");
        foreach (var c in _chunks) layer.Forward(_x + 4UL * (ulong)((long)c.T0 * _hidden), c.Tokens, c.Samples, hooks, stop);
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
    public int Width(LinearInput at) => at switch
    {
        LinearInput.O => _c.NumHeads * _c.EffectiveHeadDim,
        LinearInput.Down => _layer?.Ffn ?? throw new InvalidOperationException("no layer loaded"),
        _ => _hidden,
    };

    public void Dispose()
    {
        _ctx.Synchronize();
        foreach (var p in _w.Values.Append(_x)) _ctx.Free(p);
        _w.Clear();
        _x = 0;
        _layer?.Dispose();
        _layer = null;
    }
}
