namespace Quanta.Cuda;

/// <summary>Typed launchers, one per kernel, mirroring the .cu signatures (device pointers as ulong).</summary>
internal sealed unsafe class Kernels(CudaContext ctx)
{
    readonly KernelRegistry _r = ctx.Kernels;
    const uint Threads = 256;

    static uint Blocks(long n, uint threads) => (uint)Math.Min((n + threads - 1) / threads, 65535L * 16);

    void Go(string module, string name, (uint, uint, uint) grid, uint block, void** args, uint smem = 0)
        => _r.Launch(_r.Function(module, name), grid, block, smem, args, name);

    /// <summary>
    /// A step's inputs from mapped host memory: x [tokens, n] f32 = table [vocab, n] f16 rows of the ids (fed from prev where
    /// feedAt &gt; 0 says), meta [count] i32 = host [count], params [np] i32 = hostParams [np] (see elementwise.cu).
    /// </summary>
    /// <remarks>With <paramref name="node"/> (an instantiated decode graph's first node): sets that node's arguments instead of launching.</remarks>
    public void StageEmbed(ulong host, ulong meta, int count, int tokens, int feedAt, ulong prev, ulong table, ulong x, int n,
                           ulong hostParams, ulong parms, int np, (nint Exec, nint Node) node = default)
    {
        void** a = stackalloc void*[] { &host, &meta, &count, &tokens, &feedAt, &prev, &table, &x, &n, &hostParams, &parms, &np };
        uint copy = (uint)Math.Clamp((count + np + Threads - 1) / Threads, 1, 64);
        if (node.Exec == 0) Go("elementwise", "stage_embed", ((uint)tokens + copy, 1, 1), Threads, a);
        else _r.SetKernelNode(node, _r.Function("elementwise", "stage_embed"), ((uint)tokens + copy, 1, 1), Threads, 0, a, "stage_embed");
    }

    /// <summary>out = rmsnorm(x) * w. x [rows, n] f32, w [n] f32, out [rows, n] f16.</summary>
    public void RmsNorm(ulong x, ulong w, ulong output, int n, float eps, int rows)
    {
        void** a = stackalloc void*[] { &x, &w, &output, &n, &eps };
        Go("elementwise", "rmsnorm", ((uint)rows, 1, 1), 1024, a);
    }

    /// <summary>dst[r, :] = src[idx[r], :]; f16 rows of n.</summary>
    public void GatherRows(ulong src, ulong idx, ulong dst, int n, int rows)
    {
        void** a = stackalloc void*[] { &src, &idx, &dst, &n };
        Go("elementwise", "gather_rows", ((uint)rows, 1, 1), Threads, a);
    }

    /// <summary>out [rows, n] f16 = silu(g) * u; g, u rows of stride ld f32 (chunk 8: columns in alternating runs of 8, u = g + 8 floats).</summary>
    public void SiluMul(ulong g, ulong u, ulong output, int n, int ld, int rows, int chunk = 0)
    {
        void** a = stackalloc void*[] { &g, &u, &output, &n, &ld, &chunk };
        Go("elementwise", "silu_mul", (Blocks(n, Threads), (uint)rows, 1), Threads, a);
    }

    /// <summary>RoPE on q [T, H*D] f32 -> qh f16 and k; K/V [T, KH*D] f32 into the layer's caches [slots, KH*D] f16.</summary>
    /// <remarks>q, k, v rows have stride ld floats; kh, vh (0 = none): contiguous [T, KH*D] f16 copies of the rotated K and of V.</remarks>
    public void RopeKv(ulong q, ulong k, ulong v, ulong qh, ulong kc, ulong vc, ulong pos, ulong slot, ulong invFreq,
        int heads, int kvHeads, int headDim, int style, int tokens, int ld, ulong kh = 0, ulong vh = 0)
    {
        void** a = stackalloc void*[] { &q, &k, &v, &qh, &kc, &vc, &pos, &slot, &invFreq, &heads, &kvHeads, &headDim, &style, &kh, &vh, &ld };
        Go("elementwise", "rope_kv", ((uint)tokens, (uint)(heads + kvHeads), 1), 64, a);
    }

