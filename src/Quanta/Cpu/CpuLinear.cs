using Quanta.Cpu.Kernels;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>
/// A linear layer y = W x in the CPU backend's layout. Rows are computed in blocks of four sharing
/// the activation loads; each row's dot product follows the same code path and summation order
/// whether it runs in a block or alone, whatever the number of tokens, so results are batch-invariant.
/// </summary>
internal abstract unsafe class CpuLinear : IRangeJob
{
    /// <summary>Below this many multiply-adds a matmul runs on the calling thread.</summary>
    const long ParallelMacs = 1 << 18;

    float* _x, _y;
    int _xStride, _tokens;

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
        long work = (long)Out * In * tokens;
        int chunk = work < ParallelMacs || pool.Threads == 1
            ? Out
            : Math.Max(16, (Out / (pool.Threads * 4) + 3) & ~3);
        pool.Run(this, Out, chunk);
        _x = _y = null;
    }

    /// <summary>Token tiles keep a tile's activations (about 256 KiB) in cache while rows stream past.</summary>
    void IRangeJob.Run(int start, int end, int worker)
    {
        int tile = Math.Max(1, (256 << 10) / (_xStride * sizeof(float)));
        for (int t = 0; t < _tokens; t += tile)
            Rows(start, end, _x + (long)t * _xStride, _xStride, _y + (long)t * Out, Math.Min(tile, _tokens - t));
    }

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
