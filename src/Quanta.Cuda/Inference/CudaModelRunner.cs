using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// The CUDA backend: fp16 activations into every matmul, fp32 residual stream and accumulation,
/// paged fp16 KV cache [layers, slots, kv_heads, head_dim] for K and for V.
/// </summary>
public sealed unsafe partial class CudaModelRunner : IModelRunner
{
    readonly CudaContext _ctx;
    readonly DeviceArena _mem;
    readonly Kernels _k;
    readonly LlamaConfig _c;
    readonly CudaModelWeights _w;
    internal CudaModelWeights Weights => _w;
    readonly int _hidden, _headDim, _qDim, _kvDim, _ffn;
    readonly ulong _invFreq;          // [head_dim/2] f64
    readonly CudaScratch _s;
    readonly CudaLmHead? _lmHead;     // the f16 head's kernel for one-row steps, or null (cuBLAS only)
    ulong _kCache, _vCache;           // [layers, blocks*block_size, kv_dim] f16
    long _layerStride;                // elements per layer in each cache
    readonly DecodeGraphs _graphs;
    readonly BlasAttention _blas;
    readonly StepPlanner _planner;
    readonly F16Layer _layer;         // every layer's computation, over _w.Layers[l]
    readonly Action<string>? _mark;   // Mark while profiling, else null

    public CudaModelRunner(LoadedModel model, KvCacheOptions kv, CudaRunnerOptions? options = null)
        : this(model.Config, model.Weights, kv, options) { }

    /// <summary>A runner over weights alone; <paramref name="kv"/>.NumBlocks = 0 sizes the cache from free memory.</summary>
    public CudaModelRunner(LlamaConfig config, LlamaWeights weights, KvCacheOptions kv, CudaRunnerOptions? options = null)
    {
        var o = options ?? new CudaRunnerOptions();
        _prof = o.Profile ? [] : null;
        _c = config;
        _hidden = _c.HiddenSize;
        _headDim = _c.EffectiveHeadDim;
        if (_c.NumKvHeads <= 0 || _c.NumHeads % _c.NumKvHeads != 0)
            throw new ModelLoadException($"config: num_attention_heads {_c.NumHeads} is not a multiple of num_key_value_heads {_c.NumKvHeads}");
        if (_headDim % 8 != 0 || _headDim > 256) throw new ModelLoadException($"config: head_dim {_headDim} must be a multiple of 8 and at most 256 on CUDA");
        if (kv.BlockSize <= 0 || kv.NumBlocks < 0) throw new ArgumentException($"KV cache needs block_size > 0, got {kv.BlockSize}");
        _qDim = _c.NumHeads * _headDim;
        _kvDim = _c.NumKvHeads * _headDim;
        _ffn = _c.IntermediateSize;
        _ctx = CudaContext.Shared;
        _k = new Kernels(_ctx);
        _mem = new DeviceArena(_ctx);
        _graphs = new DecodeGraphs(_ctx);
        _blas = new BlasAttention(_ctx, _k, _c.NumHeads, _c.NumKvHeads, _headDim);
        BlockSize = kv.BlockSize;
        try
        {
            _ctx.Kernels.LoadAll();
            _w = new CudaModelWeights(_mem, _k, _c, weights);
            _lmHead = CudaLmHead.For(_ctx, _w.LmHead);
            _planner = new StepPlanner(new StepShape(o.Graphs && !o.Profile, _w.AllQuantized, _lmHead is not null, _c.NumHeads, _headDim, _ctx.Multiprocessors,
                GemmPlanner.MaxRowsFor(_k.Wgmma)));
            _invFreq = _mem.Upload<double>(RotaryFrequencies.Inverse(_c.RopeTheta, _headDim, _c.RopeScaling), "rope inv_freq");
            _layer = new F16Layer(_k, _c, _blas, _invFreq, BlockSize);
            _mark = _prof is null ? null : Mark;
            _s = new CudaScratch(_mem, _c, _headDim, _w);
            int warm = Math.Max(1, o.MaxPrefillTokens);
            _s.Ensure(warm);
            if (kv.NumBlocks > 0) AllocateCache(kv.NumBlocks);
            else
            {
                AllocateCache((warm + BlockSize - 1) / BlockSize);
                var ids = new int[warm];
                for (int i = 0; i < warm; i++) ids[i] = (i * 7919 + 1) % _c.VocabSize;
                Forward(ForwardBatch.Of(BlockSize, new SeqTokens([.. Enumerable.Range(0, (warm + BlockSize - 1) / BlockSize)], 0, ids)), new float[_c.VocabSize]);
                FreeCache();
                var (free, total) = _ctx.MemoryInfo();
                long perBlock = 2L * _c.NumLayers * BlockSize * _kvDim * sizeof(ushort);
                long blocks = (long)(free * o.MemoryFraction) / perBlock;
                if (blocks < 1) throw new InsufficientMemoryException($"CUDA: no memory left for the KV cache after weights ({_w.Bytes / 1048576.0:F0} MiB) and activations for {warm} prefill tokens: {free / 1048576.0:F0} MiB free of {total / 1048576.0:F0} MiB");
                AllocateCache((int)Math.Min(blocks, int.MaxValue / BlockSize));
            }
            if (o.WarmGraphs && o.Graphs && !o.Profile && NumBlocks > 0) WarmDecodeGraphs(_planner.GraphRows, o.Log);
            var (freeAfter, totalAfter) = _ctx.MemoryInfo();
            DeviceMemory = new DeviceMemoryUse(totalAfter - freeAfter, totalAfter);
            o.Log?.WriteLine($"cuda: {_ctx.Name}, weights {_w.Bytes / 1048576.0:F0} MiB, KV cache {NumBlocks} blocks x {BlockSize} = max_batch_total_tokens {(long)NumBlocks * BlockSize}");
        }
        catch
        {
            // Keep the first error: after a sticky CUDA error the cleanup's own synchronize fails too.
            try { Dispose(); } catch (Native.CudaException) { }
            throw;
        }
    }

