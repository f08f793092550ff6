using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>Per-step device buffers, grown to the largest batch seen, and the batch's index arrays.</summary>
internal sealed unsafe class CudaScratch : IDisposable
{
    /// <summary>Logits rows computed per lm_head pass.</summary>
    public const int LogitRows = 256;
    /// <summary>Split-K attention is used for steps of at most this many tokens, with at most MaxSplits splits.</summary>
    public const int SplitTokens = 64, MaxSplits = 16;

    readonly DeviceArena _mem;
    readonly int _hidden, _qDim, _kvDim, _ffn, _vocab, _heads, _headDim;
    readonly CudaModelWeights _w;
    readonly List<ulong> _bufs = [];
    int _cap, _metaCap;
    // [metaCap] i32 mapped, the batch's indices until the step's stage kernel reads them; two, used in turn, so a step
    // can be prepared while the stage kernel of the one queued before it has not run yet.
    readonly PinnedBuffer[] _metaHost = [new(), new()];
    int _metaTurn;
    ulong _metaDev;

    public ulong X;      // [T, hidden] f32 residual stream (o_proj and down_proj add into it)
    public ulong Xn;     // [T, hidden] f16 normed input of q/k/v and gate/up; final norm output
    public ulong Qkv;    // [T, q_dim + 2 kv_dim] f32 q | k | v
    public ulong Qh;     // [T, q_dim] f16 rotated q
    public ulong Att;    // [T, q_dim] f16 attention output
    public ulong GateUp; // [T, 2 ffn] f32 gate | up, or alternating runs of 8 (CudaLinear.SiluPairs)
    public ulong Act;    // [T, ffn] f16 silu(gate) * up
    public ulong Final;  // [min(T, LogitRows), hidden] f16 rows whose logits are wanted
    public ulong Logits; // [min(T, LogitRows), vocab] f32
    public ulong Part;   // [SplitTokens, heads, MaxSplits, head_dim + 2] f32 split-K partials
    public ulong SplitsDone; // [SplitTokens, heads] i32 finished splits per (token, head); zero between steps
    public ulong Linear; // f16 scratch of CudaLinear (permuted x, dequantised W)
    public ulong Kh, Vh; // [T, kv_dim] f16 contiguous rotated K and V (prompt attention through GEMMs)
    public ulong AttS;   // [heads, L, L] f32 scores, L = BlasTokens
    public ulong AttP;   // [heads, L, L] f16 probabilities
    /// <summary>Longest prompt the GEMM attention can take with the current buffers.</summary>
    public int BlasTokens { get; private set; }

    /// <summary>Rows the buffers hold now (<see cref="Ensure"/> grows them).</summary>
    public int Capacity => _cap;

    /// <summary>The <see cref="BlasTokens"/> of buffers for <paramref name="capacity"/> rows: steps of more than SplitTokens rows get the GEMM attention's scratch.</summary>
    public static int BlasTokensFor(int capacity) => capacity > SplitTokens ? Math.Min(capacity, BlasAttention.MaxTokens) : 0;

    public CudaScratch(DeviceArena mem, LlamaConfig c, int headDim, CudaModelWeights w)
    {
        _mem = mem; _w = w;
        _hidden = c.HiddenSize; _headDim = headDim; _heads = c.NumHeads;
        _qDim = c.NumHeads * headDim; _kvDim = c.NumKvHeads * headDim; _ffn = c.IntermediateSize; _vocab = c.VocabSize;
    }

    /// <summary>Changes whenever a buffer moves (captured graphs hold addresses).</summary>
    public int Generation { get; private set; }

    public void Ensure(int tokens)
    {
        if (tokens <= _cap) return;
        foreach (var p in _bufs) _mem.Free(p);
        _bufs.Clear();
        int T = tokens, n = Math.Min(T, LogitRows);
        X = A(4L * T * _hidden, "x"); Xn = A(2L * T * _hidden, "xn");
        Qkv = A(4L * T * (_qDim + 2 * _kvDim), "qkv");
        Qh = A(2L * T * _qDim, "qh"); Att = A(2L * T * _qDim, "att");
        GateUp = A(8L * T * _ffn, "gate_up"); Act = A(2L * T * _ffn, "act");
        Final = A(2L * n * _hidden, "final"); Logits = A(4L * n * _vocab, "logits");
        Part = A(4L * SplitTokens * _heads * MaxSplits * (_headDim + 2), "attention partials");
        SplitsDone = A(4L * SplitTokens * _heads, "attention split counters");
        _mem.Ctx.ZeroAsync(SplitsDone, 4L * SplitTokens * _heads);
        long lin = _w.LmHead.ScratchBytes(n);
        foreach (var l in _w.Layers) foreach (var x in l.All) lin = Math.Max(lin, x.ScratchBytes(T));
        Linear = A(lin, "linear scratch");
        Kh = A(2L * T * _kvDim, "kh"); Vh = A(2L * T * _kvDim, "vh");
        BlasTokens = BlasTokensFor(T);
        long att = (long)_heads * BlasTokens * BlasTokens;
        AttS = A(4 * att, "attention scores"); AttP = A(2 * att, "attention probabilities");
        _cap = T;
        Generation++;
    }