    /// <summary>P [H, L, L] f16 = causal row softmax of S [H, L, L] f32.</summary>
    public void CausalSoftmax(ulong s, ulong p, int len, int heads)
    {
        void** a = stackalloc void*[] { &s, &p, &len };
        Go("elementwise", "causal_softmax", ((uint)len, (uint)heads, 1), Threads, a);
    }

    /// <summary>y[r, i] = x[r, perm[i]]; x, y [rows, n] f16.</summary>
    public void PermuteCols(ulong x, ulong perm, ulong y, int n, int rows)
    {
        void** a = stackalloc void*[] { &x, &perm, &y, &n };
        Go("elementwise", "permute_cols", (Blocks(n, Threads), (uint)rows, 1), Threads, a);
    }

    /// <summary>qt (tiled, see gptq.cu) [ceil(out/16), ceil(in/64), 32] uint4 from qw [in/8, out] u32 in group order.</summary>
    public void GptqTile(ulong qw, ulong qt, int inF, int outF)
    {
        void** a = stackalloc void*[] { &qw, &qt, &inF, &outF };
        Go("gptq_pack", "gptq_tile", (Blocks((long)((outF + 15) / 16) * ((inF + 63) / 64) * 128, Threads), 1, 1), Threads, a);
    }

    /// <summary>sz [groups, npad] half2(scale, 1024 + zero + 1) from qz [groups, out/8] u32 and sc [groups, out] f16.</summary>
    public void GptqScalesZeros(ulong qz, ulong sc, ulong sz, int outF, int groups, int npad)
    {
        void** a = stackalloc void*[] { &qz, &sc, &sz, &outF, &groups, &npad };
        Go("gptq_pack", "gptq_scales_zeros", (Blocks((long)groups * npad, Threads), 1, 1), Threads, a);
    }

    /// <summary>
    /// y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · dequant(W) on tensor cores, 1 &lt;= m &lt;= 32: blocks of 8 warps,
    /// ks warps per 16-column tile along K, splits blocks along K, per k-steps of 64 each; with splits &gt; 1 or accumulate
    /// the product is added into y atomically (zero y first for a plain product). The variant says which kernel: see
    /// <see cref="GptqVariant"/>.
    /// </summary>
    /// <remarks>With <see cref="GptqVariant.Norm"/>, x is unused: each block computes rmsnorm(norm.Xres) * norm.W itself (m * in &lt;= 4096; W f16 where norm.Half).</remarks>
    public void GptqMma(ulong x, ulong qt, ulong sz, ulong y, int m, int inF, int outF, int gs, int ldy, int ks, int splits, int per, GptqVariant v,
                        bool accumulate = false, CudaLinear.InputNorm norm = default)
    {
        int atomic = accumulate ? 1 : 0;
        var (xres, nw, eps, _) = norm;
        void** a = stackalloc void*[] { &x, &qt, &sz, &y, &m, &inF, &outF, &gs, &ldy, &ks, &per, &atomic, &xres, &nw, &eps };
        if (v.Norm && (xres == 0 || nw == 0 || (long)m * inF > CudaLinear.NormMaxInputs || inF % 8 != 0))
            throw new ArgumentException($"the normed kernel needs the residual stream and norm weights, m * in <= {CudaLinear.NormMaxInputs}, in % 8 == 0");
        if (ks > v.Warps) throw new ArgumentException($"{ks} warps per tile in blocks of {v.Warps}");
        int tilesPerBlock = v.Warps / ks * (v.Pairs ? 2 : 1);
        if (v.Silu && (gs % 64 != 0 || splits != 1 || accumulate)) throw new ArgumentException("the SiLU epilogue needs groups of a multiple of 64, one split and no accumulation");
        if (Staged(m, v.Load) && ks != 1) throw new ArgumentException($"the staged kernel ({m} rows) takes one warp per tile, not {ks}");
        uint grid = (uint)(((outF + 15) / 16 + tilesPerBlock - 1) / tilesPerBlock);
        Go("gptq", GptqKernel(m, gs, v), (grid, (uint)splits, 1), (uint)(32 * v.Warps), a);
    }

