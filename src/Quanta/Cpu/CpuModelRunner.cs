using System.Runtime.CompilerServices;
using Quanta.Cpu.Kernels;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>
/// The CPU backend: fp32 activations, weights read in their stored type (f32/f16/bf16/int4), a paged
/// KV cache in native memory. <see cref="Forward"/> is not re-entrant: call it from one thread at a time.
/// </summary>
public sealed unsafe class CpuModelRunner : IModelRunner
{
    readonly LlamaConfig _c;
    readonly int _hidden;
    readonly TensorView _embedding;     // [vocab, hidden] f32 | f16 | bf16
    readonly CpuLayer[] _layers;        // [layers]
    readonly float[] _finalNorm;        // [hidden]
    readonly CpuLinear _lmHead;         // [vocab, hidden]
    readonly LayerContext _ctx;
    // Step buffers, grown to the largest batch seen: x [tokens, hidden] residual stream, final [logits, hidden].
    readonly ScratchBuffer _x = new(), _final = new();

    public CpuModelRunner(LoadedModel model, KvCacheOptions kv, int threads = 0)
        : this(model.Config, model.Weights, kv, threads) { }

    /// <summary>A runner over weights alone (no tokenizer needed); the weights must outlive it.</summary>
    /// <param name="kv">block size and block count; 0 blocks = room for one max_position_embeddings sequence.</param>
    /// <param name="threads">worker threads; 0 = one per processor.</param>
    public CpuModelRunner(LlamaConfig config, LlamaWeights weights, KvCacheOptions kv, int threads = 0)
    {
        _c = config;
        _hidden = _c.HiddenSize;
        _ctx = new LayerContext(config, _c.NumLayers, kv, threads);
        try
        {
            var w = weights;
            _embedding = w.Embedding;
            if (!DTypeInfo.IsFloat(_embedding.DType))
                throw new ModelLoadException($"{_embedding.Name}: dtype {_embedding.DType} is not supported by the cpu backend (f32, f16, bf16)");
            if (_embedding.Shape.Length != 2 || _embedding.Shape[1] != _hidden || _embedding.Shape[0] < _c.VocabSize)
                throw new ModelLoadException($"{_embedding.Name}: shape [{string.Join(", ", _embedding.Shape)}], expected [{_c.VocabSize}, {_hidden}]");
            _layers = [.. w.Layers.Select(l => CpuLayer.Create(l, _hidden, _ctx.Gather))];
            _finalNorm = CpuLayer.Floats(w.FinalNorm, _hidden);
            _lmHead = CpuLinear.Create(w.LmHead, _ctx.Gather);
        }
        catch
        {
            _ctx.Dispose();
            throw;
        }
    }

    public LlamaConfig Config => _c;
    public string DeviceName => $"cpu ({_ctx.Pool.Threads} threads)";
    public int BlockSize => _ctx.Cache.BlockSize;
    public int NumBlocks => _ctx.Cache.NumBlocks;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(ForwardBatch b, Span<float> logits)
    {
        int T = b.NumTokens, V = _c.VocabSize;
        b.Validate(BlockSize, NumBlocks, V);
        if (logits.Length < (long)b.NumLogits * V) throw new ArgumentException($"logits: {logits.Length} floats, need {b.NumLogits} x {V}");
        if (T == 0) return;
        _ctx.Begin(b);
        float* x = _x.Get((long)T * _hidden);
        int es = DTypeInfo.Size(_embedding.DType);
        for (int t = 0; t < T; t++)
            Vec.ToFloat(_embedding.DType, (byte*)_embedding.Data + (long)b.TokenIds[t] * _hidden * es, x + (long)t * _hidden, _hidden);
        for (int l = 0; l < _layers.Length; l++) _layers[l].Forward(_ctx, l, x);

        int n = b.NumLogits;
        if (n == 0) return;
        float* fin = _final.Get((long)n * _hidden);
        fixed (float* nw = _finalNorm)
            for (int r = 0; r < n; r++) Vec.RmsNorm(x + (long)b.LogitIndices[r] * _hidden, nw, fin + (long)r * _hidden, _hidden, _c.RmsNormEps);
        fixed (float* lp = logits) _lmHead.Forward(fin, lp, n, _ctx.Pool);
    }

    public void Dispose() => _ctx.Dispose();
}
