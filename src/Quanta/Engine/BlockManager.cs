using System.Runtime.InteropServices;

namespace Quanta.Engine;

/// <summary>
/// Paged KV cache bookkeeping: blocks of <see cref="BlockSize"/> tokens, reference counts, a free list
/// in least-recently-used order, and prefix caching (every full computed block is keyed by the hash of
/// its token chain; freed hashed blocks stay findable until evicted).
/// </summary>
public sealed class BlockManager
{
    const int None = -1;
    public int BlockSize { get; }
    public int NumBlocks { get; }
    public bool PrefixCaching { get; }

    readonly int[] _refs;           // [blocks]
    readonly bool[] _hashed;        // [blocks] registered in _cached
    readonly ulong[] _hash;         // [blocks] chain hash when hashed
    readonly int[] _blockTokens;    // [blocks, block_size] ids of a hashed block
    readonly int[] _prev, _next;    // [blocks] free-list links; head = evicted first
    readonly Dictionary<ulong, int> _cached = [];
    int _head = None, _tail = None;

    public int FreeBlocks { get; private set; }
    public int UsedBlocks => NumBlocks - FreeBlocks;
    /// <summary>Prompt tokens looked up in the prefix cache / found there.</summary>
    public long PrefixQueries { get; private set; }
    public long PrefixHits { get; private set; }

    public BlockManager(int numBlocks, int blockSize, bool prefixCaching = true)
    {
        if (numBlocks < 1 || blockSize < 1) throw new ArgumentException($"KV cache needs blocks (got {numBlocks} x {blockSize})");
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        PrefixCaching = prefixCaching;
        _refs = new int[numBlocks];
        _hashed = new bool[numBlocks];
        _hash = new ulong[numBlocks];
        _blockTokens = new int[numBlocks * blockSize];
        _prev = new int[numBlocks];
        _next = new int[numBlocks];
        for (int b = 0; b < numBlocks; b++) PushTail(b);
    }

    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;
    public int RefCount(int block) => _refs[block];
    public bool IsCached(int block) => _hashed[block];

    /// <summary>
    /// Gives a waiting sequence blocks for all its tokens, reusing cached prefix blocks (at least one token
    /// is left to compute). Sets NumComputed to the cached length. False, with nothing changed, when short of blocks.
    /// </summary>
    public bool TryAllocate(Sequence s)
    {
        var tokens = CollectionsMarshal.AsSpan(s.Tokens);
        int need = BlocksFor(tokens.Length), revived = 0;
        ulong h = 0;
        if (PrefixCaching && !s.NoPrefixCache)
            for (int i = 0; i < (tokens.Length - 1) / BlockSize; i++)
            {
                var chunk = tokens.Slice(i * BlockSize, BlockSize);
                h = ChainHash(h, chunk);
                if (!_cached.TryGetValue(h, out int b) || !chunk.SequenceEqual(BlockTokens(b))) break;
                s.BlockTable.Add(b);
                s.BlockHashes.Add(h);
                if (_refs[b] == 0) revived++;
            }
        int hits = s.BlockTable.Count;
        if (FreeBlocks - revived < need - hits)
        {
            s.BlockTable.Clear();
            s.BlockHashes.Clear();
            return false;
        }
        foreach (int b in s.BlockTable)
            if (_refs[b]++ == 0) Unlink(b);
        while (s.BlockTable.Count < need) s.BlockTable.Add(TakeFree());
        s.NumComputed = hits * BlockSize;
        PrefixQueries += tokens.Length;
        PrefixHits += hits * BlockSize;
        return true;
    }

    /// <summary>Grows a running sequence's table to hold <paramref name="tokens"/> tokens; false when out of blocks.</summary>
    public bool TryAppend(Sequence s, int tokens)
    {
        int need = BlocksFor(tokens);
        while (s.BlockTable.Count < need)
        {
            if (FreeBlocks == 0) return false;
            s.BlockTable.Add(TakeFree());
        }
        return true;
    }

    /// <summary>Registers the blocks that became full and computed in the prefix cache.</summary>
    public void CommitComputed(Sequence s)
    {
        if (!PrefixCaching) return;
        var tokens = CollectionsMarshal.AsSpan(s.Tokens);
        int full = s.NumComputed / BlockSize;
        for (int i = s.BlockHashes.Count; i < full; i++)
        {
            var chunk = tokens.Slice(i * BlockSize, BlockSize);
            ulong h = ChainHash(i == 0 ? 0 : s.BlockHashes[i - 1], chunk);
            s.BlockHashes.Add(h);
            int b = s.BlockTable[i];
            if (_hashed[b] || _cached.ContainsKey(h)) continue;
            _cached[h] = b;
            _hashed[b] = true;
            _hash[b] = h;
            chunk.CopyTo(_blockTokens.AsSpan(b * BlockSize, BlockSize));
        }
    }

    /// <summary>Drops the sequence's references; blocks reaching zero go to the free list (hashed ones stay cached).</summary>
    public void Free(Sequence s)
    {
        for (int i = s.BlockTable.Count - 1; i >= 0; i--)
        {
            int b = s.BlockTable[i];
            if (--_refs[b] > 0) continue;
            if (_hashed[b]) PushTail(b); else PushHead(b);
        }
        s.BlockTable.Clear();
        s.BlockHashes.Clear();
        s.NumComputed = 0;
    }

    /// <summary>Hash of a block given the hash of the block before it (0 for the first).</summary>
    public static ulong ChainHash(ulong prev, ReadOnlySpan<int> tokens)
    {
        ulong h = prev ^ 0x9E3779B97F4A7C15UL;
        foreach (int t in tokens)
        {
            h = (h ^ (uint)t) * 0xBF58476D1CE4E5B9UL;
            h ^= h >> 31;
        }
        return (h * 0x94D049BB133111EBUL) ^ (h >> 29);
    }

    ReadOnlySpan<int> BlockTokens(int b) => _blockTokens.AsSpan(b * BlockSize, BlockSize);

    int TakeFree()
    {
        int b = _head;
        if (b == None) throw new InvalidOperationException("KV cache: no free block");
        Unlink(b);
        if (_hashed[b])
        {
            _cached.Remove(_hash[b]);
            _hashed[b] = false;
        }
        _refs[b] = 1;
        return b;
    }

    void Unlink(int b)
    {
        if (_prev[b] != None) _next[_prev[b]] = _next[b]; else _head = _next[b];
        if (_next[b] != None) _prev[_next[b]] = _prev[b]; else _tail = _prev[b];
        FreeBlocks--;
    }

    void PushTail(int b)
    {
        _prev[b] = _tail; _next[b] = None;
        if (_tail != None) _next[_tail] = b; else _head = b;
        _tail = b;
        FreeBlocks++;
    }

    void PushHead(int b)
    {
        _next[b] = _head; _prev[b] = None;
        if (_head != None) _prev[_head] = b; else _tail = b;
        _head = b;
        FreeBlocks++;
    }
}