    /// <summary>Blocks of the GptqMma kernel for these arguments that fit one SM at once (cached).</summary>
    public int GptqResidentBlocks(int m, int gs, GptqVariant v)
    {
        string name = GptqKernel(m, gs, v);
        if (_resident.TryGetValue(name, out int n)) return n;
        Native.Cu.Check(Native.Cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(out n, _r.Function("gptq", name), 32 * v.Warps, 0),
            $"cuOccupancyMaxActiveBlocksPerMultiprocessor({name})");
        return _resident[name] = Math.Max(1, n);
    }

    readonly Dictionary<string, int> _resident = [];

    static string GptqKernel(int m, int gs, GptqVariant v)
    {
        int rowTiles = (m + 7) / 8;
        var (pairs, silu, load) = (v.Pairs, v.Silu, v.Load);
        if ((load != GemvLoad.Registers || pairs) && gs % 64 != 0) throw new ArgumentException("two tiles per warp, prefetching and pipelining need groups of a multiple of 64");
        if ((load == GemvLoad.Prefetch || pairs) && rowTiles != 1) throw new ArgumentException("two tiles per warp and prefetching take at most 8 rows");
        if (v.Warps != 8 && (v.Warps != 4 || !pairs || rowTiles != 1 || load == GemvLoad.Registers))
            throw new ArgumentException($"blocks of {v.Warps} warps: only 8, or 4 for two tiles per warp, prefetching");
        if (v.Whole)
            return !silu && rowTiles == 1 && v.Warps == 8 ? pairs ? "gptq_mma_pair_whole_1" : "gptq_mma_whole_1"
                : throw new ArgumentException("the whole-slice kernel takes at most 8 rows, no SiLU, blocks of 8 warps");
        if (v.Norm)
            return pairs && !silu && rowTiles == 1 && load != GemvLoad.Registers && v.Warps == 8 ? v.NormHalf ? "gptq_mma_pair_db_1_normh" : "gptq_mma_pair_db_1_norm"
                : throw new ArgumentException("the normed kernel is the prefetching pair kernel (at most 8 rows, no SiLU, blocks of 8 warps)");
        if (v.Warps == 4) return PrefetchedPairs4[silu ? 1 : 0];
        var names = pairs ? (silu ? MmaPairSilu : MmaPair) : silu ? MmaSilu : gs % 64 == 0 ? Mma : MmaScaled;
        string? name = load switch
        {
            GemvLoad.Prefetch or GemvLoad.Pipeline when rowTiles == 1 => Prefetched[pairs ? 1 : 0, silu ? 1 : 0],
            GemvLoad.Pipeline => (silu ? MmaSiluStaged : MmaStaged)[rowTiles - 1],
            _ => names[pairs ? 0 : rowTiles - 1],
        };
        return name ?? throw new ArgumentException($"no GPTQ kernel for {m} rows{(silu ? " with SiLU" : "")}");
    }

    /// <summary>Whether the kernel for these arguments stages x per block, which needs one warp per tile (ks == 1).</summary>
    static bool Staged(int m, GemvLoad load) => load == GemvLoad.Pipeline && m > 8;

    // Kernel names by row tiles (1-4), built once.
    static readonly string?[] Mma = RowTileNames("gptq_mma_"), MmaScaled = RowTileNames("gptq_mma_s"),
        MmaSilu = ["gptq_mma_silu_1", null, "gptq_mma_silu_3", "gptq_mma_silu_4"], MmaPair = ["gptq_mma_pair_1"], MmaPairSilu = ["gptq_mma_pair_silu_1"],
        MmaStaged = [null, "gptq_mma_xs_2", "gptq_mma_xs_3", "gptq_mma_xs_4"], MmaSiluStaged = [null, null, "gptq_mma_silu_xs_3", "gptq_mma_silu_xs_4"];
    static readonly string[,] Prefetched = { { "gptq_mma_db_1", "gptq_mma_silu_db_1" }, { "gptq_mma_pair_db_1", "gptq_mma_pair_silu_db_1" } };
    static readonly string[] PrefetchedPairs4 = ["gptq_mma_pair_db_1_w4", "gptq_mma_pair_silu_db_1_w4"];   // blocks of 4 warps
    static string?[] RowTileNames(string prefix) => [.. Enumerable.Range(1, 4).Select(i => prefix + i)];

