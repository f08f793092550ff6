using Quanta.Cpu.Kernels;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>
/// A linear layer y = W x in the CPU backend's layout. Rows are computed in blocks of four sharing
/// the activation loads; each row's dot product follows the same code path and summation order
/// whether it runs in a block or alone, whatever the number of tokens, so results are batch-invariant.
/// With several tokens, quantised or half-precision rows are first expanded (exactly) to fp32 once
/// per token tile; the fp32 kernel then performs the very same multiply-adds in the same order.
/// </summary>
internal abstract unsafe class CpuLinear : IRangeJob
{
    /// <summary>Below this many multiply-adds a matmul runs on the calling thread.</summary>
    const long ParallelMacs = 1 << 18;
    /// <summary>From this many tokens in a tile, rows are expanded to fp32 once and reused.</summary>
    const int ExpandTokens = 4;

    float* _x, _y;
    int _xStride, _tokens;
    WorkerPool? _pool;

    protected CpuLinear(int inFeatures, int outFeatures) { In = inFeatures; Out = outFeatures; }

    public int In { get; }
    public int Out { get; }

    /// <summary>y [tokens, Out] = x [tokens, In] · Wᵀ.</summary>
    public void Forward(float* x, float* y, int tokens, WorkerPool pool)
    {
        if (tokens <= 0) return;
        _x = Prepare(x, tokens, out _xStride);
        _y = y;
        _tokens = tokens;
        _pool = pool;
        long work = (long)Out * In * tokens;
        int chunk = work < ParallelMacs || pool.Threads == 1
            ? Out
            : Math.Max(16, (Out / (pool.Threads * 4) + 3) & ~3);
        pool.Run(this, Out, chunk);
        _x = _y = null;
        _pool = null;
    }

    /// <summary>Token tiles keep a tile's activations (about 256 KiB) in cache while rows stream past.</summary>
    void IRangeJob.Run(int start, int end, int worker)
    {
        int k = _xStride, tile = Math.Max(1, (256 << 10) / (k * sizeof(float)));
        for (int t0 = 0; t0 < _tokens; t0 += tile)
        {
            int n = Math.Min(tile, _tokens - t0);
            float* x = _x + (long)t0 * k, y = _y + (long)t0 * Out;
            if (n < ExpandTokens || !CanExpand) { Rows(start, end, x, k, y, n); continue; }
            float* w = _pool!.Scratch(worker).Get(4L * k); // [4, k] fp32 rows
            for (int r = start; r < end; r += 4)
            {
                int rows = Math.Min(4, end - r);
                Expand(r, rows, w);
                for (int t = 0; t < n; t++)
                {
                    float* xt = x + (long)t * k, yt = y + (long)t * Out + r;
                    if (rows == 4) DenseMatMul<F32Weights>.Dot4((byte*)w, k * sizeof(float), xt, k, yt);
                    else for (int i = 0; i < rows; i++) yt[i] = DenseMatMul<F32Weights>.Dot1((byte*)(w + (long)i * k), xt, k);
                }
            }
        }
    }

    /// <summary>Whether <see cref="Expand"/> is implemented (fp32 weights need no expansion).</summary>
    protected virtual bool CanExpand => false;

    /// <summary>Writes rows [r, r + count) as fp32 [count, activation stride], exactly the values the row kernels use.</summary>
    protected virtual void Expand(int r, int count, float* dst) => throw new NotSupportedException();

    /// <summary>Lays out the activations as the kernel reads them (e.g. gathered for act-order).</summary>
    protected virtual float* Prepare(float* x, int tokens, out int stride) { stride = In; return x; }

    /// <summary>Computes output rows [start, end) for every token.</summary>
    protected abstract void Rows(int start, int end, float* x, int xStride, float* y, int tokens);

    /// <summary>Wraps a checkpoint's linear layer: dense weights are read in place, GPTQ is repacked.</summary>
    public static CpuLinear Create(LinearWeights w, ScratchBuffer gather) => w switch
    {
        DenseLinear d => d.Weight.DType switch
        {
            DType.F32 => new DenseMatMul<F32Weights>(d),
            DType.F16 => new DenseMatMul<F16Weights>(d),
            DType.BF16 => new DenseMatMul<BF16Weights>(d),
            var t => throw new ModelLoadException($"{d.Weight.Name}: dtype {t} is not supported by the cpu backend (f32, f16, bf16)"),
        },
        GptqLinear g => new Int4MatMul(g, gather),
        _ => throw new ModelLoadException($"{w.Name}: unsupported linear layer type {w.GetType().Name}"),
    };
}
