namespace Quanta.Cuda;

/// <summary>Which input norm the fused GPTQ kernel applies itself: none, or RMSNorm with f32 or f16 weights.</summary>
internal enum GptqNorm { None, F32, F16 }

/// <summary>
/// Which fused GPTQ kernel runs (see Kernels/gptq.cu): Pairs, two tiles per warp (at most 8 rows); Silu, the
/// act = silu(gate) * up epilogue; Warps per block (8, or 4 for the prefetching pair kernels); Whole, the whole-slice
/// kernel; Norm, the prefetching pair kernel that norms its input per block (see <see cref="CudaLinear.TakesNorm"/>).
/// </summary>
internal readonly record struct GptqVariant(bool Pairs, bool Silu, int Warps = 8, bool Whole = false, GptqNorm Norm = GptqNorm.None);

/// <summary>One launch of the fused kernel: Ks warps per 16-column tile in a block, Splits blocks along K, Per k-steps per warp, the kernel V.</summary>
internal readonly record struct GptqLaunch(int Ks, int Splits, int Per, GptqVariant V);

/// <summary>A GPTQ layer as the planner sees it: inputs, outputs, rows per group (after act-order sorting).</summary>
internal readonly record struct GptqShape(int In, int Out, int GroupSize);

/// <summary>
/// How the fused GPTQ kernel covers a layer for a given number of rows. Pure: the GPU enters only through its SM count
/// and the resident blocks per SM of a kernel (an occupancy query the caller answers), so the plans are testable on the CPU.
/// </summary>
internal static class GptqPlanner
{
    /// <summary>Rows per pass of the fused kernel (its widest variant, four 8-row tiles).</summary>
    public const int PassRows = 32;
    const int MinStepsPerWarp = 4;

    /// <summary>Warps per SM the plan aims to keep busy: 32 up to 8 rows, 24 above (more rows already share each weight load).</summary>
    public static int WarpsPerSm(int rows) => rows <= 8 ? 32 : 24;

    /// <summary>
    /// Whether a warp takes two tiles: few rows, groups of a multiple of 64, and at most 8192 inputs (past that, as down_proj's
    /// 11008, the pair's longer K loop costs more than the shared x fragments save).
    /// </summary>
    public static bool Pairs(GptqShape s, int rows) => rows <= 8 && s.GroupSize % 64 == 0 && s.In <= 8192;

    /// <summary>The kernel for this many rows; blocks of 4 warps only where <paramref name="warps"/> asks and the kernel has them.</summary>
    static GptqVariant Variant(GptqShape s, int rows, bool silu, int warps = 8)
    {
        bool pairs = Pairs(s, rows);
        return new(pairs, silu, pairs && warps == 4 ? 4 : 8);
    }

    /// <summary>
    /// The launch for <paramref name="rows"/> rows (at most <see cref="PassRows"/>). Layers small enough take the whole-slice
    /// kernel (<see cref="WholePlan"/>). Otherwise K is split over up to 8 warps of a block per tile (few rows; more rows keep
    /// one warp per tile so a block's 8 tiles share x), fewer when that makes the grid fit one wave of resident blocks; a
    /// pair layer whose split was cut that way runs 4-warp blocks instead, which pack the SM more tightly. Then whole blocks
    /// split K (atomics) while the GPU is still half empty and the grid still fits one wave (not with <paramref name="silu"/>,
    /// whose epilogue needs whole sums).
    /// </summary>
    /// <param name="sms">the GPU's multiprocessors.</param>
    /// <param name="resident">blocks of a kernel for these rows that fit one SM at once.</param>
    public static GptqLaunch Plan(GptqShape s, int rows, bool silu, int sms, Func<GptqVariant, int> resident)
    {
        if (!silu && WholePlan(s, rows, sms, resident) is { } whole) return whole;
        int ntiles = (s.Out + 15) / 16, ksteps = (s.In + 63) / 64, want = sms * WarpsPerSm(rows);
        if (Pairs(s, rows)) ntiles = (ntiles + 1) / 2;
        int ks = 1, splits = 1, warps = 8;
        if (rows <= 8)
        {
            // K split over the warps of a block for blocks of `width` warps, then halved to fit one wave of resident blocks.
            (int Ks, bool Cut) SplitWarps(int width)
            {
                var v = Variant(s, rows, silu, width);
                int k = 1;
                while (k < v.Warps && ntiles * k < want && ksteps >= 2 * k * MinStepsPerWarp) k *= 2;
                int full = k;
                long wave = (long)sms * resident(v);
                while (k > 1 && Blocks(ntiles, k, v.Warps) > wave && Blocks(ntiles, k / 2, v.Warps) <= wave) k /= 2;
                return (k, k < full);
            }
            bool narrow = Variant(s, rows, silu, 4).Warps == 4;
            (ks, bool cut) = SplitWarps(8);
            if (narrow && cut) { warps = 4; ks = SplitWarps(4).Ks; }
        }
        long wave1 = (long)sms * resident(Variant(s, rows, silu, warps));
        while (!silu && 2L * ntiles * ks * splits <= want && ksteps >= 2 * ks * splits * MinStepsPerWarp
               && Blocks(ntiles, ks, warps) * splits * 2 <= wave1) splits *= 2;
        int slices = ks * splits;
        return new(ks, splits, (ksteps + slices - 1) / slices, Variant(s, rows, silu, warps));
    }

    /// <summary>
    /// The whole-slice plan (two tiles per warp, 2 k-steps each) for up to 8 rows with groups of a multiple of 64, when its
    /// grid fits one wave of resident blocks (in a 7B model: o_proj), else null: every warp's K slice is one round of words
    /// requested before the kernel waits for the one before, so where that kernel leaves the GPU mostly idle (o_proj behind
    /// decode attention) every weight is in flight before x is ready.
    /// </summary>
    static GptqLaunch? WholePlan(GptqShape s, int rows, int sms, Func<GptqVariant, int> resident)
    {
        if (rows > 8 || s.GroupSize % 64 != 0) return null;
        const int per = 2;   // the kernel's words per tile
        int ntiles = ((s.Out + 15) / 16 + 1) / 2, ksteps = (s.In + 63) / 64;
        int slices = (ksteps + per - 1) / per, ks = 8;
        while (ks > 1 && slices < ks) ks /= 2;
        int splits = (slices + ks - 1) / ks;
        var v = new GptqVariant(Pairs: true, Silu: false, Whole: true);
        long blocks = Blocks(ntiles, ks, 8) * splits, wave = (long)sms * resident(v);
        return blocks <= wave ? new(ks, splits, per, v) : null;
    }

    static long Blocks(int ntiles, int ks, int warps) => ((long)ntiles * ks + warps - 1) / warps;
}