    /// <summary>wd [out, in] f16 = dequant(W) from the tiled layout.</summary>
    public void GptqDequant(ulong qt, ulong sz, ulong wd, int inF, int outF, int gs)
    {
        void** a = stackalloc void*[] { &qt, &sz, &wd, &inF, &outF, &gs };
        Go("gptq_pack", "gptq_dequant", (Blocks((long)((outF + 15) / 16) * ((inF + 63) / 64) * 32, Threads), 1, 1), Threads, a);
    }

    /// <summary>
    /// Paged causal attention with <paramref name="warps"/> (4 or 8) warps per (head, token, split); splits &gt; 1 writes partials to part [T, H, splits, D+2] f32 and the last split of each
    /// (token, head) merges them, counting in counters [T, H] i32 (zero before, left zero).
    /// </summary>
    public void PagedAttention(ulong q, ulong kc, ulong vc, ulong seqOf, ulong pos, ulong tables, ulong output, ulong part, ulong counters,
        int heads, int kvHeads, int headDim, int blockSize, int maxBlocks, float scale, int splits, int tokens, int warps = 4, DecodeRope? rope = null, bool? groupsOf4 = null)
    {
        if (warps is not (4 or 8)) throw new ArgumentException($"paged attention runs 4 or 8 warps per block, not {warps}");
        bool g4 = headDim <= 128 && (groupsOf4 ?? GroupsOf4);
        string name = (warps == 8 ? "paged_attention_8" : "paged_attention") + (g4 ? "_g4" : "");
        var (qkv, ld, slot, invFreq, style) = rope ?? default;   // the plain kernels take only the first 16 arguments
        void** a = stackalloc void*[] { &q, &kc, &vc, &seqOf, &pos, &tables, &output, &part, &counters, &heads, &kvHeads, &headDim, &blockSize,
            &maxBlocks, &scale, &splits, &qkv, &ld, &slot, &invFreq, &style };
        if (rope is not null) name += warps == 8 && g4 && PreloadKeys && (long)heads * tokens * splits <= ctx.Multiprocessors ? "_rope_pre" : "_rope";
        Go("attention", name, ((uint)heads, (uint)tokens, (uint)splits), (uint)(32 * warps), a);
    }

    /// <summary>Whether paged attention of head_dim &lt;= 128 takes a key per 4 lanes (QUANTA_ATTN_G4=0: per 8, as wider heads do).</summary>
    public static bool GroupsOf4 { get; set; } = Environment.GetEnvironmentVariable("QUANTA_ATTN_G4") != "0";

    /// <summary>
    /// Whether fused decode attention in 8-warp blocks of 4-lane groups, where every block has an SM to itself, loads each
    /// group's second and third keys into registers before its wait (225 registers: one block per SM; QUANTA_ATTN_PRELOAD=0: off).
    /// </summary>
    public static bool PreloadKeys { get; set; } = Environment.GetEnvironmentVariable("QUANTA_ATTN_PRELOAD") != "0";

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

/// <summary>
/// Which fused GPTQ kernel runs: Pairs, two tiles per warp (at most 8 rows); Silu, the act = silu(gate) * up epilogue;
/// Load, how the weights come in; Warps per block (8, or 4 for the prefetching pair kernels); Whole, the whole-slice
/// kernel; Norm, the prefetching pair kernel that norms its input per block (see <see cref="CudaLinear.TakesNorm"/>), with
/// norm weights f16 where NormHalf.
/// </summary>
internal readonly record struct GptqVariant(bool Pairs, bool Silu, GemvLoad Load, int Warps = 8, bool Whole = false, bool Norm = false, bool NormHalf = false);
