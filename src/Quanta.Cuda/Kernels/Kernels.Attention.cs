namespace Quanta.Cuda;

internal sealed unsafe partial class Kernels
{
    /// <summary>
    /// Paged causal attention with <paramref name="warps"/> (4 or 8) warps per (head, token, split); splits &gt; 1 writes partials to part [T, H, splits, D+2] f32 and the last split of each
    /// (token, head) merges them, counting in counters [T, H] i32 (zero before, left zero).
    /// </summary>
    public void PagedAttention(ulong q, ulong kc, ulong vc, ulong seqOf, ulong pos, ulong tables, ulong output, ulong part, ulong counters,
        int heads, int kvHeads, int headDim, int blockSize, int maxBlocks, float scale, int splits, int tokens, int warps = 4, DecodeRope? rope = null)
    {
        string name = PagedAttentionKernel(warps, headDim, rope is not null, (long)heads * tokens * splits, _sms);
        var (qkv, ld, slot, invFreq, style) = rope ?? default;   // the plain kernels take only the first 16 arguments
        void** a = stackalloc void*[] { &q, &kc, &vc, &seqOf, &pos, &tables, &output, &part, &counters, &heads, &kvHeads, &headDim, &blockSize,
            &maxBlocks, &scale, &splits, &qkv, &ld, &slot, &invFreq, &style };
        Go("attention", name, ((uint)heads, (uint)tokens, (uint)splits), (uint)(32 * warps), a);
    }

    /// <summary>
    /// The paged-attention kernel of attention.cu for <paramref name="blocks"/> blocks on <paramref name="sms"/> SMs: head_dim
    /// &lt;= 128 takes a key per 4 lanes (_g4: twice the keys per round of loads), wider heads a key per 8; a decode step that
    /// rotates its own K/V (<paramref name="rope"/>) in 8-warp blocks of 4-lane groups, where every block has an SM to itself,
    /// loads each group's second and third keys before its wait (_rope_pre: one block per SM by its registers).
    /// </summary>
    internal static string PagedAttentionKernel(int warps, int headDim, bool rope, long blocks, int sms)
    {
        if (warps is not (4 or 8)) throw new ArgumentException($"paged attention runs 4 or 8 warps per block, not {warps}");
        bool g4 = headDim <= 128;
        string name = (warps == 8 ? "paged_attention_8" : "paged_attention") + (g4 ? "_g4" : "");
        return rope ? name + (warps == 8 && g4 && blocks <= sms ? "_rope_pre" : "_rope") : name;
    }

    /// <summary>
    /// Inputs of paged attention that rotates q and the step's own K/V itself (decode steps: every token the last position of
    /// its sequence) and writes the K/V into the cache, in place of rope_kv: qkv [tokens, ld] f32 (q, k, v side by side),
    /// slot [tokens] i32, invFreq [head_dim/2] f64, style 0 rotate-half, 1 interleaved.
    /// </summary>
    public readonly record struct DecodeRope(ulong Qkv, int Ld, ulong Slot, ulong InvFreq, int Style);

    /// <summary>Largest head_dim the tiled prefill attention takes (it also needs head_dim % 4 == 0).</summary>
    public const int PrefillMaxHeadDim = 128;
    const int PrefillSmem = (64 * 132 + 2 * 32 * 132 + 64 * 36) * sizeof(float);

    /// <summary>Tiled causal attention; tiles [n, 2] (first token, count &lt;= 64) of consecutive positions of one sequence.</summary>
    public void PrefillAttention(ulong q, ulong kc, ulong vc, ulong seqOf, ulong pos, ulong tables, ulong tiles, ulong output,
        int heads, int kvHeads, int headDim, int blockSize, int maxBlocks, float scale, int numTiles)
    {
        nint fn = _r.Function("prefill_attention", "prefill_attention");
        if (!_r.AllowSharedMemory(fn, PrefillSmem))
            throw new InvalidOperationException($"prefill_attention: the GPU refuses {PrefillSmem} bytes of dynamic shared memory per block");
        void** a = stackalloc void*[] { &q, &kc, &vc, &seqOf, &pos, &tables, &tiles, &output, &heads, &kvHeads, &headDim, &blockSize, &maxBlocks, &scale };
        _r.Launch(fn, ((uint)numTiles, (uint)heads, 1), 256, PrefillSmem, a, "prefill_attention");
    }

    /// <summary>Tiles of at most 64 tokens per sequence, or null when some sequence's positions are not consecutive.</summary>
    public static int[]? PrefillTiles(int[] queryStart, int numSeqs, int[] positions)
    {
        var tiles = new List<int>();
        for (int s = 0; s < numSeqs; s++)
            for (int t0 = queryStart[s]; t0 < queryStart[s + 1]; t0 += 64)
            {
                int n = Math.Min(64, queryStart[s + 1] - t0);
                for (int i = 1; i < n; i++)
                    if (positions[t0 + i] != positions[t0] + i) return null;
                tiles.Add(t0); tiles.Add(n);
            }
        return [.. tiles];
    }
}
