using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>
/// What the decoder layers of one CPU forward share: the shapes, the RoPE tables of the step's positions, the paged
/// KV cache and attention over it, the worker threads and the step's activation buffers (grown to the largest batch
/// seen). <see cref="Begin"/> prepares a step; every <see cref="CpuLayer"/> of the step then runs on it.
/// </summary>
internal sealed unsafe class LayerContext : IDisposable
{
    readonly ScratchBuffer _norm = new(), _o = new(), _qb = new(), _att = new(), _kb = new(), _vb = new(),
        _gate = new(), _up = new(), _cos = new(), _sin = new();

    /// <param name="config">the shapes; its RoPE style and scaling decide the rotation.</param>
    /// <param name="layers">layers the KV cache holds.</param>
    /// <param name="kv">block size and block count; 0 blocks = room for one max_position_embeddings sequence.</param>
    /// <param name="threads">worker threads; 0 = one per processor.</param>
    public LayerContext(LlamaConfig config, int layers, KvCacheOptions kv, int threads)
    {
        Hidden = config.HiddenSize;
        HeadDim = config.EffectiveHeadDim;
        if (config.NumKvHeads <= 0 || config.NumHeads % config.NumKvHeads != 0)
            throw new ModelLoadException($"config: num_attention_heads {config.NumHeads} is not a multiple of num_key_value_heads {config.NumKvHeads}");
        if (HeadDim % 2 != 0) throw new ModelLoadException($"config: head_dim {HeadDim} must be even for RoPE");
        if (kv.BlockSize <= 0 || kv.NumBlocks < 0) throw new ArgumentException($"KV cache needs block_size > 0 and num_blocks >= 0, got {kv.BlockSize} x {kv.NumBlocks}");
        int numBlocks = kv.NumBlocks > 0 ? kv.NumBlocks : (Math.Max(1, config.MaxPositionEmbeddings) + kv.BlockSize - 1) / kv.BlockSize;
        Heads = config.NumHeads;
        KvHeads = config.NumKvHeads;
        QDim = Heads * HeadDim;
        KvDim = KvHeads * HeadDim;
        Ffn = config.IntermediateSize;
        Eps = config.RmsNormEps;
        Rope = new Rope(config, HeadDim);
        Pool = new WorkerPool(threads > 0 ? threads : Environment.ProcessorCount);
        Cache = new PagedKvCache(layers, numBlocks, kv.BlockSize, KvDim);
        Attention = new Attention(Cache, Heads, KvHeads, HeadDim);
    }

    public int Hidden { get; }
    public int HeadDim { get; }
    public int Heads { get; }
    public int KvHeads { get; }
    public int QDim { get; }            // heads * head_dim
    public int KvDim { get; }           // kv_heads * head_dim
    public int Ffn { get; }
    public float Eps { get; }
    public Rope Rope { get; }
    public PagedKvCache Cache { get; }
    public Attention Attention { get; }
    public WorkerPool Pool { get; }
    /// <summary>Act-order activations gathered for the int4 kernels, shared by every linear.</summary>
    public ScratchBuffer Gather { get; } = new();

    /// <summary>The step being run.</summary>
    public ForwardBatch Batch { get; private set; } = new();
    public int Tokens { get; private set; }
    /// <summary>[tokens] sequence index of each token.</summary>
    public int[] SeqOf { get; private set; } = [];
    // Step buffers: norm/o [tokens, hidden], q/att [tokens, q_dim], k/v [tokens, kv_dim], gate/up [tokens, ffn],
    // cos/sin [tokens, head_dim/2].
    public float* Norm, O, Q, Att, K, V, Gate, Up, Cos, Sin;

    /// <summary>Sizes the step buffers for <paramref name="b"/> and computes its RoPE tables.</summary>
    public void Begin(ForwardBatch b)
    {
        int T = b.NumTokens;
        Batch = b;
        Tokens = T;
        if (SeqOf.Length < T) SeqOf = new int[T];
        for (int s = 0; s < b.NumSeqs; s++)
            for (int t = b.QueryStart[s]; t < b.QueryStart[s + 1]; t++) SeqOf[t] = s;
        Norm = _norm.Get((long)T * Hidden); O = _o.Get((long)T * Hidden);
        Q = _qb.Get((long)T * QDim); Att = _att.Get((long)T * QDim);
        K = _kb.Get((long)T * KvDim); V = _vb.Get((long)T * KvDim);
        Gate = _gate.Get((long)T * Ffn); Up = _up.Get((long)T * Ffn);
        int half = HeadDim / 2;
        Cos = _cos.Get((long)T * half); Sin = _sin.Get((long)T * half);
        Rope.Tables(b.Positions.AsSpan(0, T), Cos, Sin);
    }

    public void Dispose()
    {
        Pool.Dispose();
        Cache.Dispose();
    }
}