    ulong A(long bytes, string what)
    {
        ulong p = _mem.Alloc(bytes, "activations: " + what);
        _bufs.Add(p);
        return p;
    }

    /// <summary>
    /// Device addresses of the batch's index arrays, and where they wait in mapped host memory until the step's stage kernel
    /// copies them (Host: Count i32; FeedAt &gt; 0: the index there of feed [tokens], which tokens take an id of the step before).
    /// </summary>
    public readonly record struct Meta(ulong Ids, ulong Pos, ulong Slot, ulong SeqOf, ulong LogitIdx, ulong Tables, ulong Tiles, ulong Host, int Count, int FeedAt);

    /// <summary>
    /// Writes ids, positions, slots, sequence of each token, logit rows and block tables (rows of
    /// <paramref name="maxBlocks"/> >= b.MaxBlocksPerSeq, padded with -1) and prefill tiles to mapped host memory, for
    /// <paramref name="tokens"/> >= b.NumTokens rows: the rows past the batch are padding (token 0 at position 0 of
    /// sequence 0, slot -1 so no KV is written, logit row 0). A non-empty <paramref name="feed"/> [b.NumTokens] follows (-1 for padding).
    /// </summary>
    public Meta WriteMeta(ForwardBatch b, int maxBlocks, int[]? tiles, int tokens, ReadOnlySpan<int> feed = default)
    {
        int T = tokens, real = b.NumTokens, tables = b.NumSeqs * maxBlocks, nt = tiles?.Length ?? 0;
        if (T < real) throw new ArgumentOutOfRangeException(nameof(tokens), $"{tokens} rows for a batch of {real} tokens");
        if (feed.Length != 0 && feed.Length != real) throw new ArgumentException($"feed: {feed.Length} entries for {real} tokens");
        int nf = feed.Length != 0 ? T : 0;
        int need = 5 * T + tables + nt + nf;
        if (need > _metaCap)
        {
            _mem.Free(_metaDev);
            _metaCap = Math.Max(need, 2 * _metaCap);
            _metaDev = _mem.Alloc(4L * _metaCap, "batch indices");
            Generation++;
        }
        var m = _metaHost[_metaTurn ^= 1].Get<int>(need);
        m[..(5 * T)].Clear();
        m.Slice(2 * T + real, T - real).Fill(-1);
        b.TokenIds.AsSpan(0, real).CopyTo(m);
        b.Positions.AsSpan(0, real).CopyTo(m[T..]);
        b.SlotMapping.AsSpan(0, real).CopyTo(m[(2 * T)..]);
        for (int s = 0; s < b.NumSeqs; s++)
            for (int t = b.QueryStart[s]; t < b.QueryStart[s + 1]; t++) m[3 * T + t] = s;
        b.LogitIndices.AsSpan(0, b.NumLogits).CopyTo(m[(4 * T)..]);
        m.Slice(5 * T, tables).Fill(-1);
        for (int s = 0; s < b.NumSeqs; s++) b.BlockTable(s).CopyTo(m[(5 * T + s * maxBlocks)..]);
        tiles?.CopyTo(m[(5 * T + tables)..]);
        if (nf > 0)
        {
            feed.CopyTo(m[(5 * T + tables + nt)..]);
            m.Slice(5 * T + tables + nt + real, T - real).Fill(-1);
        }
        ulong d = _metaDev;
        return new Meta(d, d + 4UL * (ulong)T, d + 8UL * (ulong)T, d + 12UL * (ulong)T, d + 16UL * (ulong)T, d + 20UL * (ulong)T,
            d + 4UL * (ulong)(5 * T + tables), _metaHost[_metaTurn].Device, need, nf > 0 ? 5 * T + tables + nt : 0);
    }

    public void Dispose() { _metaHost[0].Dispose(); _metaHost[1].Dispose(); }
}