    public LlamaConfig Config => _c;
    public string DeviceName => $"cuda:{_ctx.Ordinal} ({_ctx.Name})";
    public int BlockSize { get; }
    public int NumBlocks { get; private set; }
    public DeviceMemoryUse? DeviceMemory { get; }
    /// <summary>Weight bytes read by one decode step (for roofline figures).</summary>
    public long DecodeWeightBytes => _w.DecodeReadBytes;
    /// <summary>KV bytes per cached token (K and V, all layers).</summary>
    public long KvBytesPerToken => 2L * _c.NumLayers * _kvDim * sizeof(ushort);
    internal CudaContext Context => _ctx;

    void AllocateCache(int blocks)
    {
        NumBlocks = blocks;
        _layerStride = (long)blocks * BlockSize * _kvDim;
        long bytes = _layerStride * _c.NumLayers * sizeof(ushort);
        _kCache = _mem.Alloc(bytes, $"K cache ({blocks} blocks)");
        _vCache = _mem.Alloc(bytes, $"V cache ({blocks} blocks)");
    }

    void FreeCache()
    {
        _mem.Free(_kCache); _mem.Free(_vCache);
        _kCache = _vCache = 0;
        NumBlocks = 0;
    }

    public void Forward(ForwardBatch b, Span<float> logits)
    {
        int n = b.NumLogits, V = _c.VocabSize;
        b.Validate(BlockSize, NumBlocks, V);
        if (logits.Length < (long)n * V) throw new ArgumentException($"logits: {logits.Length} floats, need {n} x {V}");
        if (_outstanding > 0) throw new InvalidOperationException("Forward while queued steps are not collected");
        if (b.NumTokens == 0) return;
        _ctx.MakeCurrent();
        var step = Execute(b, _planner.Plan(b, _s.Capacity, SamplerRows.None));
        for (int r = 0; r < n; r += CudaScratch.LogitRows)
        {
            int rows = step.Head is null ? Head(step, r, n) : n;
            _ctx.Synchronize();
            fixed (float* lp = logits.Slice(r * V)) _ctx.Download(lp, _s.Logits, (long)rows * V * sizeof(float));
        }
        if (n == 0) _ctx.Synchronize();
        BookProfile();
    }

    public void Dispose()
    {
        if (_mem is null) return;
        _ctx.Synchronize();
        _graphs.Dispose();
        _sampler?.Dispose();
        _s?.Dispose();
        foreach (var (_, e) in _profEvents) Native.Cu.cuEventDestroy(e);
        _mem.Dispose();
    }
}
