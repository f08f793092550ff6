using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    ForwardBatch? _batch;
    WorkerPool? _pool;
    int[] _seqOf = [];  // [tokens] sequence of each token
    float* _q, _out;    // [tokens, heads * head_dim] fp32 each
    int _layer;

    public Attention(PagedKvCache cache, int heads, int kvHeads, int headDim)
    {
        _cache = cache; _heads = heads; _kvHeads = kvHeads; _headDim = headDim;
        _scale = 1f / MathF.Sqrt(headDim);
    }

    /// <summary>out [tokens, heads*head_dim] from q [tokens, heads*head_dim] for one layer.</summary>
    public void Run(ForwardBatch b, int[] seqOf, int layer, float* q, float* output, WorkerPool pool)
    {
        _batch = b; _pool = pool; _seqOf = seqOf; _layer = layer; _q = q; _out = output;
        long positions = 0;
        for (int t = 0; t < b.NumTokens; t++) positions += b.Positions[t] + 1;
        int items = b.NumTokens * _heads;
        int chunk = positions * _heads < ParallelPositions || pool.Threads == 1 ? items : Math.Max(1, items / (pool.Threads * 4));
        pool.Run(this, items, chunk);
        _batch = null; _pool = null;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void IRangeJob.Run(int start, int end, int worker)
    {
        var b = _batch!;
        int hd = _headDim, group = _heads / _kvHeads, bs = _cache.BlockSize, kvDim = _cache.KvDim;
        long blockFloats = (long)bs * kvDim;
        float* kLayer = _cache.K(_layer, 0), vLayer = _cache.V(_layer, 0);
        for (int item = start; item < end; item++)
        {
            int t = item / _heads, h = item % _heads, kvh = h / group;
            int ctx = b.Positions[t] + 1;
            var table = b.BlockTable(_seqOf[t]);
            float* q = _q + (long)item * hd;
            float* o = _out + (long)item * hd;
            float* s = _pool!.Scratch(worker).Get((long)b.MaxBlocksPerSeq * bs); // [ctx] scores, then probabilities
            for (int j0 = 0, blk = 0; j0 < ctx; j0 += bs, blk++)
            {
                float* k = kLayer + table[blk] * blockFloats + kvh * hd;
                int lim = Math.Min(bs, ctx - j0);
                int j = 0;
                if (Avx.IsSupported && hd % Vec.W == 0)
                    for (; j + Vec.W <= lim; j += Vec.W, k += Vec.W * kvDim)
                        (Scores8(q, k, kvDim, hd) * _scale).Store(s + j0 + j);
                for (; j < lim; j++, k += kvDim) s[j0 + j] = Vec.Dot(q, k, hd) * _scale;
            }
            VecMath.Softmax(s, ctx);
            WeightedSum(s, ctx, table, vLayer + kvh * hd, blockFloats, kvDim, hd, o);
        }
    }

    /// <summary>
    /// o [hd] = Σ_j p[j] · v_j over the cached positions, 8 dims at a time with four register
    /// accumulators taking positions in turn (a fixed order given the context length).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void WeightedSum(float* p, int ctx, ReadOnlySpan<int> table, float* vHead, long blockFloats, int kvDim, int hd, float* o)
    {
        int bs = _cache.BlockSize, d = 0;
        for (; d + Vec.W <= hd; d += Vec.W)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int j0 = 0, blk = 0; j0 < ctx; j0 += bs, blk++)
            {
                float* v = vHead + table[blk] * blockFloats + d;
                float* pj = p + j0;
                int lim = Math.Min(bs, ctx - j0), j = 0;
                for (; j + 4 <= lim; j += 4, v += 4 * kvDim)
                {
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(pj[j]), Vector256.Load(v), a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.Create(pj[j + 1]), Vector256.Load(v + kvDim), a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.Create(pj[j + 2]), Vector256.Load(v + 2 * kvDim), a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.Create(pj[j + 3]), Vector256.Load(v + 3 * kvDim), a3);
                }
                for (; j < lim; j++, v += kvDim) a0 = Vector256.FusedMultiplyAdd(Vector256.Create(pj[j]), Vector256.Load(v), a0);
            }
            ((a0 + a1) + (a2 + a3)).Store(o + d);
        }
        for (; d < hd; d++)
        {
            float acc = 0;
            for (int j = 0; j < ctx; j++)
                acc = MathF.FusedMultiplyAdd(p[j], vHead[table[j / bs] * blockFloats + (long)(j % bs) * kvDim + d], acc);
            o[d] = acc;
        }
    }

    /// <summary>q · k for 8 consecutive positions (rows <paramref name="stride"/> floats apart), head_dim a multiple of 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Scores8(float* q, float* k, int stride, int hd)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int d = 0; d < hd; d += Vec.W)
        {
            var qv = Vector256.Load(q + d);
            float* kd = k + d;
            a0 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd), a0);
            a1 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + stride), a1);
            a2 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + 2 * stride), a2);
            a3 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + 3 * stride), a3);
            a4 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + 4 * stride), a4);
            a5 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + 5 * stride), a5);
            a6 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + 6 * stride), a6);
            a7 = Vector256.FusedMultiplyAdd(qv, Vector256.Load(kd + 7 * stride), a7);
        }
        var t0 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3)); // [0..3 low halves | 0..3 high halves]
        var t1 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Permute2x128(t0, t1, 0x20) + Avx.Permute2x128(t0, t1, 0x31);
    }
}
