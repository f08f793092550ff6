using System.Numerics.Tensors;
using Quanta.Cpu.Kernels;
using Quanta.Engine;

namespace Quanta.Cpu;

/// <summary>
/// Causal attention of each query token over its sequence's cached positions [0, position],
/// read through the block table. One work item per (token, head); each item's arithmetic depends
/// only on its own query and the cache, never on the rest of the batch.
/// </summary>
internal sealed unsafe class Attention : IRangeJob
{
    /// <summary>Below this many cached positions (summed over the batch's tokens) it runs on the caller.</summary>
    const long ParallelPositions = 4096;

    readonly PagedKvCache _cache;
    readonly int _heads, _kvHeads, _headDim;
    readonly float _scale;
    readonly ScratchBuffer[] _scores; // per worker: [max context] fp32

    ForwardBatch? _batch;
    int[] _seqOf = [];
    float* _q, _out;
    int _layer;

    public Attention(PagedKvCache cache, int heads, int kvHeads, int headDim, int workers)
    {
        _cache = cache; _heads = heads; _kvHeads = kvHeads; _headDim = headDim;
        _scale = 1f / MathF.Sqrt(headDim);
        _scores = new ScratchBuffer[workers];
        for (int i = 0; i < workers; i++) _scores[i] = new ScratchBuffer();
    }

    /// <summary>out [tokens, heads*head_dim] from q [tokens, heads*head_dim] for one layer.</summary>
    public void Run(ForwardBatch b, int[] seqOf, int layer, float* q, float* output, WorkerPool pool)
    {
        _batch = b; _seqOf = seqOf; _layer = layer; _q = q; _out = output;
        long positions = 0;
        for (int t = 0; t < b.NumTokens; t++) positions += b.Positions[t] + 1;
        int items = b.NumTokens * _heads;
        int chunk = positions * _heads < ParallelPositions || pool.Threads == 1 ? items : Math.Max(1, items / (pool.Threads * 4));
        pool.Run(this, items, chunk);
        _batch = null;
    }

    void IRangeJob.Run(int start, int end, int worker)
    {
        var b = _batch!;
        int hd = _headDim, group = _heads / _kvHeads, bs = _cache.BlockSize;
        for (int item = start; item < end; item++)
        {
            int t = item / _heads, h = item % _heads, kvh = h / group;
            int ctx = b.Positions[t] + 1;
            var table = b.BlockTable(_seqOf[t]);
            float* q = _q + (long)item * hd;
            float* o = _out + (long)item * hd;
            float* s = _scores[worker].Get(ctx);
            for (int j = 0; j < ctx; j++)
            {
                long slot = (long)table[j / bs] * bs + j % bs;
                s[j] = Vec.Dot(q, _cache.K(_layer, slot) + kvh * hd, hd) * _scale;
            }
            var span = new Span<float>(s, ctx);
            float max = TensorPrimitives.Max((ReadOnlySpan<float>)span);
            TensorPrimitives.Subtract(span, max, span);
            TensorPrimitives.Exp(span, span);
            float inv = 1f / TensorPrimitives.Sum((ReadOnlySpan<float>)span);
            new Span<float>(o, hd).Clear();
            for (int j = 0; j < ctx; j++)
            {
                long slot = (long)table[j / bs] * bs + j % bs;
                Vec.Axpy(s[j] * inv, _cache.V(_layer, slot) + kvh * hd, o, hd);
            }
        }
    }
}
