using System.Runtime.CompilerServices;
using Quanta.Cpu.Kernels;
using Quanta.Engine;
using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>
/// The CPU backend: fp32 activations, weights read in their stored type (f32/f16/bf16/int4), a paged
/// KV cache in native memory. <see cref="Forward"/> is not re-entrant: call it from one thread at a time.
/// </summary>
public sealed unsafe class CpuModelRunner : IModelRunner
{
    readonly LlamaConfig _c;
    readonly int _hidden, _headDim, _qDim, _kvDim, _ffn;
    readonly TensorView _embedding;     // [vocab, hidden] f32 | f16 | bf16
    readonly float[][] _attnNorm, _ffnNorm; // [layers][hidden]
    readonly float[] _finalNorm;        // [hidden]
    readonly CpuLinear[][] _layers;     // [layers][q, k, v, o, gate, up, down]
    readonly CpuLinear _lmHead;         // [vocab, hidden]
    readonly Rope _rope;
    readonly PagedKvCache _cache;
    readonly Attention _attention;
    readonly WorkerPool _pool;
    readonly ScratchBuffer _gather = new();
    // Step buffers, grown to the largest batch seen: x/norm/o [tokens, hidden], q/att [tokens, q_dim],
    // k/v [tokens, kv_dim], gate/up [tokens, ffn], cos/sin [tokens, head_dim/2], final [logits, hidden].
    readonly ScratchBuffer _x = new(), _norm = new(), _o = new(), _qb = new(), _att = new(), _kb = new(), _vb = new(),
        _gate = new(), _up = new(), _cos = new(), _sin = new(), _final = new();
    int[] _seqOf = [];                  // [tokens] sequence index of each token

    public CpuModelRunner(LoadedModel model, KvCacheOptions kv, int threads = 0)
        : this(model.Config, model.Weights, kv, threads) { }

    /// <summary>A runner over weights alone (no tokenizer needed); the weights must outlive it.</summary>
    /// <param name="kv">block size and block count; 0 blocks = room for one max_position_embeddings sequence.</param>
    /// <param name="threads">worker threads; 0 = one per processor.</param>
    public CpuModelRunner(LlamaConfig config, LlamaWeights weights, KvCacheOptions kv, int threads = 0)
    {
        _c = config;
        _hidden = _c.HiddenSize;
        _headDim = _c.EffectiveHeadDim;
        if (_c.NumKvHeads <= 0 || _c.NumHeads % _c.NumKvHeads != 0)
            throw new ModelLoadException($"config: num_attention_heads {_c.NumHeads} is not a multiple of num_key_value_heads {_c.NumKvHeads}");
        if (_headDim % 2 != 0) throw new ModelLoadException($"config: head_dim {_headDim} must be even for RoPE");
        if (kv.BlockSize <= 0 || kv.NumBlocks < 0) throw new ArgumentException($"KV cache needs block_size > 0 and num_blocks >= 0, got {kv.BlockSize} x {kv.NumBlocks}");
        int numBlocks = kv.NumBlocks > 0 ? kv.NumBlocks : (Math.Max(1, _c.MaxPositionEmbeddings) + kv.BlockSize - 1) / kv.BlockSize;
        _qDim = _c.NumHeads * _headDim;
        _kvDim = _c.NumKvHeads * _headDim;
        _ffn = _c.IntermediateSize;

        var w = weights;
        _embedding = w.Embedding;
        if (!DTypes.IsFloat(_embedding.DType))
            throw new ModelLoadException($"{_embedding.Name}: dtype {_embedding.DType} is not supported by the cpu backend (f32, f16, bf16)");
        if (_embedding.Shape.Length != 2 || _embedding.Shape[1] != _hidden || _embedding.Shape[0] < _c.VocabSize)
            throw new ModelLoadException($"{_embedding.Name}: shape [{string.Join(", ", _embedding.Shape)}], expected [{_c.VocabSize}, {_hidden}]");
        _attnNorm = [.. w.Layers.Select(l => Floats(l.AttnNorm, _hidden))];
        _ffnNorm = [.. w.Layers.Select(l => Floats(l.FfnNorm, _hidden))];
        _finalNorm = Floats(w.FinalNorm, _hidden);
        _layers = [.. w.Layers.Select(l => new[] { l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down }.Select(x => CpuLinear.Create(x, _gather)).ToArray())];
        _lmHead = CpuLinear.Create(w.LmHead, _gather);

        _rope = new Rope(_c, _headDim);
        _pool = new WorkerPool(threads > 0 ? threads : Environment.ProcessorCount);
        _cache = new PagedKvCache(_c.NumLayers, numBlocks, kv.BlockSize, _kvDim);
        _attention = new Attention(_cache, _c.NumHeads, _c.NumKvHeads, _headDim);
    }

