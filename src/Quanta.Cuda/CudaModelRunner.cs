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
    readonly bool _useGraphs;
    readonly Dictionary<string, double>? _prof;       // GPU ms per phase (CudaRunnerOptions.Profile), else null
    readonly List<(string Phase, nint Event)> _profEvents = [];
    int _profUsed;

    public CudaModelRunner(LoadedModel model, KvCacheOptions kv, CudaRunnerOptions? options = null)
        : this(model.Config, model.Weights, kv, options) { }

    /// <summary>A runner over weights alone; <paramref name="kv"/>.NumBlocks = 0 sizes the cache from free memory.</summary>
    public CudaModelRunner(LlamaConfig config, LlamaWeights weights, KvCacheOptions kv, CudaRunnerOptions? options = null)
    {
        var o = options ?? new CudaRunnerOptions();
        _useGraphs = o.Graphs;
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
            _invFreq = _mem.Upload<double>(RotaryFrequencies.Inverse(_c.RopeTheta, _headDim, _c.RopeScaling), "rope inv_freq");
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
        var step = Run(b);
        for (int r = 0; r < n; r += CudaScratch.LogitRows)
        {
            int rows = step.Head is null ? Head(step, r, n) : n;
            _ctx.Synchronize();
            fixed (float* lp = logits.Slice(r * V)) _ctx.Download(lp, _s.Logits, (long)rows * V * sizeof(float));
        }
        if (n == 0) _ctx.Synchronize();
        BookProfile();
    }

    /// <summary>
    /// A step on the device: its uploaded indices, and where its logits rows are (Xn: rows 0..n-1 of the final norm's
    /// output, else Final: the gathered rows).
    /// </summary>
    /// <remarks>Head: the graph ran lm_head on the one logits row itself (with its greedy choice where Head.Ids != 0); null: <see cref="Head"/> runs it.</remarks>
    readonly record struct Step(CudaScratch.Meta Meta, bool LogitsInXn, CudaLmHead.Greedy? Head);

    /// <summary>Every layer of the batch (a CUDA graph for decode steps), with the first logits rows' final norm gathered.</summary>
    Step Run(ForwardBatch b, ReadOnlySpan<int> feed = default, ulong prevIds = 0, CudaSampler.Staged parms = default, CudaSampler? sampler = null)
    {
        int n = b.NumLogits;
        int maxQuery = 0;
        for (int q = 0; q < b.NumSeqs; q++) maxQuery = Math.Max(maxQuery, b.QueryLen(q));
        bool decode = maxQuery == 1 && b.NumTokens == b.NumSeqs;   // one query per sequence, its newest position
        bool graph = _useGraphs && _prof is null && decode && b.NumTokens <= CudaScratch.LogitRows
            && b.NumTokens <= GptqPlanner.MaxRows && _w.AllQuantized;
        // A decode step runs as its graph's bucket: rows past the batch are padding (see CudaScratch.WriteMeta).
        int T = b.NumTokens;
        if (graph && DecodeGraphs.Bucket(T) <= Math.Min(GptqPlanner.MaxRows, CudaScratch.LogitRows)) T = DecodeGraphs.Bucket(T);
        _s.Ensure(T);
        int maxCtx = 0;
        for (int t = 0; t < b.NumTokens; t++) maxCtx = Math.Max(maxCtx, b.Positions[t] + 1);
        int splits = T <= CudaScratch.SplitTokens ? Splits(T, maxCtx) : 1;
        int maxb = graph ? (b.MaxBlocksPerSeq + 63) / 64 * 64 : b.MaxBlocksPerSeq;
        bool fresh = T > CudaScratch.SplitTokens && BlasAttention.MaxTokens > 0;
        for (int q = 0; q < b.NumSeqs && fresh; q++)
            fresh = b.QueryLen(q) <= _s.BlasTokens && (b.QueryLen(q) == 0 || b.Positions[b.QueryStart[q]] == 0);
        // Tiles of up to 64 queries pay off for prompt chunks; a wide decode step (a query or a few per sequence) stays paged.
        var tiles = !fresh && T > CudaScratch.SplitTokens && maxQuery >= 8 && _headDim <= Kernels.PrefillMaxHeadDim && _headDim % 4 == 0
            ? Kernels.PrefillTiles(b.QueryStart, b.NumSeqs, b.Positions) : null;
        var m = _s.WriteMeta(b, maxb, tiles, T, feed);
        // The inputs come from mapped host memory in one kernel, which also embeds the tokens: no copies on the stream. A
        // decode graph holds it as its first node (so the first q/k/v's prologue overlaps it), given this step's arguments.
        void Stage((nint, nint) node = default) =>
            _k.StageEmbed(m.Host, m.Ids, m.Count, T, m.FeedAt, prevIds, _w.Embedding, _s.X, _hidden, parms.Host, parms.Device, parms.Ints, node);
        // A decode step whose logits rows are its tokens in order reads them straight from the final norm's output;
        // other steps gather the rows first (a padded graph gathers every row it computes, the padding row 0).
        bool inXn = graph && n == b.NumTokens && IsIdentity(b.LogitIndices.AsSpan(0, n));
        int first = inXn ? 0 : graph && n == b.NumTokens ? T : Math.Min(n, CudaScratch.LogitRows);
        // A one-row decode step runs lm_head inside its graph, with a greedy row's choice (else logits only).
        CudaLmHead.Greedy? head = inXn && _lmHead is { } h && h.Takes(n) ? sampler?.FusedGreedy(0, n, h.Blocks) ?? default : null;
        Mark("start");
        var plan = new AttentionPlan(splits, (tiles?.Length ?? 0) / 2, fresh ? b.QueryStart[..(b.NumSeqs + 1)] : null,
            decode && !fresh && tiles is null && (long)_c.NumHeads * T * splits <= 2L * _ctx.Multiprocessors);
        if (graph)
            _graphs.Run(new DecodeGraphs.Key(T, maxb, splits, first, head), _s.Generation, () => { Stage(); Layers(m, T, maxb, plan, first, head); }, Stage);
        else
        {
            Stage();
            Layers(m, T, maxb, plan, first, head);
        }
        return new Step(m, inXn, head);
    }

    static bool IsIdentity(ReadOnlySpan<int> idx)
    {
        for (int i = 0; i < idx.Length; i++)
            if (idx[i] != i) return false;
        return true;
    }

    /// <summary>Logits rows r.. (at most LogitRows of the n) into the logits scratch; returns how many.</summary>
    int Head(Step step, int r, int n, CudaLmHead.Greedy greedy = default)
    {
        int rows = Math.Min(CudaScratch.LogitRows, n - r);
        if (r > 0) _k.GatherRows(_s.Xn, step.Meta.LogitIdx + 4UL * (ulong)r, _s.Final, _hidden, rows);
        ulong x = step.LogitsInXn ? _s.Xn : _s.Final;
        if (_lmHead is { } h && h.Takes(rows)) h.Forward(x, _s.Logits, greedy);
        else _w.LmHead.Forward(x, _s.Logits, rows, _s.Linear);
        Mark("lm_head");
        return rows;
    }

    /// <summary>Warps per paged-attention block: 8 below 32 tokens (more keys in flight per block), 4 from 32 (more blocks per SM).</summary>
    internal static int AttentionWarpsFor(int tokens) => tokens >= 32 ? 4 : 8;

    int Splits(int tokens, int maxCtx) => AttentionSplits(_ctx.Multiprocessors, tokens, _c.NumHeads, maxCtx);

    /// <summary>
    /// Split-K for paged attention: none below 256 keys (merging the splits costs more than it saves), else splits of at
    /// least 128 keys, up to enough blocks to cover the GPU twice, at most MaxSplits.
    /// </summary>
    internal static int AttentionSplits(int sms, int tokens, int heads, int maxCtx)
    {
        if (maxCtx < 256) return 1;
        int want = Math.Max(1, 2 * sms / Math.Max(1, tokens * heads));
        return Math.Clamp(Math.Min(want, maxCtx / 128), 1, CudaScratch.MaxSplits);
    }

    /// <summary>
    /// How a step's attention runs: GEMMs per fresh prompt (PromptStarts), tiled prefill tiles, or paged with splits;
    /// RopeInAttention (paged decode steps whose attention grid fits about one wave, heads x tokens x splits &lt;= 2 blocks
    /// per SM): the attention kernel rotates q and the step's K/V and writes the cache itself, in place of rope_kv (with
    /// more waves, each would repeat the rotation's latency).
    /// </summary>
    readonly record struct AttentionPlan(int Splits, int NumTiles, int[]? PromptStarts, bool RopeInAttention);

    /// <summary>
    /// Every layer (x holds the embedded tokens), the final norm, and the first <paramref name="logitRows"/> logit rows gathered;
    /// attention as <paramref name="plan"/> says.
    /// </summary>
    void Layers(CudaScratch.Meta m, int T, int maxb, AttentionPlan plan, int logitRows, CudaLmHead.Greedy? head)
    {
        var s = _s;
        float scale = 1f / MathF.Sqrt(_headDim);
        for (int l = 0; l < _w.Layers.Length; l++)
        {
            var L = _w.Layers[l];
            Mark("other");
            // Where the q/k/v projection is one layer whose kernel norms its input itself, no rmsnorm launch.
            CudaLinear.InputNorm? attnNorm = L.Qkv is [var qkv] && qkv.TakesNorm(T) ? AttnNormIn(l) : null;
            if (attnNorm is null) _k.RmsNorm(s.X, _w.AttnNorm[l], s.Xn, _hidden, _c.RmsNormEps, T);
            Mark("norm");
            int ld = _qDim + 2 * _kvDim, off = 0;
            foreach (var p in L.Qkv) { p.Forward(s.Xn, s.Qkv + 4UL * (ulong)off, T, s.Linear, ld, norm: attnNorm); off += p.Out; }
            Mark("qkv_proj");
            ulong kc = _kCache + (ulong)(l * _layerStride * 2), vc = _vCache + (ulong)(l * _layerStride * 2);
            bool blas = plan.PromptStarts is not null;
            if (!plan.RopeInAttention)
                _k.RopeKv(s.Qkv, s.Qkv + 4UL * (ulong)_qDim, s.Qkv + 4UL * (ulong)(_qDim + _kvDim), s.Qh, kc, vc, m.Pos, m.Slot, _invFreq,
                    _c.NumHeads, _c.NumKvHeads, _headDim, (int)_c.RopeStyle, T, ld, blas ? s.Kh : 0, blas ? s.Vh : 0);
            Mark("rope_kv");
            if (plan.PromptStarts is { } starts)
                for (int q = 0; q + 1 < starts.Length; q++)
                {
                    if (starts[q + 1] > starts[q])
                        _blas.Run(s.Qh, s.Kh, s.Vh, s.Att, starts[q], starts[q + 1] - starts[q], s.AttS, s.AttP, scale);
                }
            else if (plan.NumTiles > 0)
                _k.PrefillAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, m.Tiles, s.Att, _c.NumHeads, _c.NumKvHeads, _headDim,
                    BlockSize, maxb, scale, plan.NumTiles);
            else
                _k.PagedAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, s.Att, s.Part, s.SplitsDone, _c.NumHeads, _c.NumKvHeads, _headDim,
                    BlockSize, maxb, scale, plan.Splits, T, AttentionWarpsFor(T),
                    plan.RopeInAttention ? new Kernels.DecodeRope(s.Qkv, ld, m.Slot, _invFreq, (int)_c.RopeStyle) : null);
            Mark("attention");
            // o_proj and down_proj add straight into the residual stream x (no zeroing, no separate add).
            L.O.Forward(s.Att, s.X, T, s.Linear, accumulate: true);
            Mark("o_proj");
            _k.RmsNorm(s.X, _w.FfnNorm[l], s.Xn, _hidden, _c.RmsNormEps, T);
            Mark("norm");
            if (L.GateUp is [{ SiluPairs: true } gateUp]) gateUp.ForwardSilu(s.Xn, s.Act, T, s.Linear, s.GateUp);
            else
            {
                off = 0;
                foreach (var p in L.GateUp) { p.Forward(s.Xn, s.GateUp + 4UL * (ulong)off, T, s.Linear, 2 * _ffn); off += p.Out; }
                _k.SiluMul(s.GateUp, s.GateUp + 4UL * (ulong)_ffn, s.Act, _ffn, 2 * _ffn, T);
            }
            Mark("gate_up_silu");
            L.Down.Forward(s.Act, s.X, T, s.Linear, accumulate: true);
            Mark("down_proj");
        }
        _k.RmsNorm(s.X, _w.FinalNorm, s.Xn, _hidden, _c.RmsNormEps, T);
        if (logitRows > 0) _k.GatherRows(s.Xn, m.LogitIdx, s.Final, _hidden, logitRows);
        Mark("other");
        if (head is { } g)
        {
            _lmHead!.Forward(s.Xn, s.Logits, g);
            Mark("lm_head");
        }
    }

    /// <summary>Layer l's attention norm done by its q/k/v kernel: with f16 weights where they are exact (16 KiB less shared memory).</summary>
    CudaLinear.InputNorm AttnNormIn(int l) => _w.AttnNormHalf[l] != 0
        ? new(_s.X, _w.AttnNormHalf[l], _c.RmsNormEps, Half: true) : new(_s.X, _w.AttnNorm[l], _c.RmsNormEps);

    /// <summary>With <see cref="CudaRunnerOptions.Profile"/>: records an event; the GPU time since the previous one is booked to <paramref name="phase"/>.</summary>
    void Mark(string phase)
    {
        if (_prof is null) return;
        if (_profUsed == _profEvents.Count)
        {
            Native.Cu.Check(Native.Cu.cuEventCreate(out var e, 0), "cuEventCreate");
            _profEvents.Add((phase, e));
        }
        var ev = _profEvents[_profUsed].Event;
        _profEvents[_profUsed++] = (phase, ev);
        Native.Cu.Check(Native.Cu.cuEventRecord(ev, _ctx.Stream), "cuEventRecord");
    }

    /// <summary>Books the recorded events' intervals (call after the stream is synchronized).</summary>
    void BookProfile()
    {
        if (_prof is null) return;
        for (int i = 1; i < _profUsed; i++)
        {
            Native.Cu.Check(Native.Cu.cuEventElapsedTime(out float ms, _profEvents[i - 1].Event, _profEvents[i].Event), "cuEventElapsedTime");
            var phase = _profEvents[i].Phase;
            _prof[phase] = _prof.GetValueOrDefault(phase) + ms;
        }
        _profUsed = 0;
    }

    /// <summary>GPU milliseconds per phase since the last call (with <see cref="CudaRunnerOptions.Profile"/>; null otherwise), then resets.</summary>
    public string? TakeProfile()
    {
        if (_prof is null) return null;
        var r = string.Join(", ", _prof.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:F2}"));
        _prof.Clear();
        return r;
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