    public LlamaConfig Config => _c;
    public string DeviceName => $"cpu ({_pool.Threads} threads)";
    public int BlockSize => _cache.BlockSize;
    public int NumBlocks => _cache.NumBlocks;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(ForwardBatch b, Span<float> logits)
    {
        int T = b.NumTokens, V = _c.VocabSize;
        b.Validate(_cache.BlockSize, _cache.NumBlocks, V);
        if (logits.Length < (long)b.NumLogits * V) throw new ArgumentException($"logits: {logits.Length} floats, need {b.NumLogits} x {V}");
        if (T == 0) return;
        if (_seqOf.Length < T) _seqOf = new int[T];
        for (int s = 0; s < b.NumSeqs; s++)
            for (int t = b.QueryStart[s]; t < b.QueryStart[s + 1]; t++) _seqOf[t] = s;

        float* x = _x.Get((long)T * _hidden), norm = _norm.Get((long)T * _hidden), o = _o.Get((long)T * _hidden);
        float* q = _qb.Get((long)T * _qDim), att = _att.Get((long)T * _qDim);
        float* k = _kb.Get((long)T * _kvDim), v = _vb.Get((long)T * _kvDim);
        float* gate = _gate.Get((long)T * _ffn), up = _up.Get((long)T * _ffn);
        int half = _headDim / 2;
        float* cos = _cos.Get((long)T * half), sin = _sin.Get((long)T * half);

        int es = DTypes.Size(_embedding.DType);
        for (int t = 0; t < T; t++)
            Vec.ToFloat(_embedding.DType, (byte*)_embedding.Data + (long)b.TokenIds[t] * _hidden * es, x + (long)t * _hidden, _hidden);
        _rope.Tables(b.Positions.AsSpan(0, T), cos, sin);

        for (int l = 0; l < _layers.Length; l++)
        {
            var L = _layers[l];
            fixed (float* nw = _attnNorm[l])
                for (int t = 0; t < T; t++) Vec.RmsNorm(x + (long)t * _hidden, nw, norm + (long)t * _hidden, _hidden, _c.RmsNormEps);
            L[0].Forward(norm, q, T, _pool);
            L[1].Forward(norm, k, T, _pool);
            L[2].Forward(norm, v, T, _pool);
            for (int t = 0; t < T; t++)
            {
                _rope.Apply(q + (long)t * _qDim, _c.NumHeads, cos + t * half, sin + t * half);
                _rope.Apply(k + (long)t * _kvDim, _c.NumKvHeads, cos + t * half, sin + t * half);
                int slot = b.SlotMapping[t];
                new ReadOnlySpan<float>(k + (long)t * _kvDim, _kvDim).CopyTo(new Span<float>(_cache.K(l, slot), _kvDim));
                new ReadOnlySpan<float>(v + (long)t * _kvDim, _kvDim).CopyTo(new Span<float>(_cache.V(l, slot), _kvDim));
            }
            _attention.Run(b, _seqOf, l, q, att, _pool);
            L[3].Forward(att, o, T, _pool);
            Vec.Add(x, o, T * _hidden);

            fixed (float* nw = _ffnNorm[l])
                for (int t = 0; t < T; t++) Vec.RmsNorm(x + (long)t * _hidden, nw, norm + (long)t * _hidden, _hidden, _c.RmsNormEps);
            L[4].Forward(norm, gate, T, _pool);
            L[5].Forward(norm, up, T, _pool);
            for (int t = 0; t < T; t++) VecMath.SwiGlu(gate + (long)t * _ffn, up + (long)t * _ffn, _ffn);
            L[6].Forward(gate, o, T, _pool);
            Vec.Add(x, o, T * _hidden);
        }

        int n = b.NumLogits;
        if (n == 0) return;
        float* fin = _final.Get((long)n * _hidden);
        fixed (float* nw = _finalNorm)
            for (int r = 0; r < n; r++) Vec.RmsNorm(x + (long)b.LogitIndices[r] * _hidden, nw, fin + (long)r * _hidden, _hidden, _c.RmsNormEps);
        fixed (float* lp = logits) _lmHead.Forward(fin, lp, n, _pool);
    }

    static float[] Floats(TensorView t, int n)
    {
        if (t.ElementCount != n) throw new ModelLoadException($"{t.Name}: {t.ElementCount} elements, expected {n}");
        var r = new float[n];
        fixed (float* p = r) Vec.ToFloat(t.DType, (void*)t.Data, p, n);
        return r;
    }

    public void Dispose()
    {
        _pool.Dispose();
        _cache.Dispose();
    }
}
