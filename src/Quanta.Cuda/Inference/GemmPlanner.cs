namespace Quanta.Cuda;

/// <summary>
/// A block shape of the tiled int4 GEMM: rows and features per block, threads, dynamic shared memory in bytes, the names of
/// its kernels (each weight scaled, or group sums), and whether it is Hopper's wgmma GEMM (Kernels/gptq_wgmma.cu, x in slot
/// order) rather than the mma.sync one (Kernels/gptq_gemm.cu, x as it is).
/// </summary>
internal readonly record struct GemmTile(int Rows, int Features, int Threads, int SharedBytes, string Scaled, string? GroupSums, bool Wgmma = false)
{
    /// <summary>
    /// The block shape the module instantiates (kept in step with its GEMM_KERNEL lines): 64 rows x 128 features, 4 warps,
    /// four stages of 4 KiB of words and 8 KiB of x.
    /// </summary>
    public static readonly GemmTile Rows64 = new(64, 128, 128, 4 * (8 * 32 + 64 * 8) * 16, "gptq_gemm_64", "gptq_gemm_64_g");

    /// <summary>The wgmma blocks (kept in step with gptq_wgmma.cu's WGMMA_KERNEL lines): 128 rows x 128 features in 5 stages, 256 rows x 128 features in 5.</summary>
    public static readonly GemmTile Wgmma128 = WgmmaShape(128, 2, 5, "gptq_wgmma_128");
    /// <summary>128 rows x 256 features (four warpgroups) in 4 stages.</summary>
    public static readonly GemmTile Wgmma128Wide = WgmmaShape(128, 4, 4, "gptq_wgmma_128w");
    public static readonly GemmTile Wgmma256 = WgmmaShape(256, 2, 5, "gptq_wgmma_256");

    /// <summary>Every block shape the product's modules instantiate.</summary>
    public static readonly GemmTile[] All = [Rows64, Wgmma128, Wgmma128Wide, Wgmma256];

    /// <summary>A wgmma block of <paramref name="warpGroups"/> x 64 features: per stage rows x 128 bytes of x and 512 bytes per 16-feature tile, plus 1 KiB to align.</summary>
    static GemmTile WgmmaShape(int rows, int warpGroups, int stages, string name)
        => new(rows, 64 * warpGroups, 128 * warpGroups, stages * (rows * 128 + 4 * warpGroups * 512) + 1024, name, null, Wgmma: true);

    /// <summary>The module the kernels are in.</summary>
    public string Module => Wgmma ? "gptq_wgmma" : "gptq_gemm";

    public string Kernel(bool groupSums) => groupSums && GroupSums is { } g ? g : Scaled;
}

/// <summary>One launch of the GEMM: the block shape, group sums (groups of a multiple of 64), K split over Splits blocks of Per k-steps.</summary>
internal readonly record struct GemmLaunch(GemmTile Tile, bool GroupSums, int Splits, int Per)
{
    public int Blocks(GptqShape s, int rows) => (s.Out + Tile.Features - 1) / Tile.Features * ((rows + Tile.Rows - 1) / Tile.Rows);
}

/// <summary>
/// How the tiled GEMM covers a GPTQ layer for a given number of rows. Pure: the GPU enters only through its SM count and
/// the resident blocks per SM of a kernel (an occupancy query the caller answers), so the plans are testable on the CPU.
/// </summary>
internal static class GemmPlanner
{
    /// <summary>From this many rows on a GPTQ layer runs the GEMM; fewer take the fused kernels (<see cref="GptqPlanner"/>).</summary>
    public const int MinRows = 33;
    /// <summary>Up to this many rows without wgmma; more dequantise the layer to f16 for cuBLAS (see docs/gemm.md for the measurements).</summary>
    public const int MaxRows = 128;
    /// <summary>Up to this many rows on a GPU with wgmma (sm_90); more dequantise for cuBLAS.</summary>
    public const int MaxWgmmaRows = 256;
    /// <summary>From this many rows on, a GPU with wgmma takes the wgmma blocks; fewer the mma.sync one.</summary>
    public const int MinWgmmaRows = 65;

    /// <summary>The most rows the int4 GEMM takes, with or without wgmma.</summary>
    public static int MaxRowsFor(bool wgmma) => wgmma ? MaxWgmmaRows : MaxRows;

    /// <summary>
    /// The block for <paramref name="rows"/> rows (MinRows..MaxRowsFor): the mma.sync block of 64 rows up to 64 rows (or
    /// without wgmma), then one wgmma block of 128 or 256 rows over all of them (docs/gemm.md).
    /// </summary>
    public static GemmTile TileFor(int rows, bool wgmma)
        => !wgmma || rows < MinWgmmaRows ? GemmTile.Rows64 : rows <= 128 ? GemmTile.Wgmma128 : GemmTile.Wgmma256;
    /// <summary>Fewest k-steps a split keeps (each split's blocks fill and drain the pipeline once).</summary>
    const int MinStepsPerSplit = 8;

    /// <summary>
    /// The launch for <paramref name="rows"/> rows: the block of <see cref="TileFor"/>, group sums where it has them and groups
    /// are a multiple of 64, and the K split that minimises waves x k-steps per block (a grid of a few blocks per SM leaves the last wave partly
    /// empty; splitting K trades that for atomic adds), each further split counted a tenth dearer.
    /// </summary>
    /// <param name="sms">the GPU's multiprocessors.</param>
    /// <param name="resident">blocks of a kernel (by name) that fit one SM at once.</param>
    /// <param name="wgmma">the GPU has wgmma (sm_90).</param>
    public static GemmLaunch Plan(GptqShape s, int rows, int sms, Func<string, int> resident, bool wgmma)
        => Plan(s, rows, sms, resident, TileFor(rows, wgmma));

    /// <summary>The same plan for blocks of <paramref name="tile"/> (developer kernels time their own block shapes).</summary>
    public static GemmLaunch Plan(GptqShape s, int rows, int sms, Func<string, int> resident, GemmTile tile)
    {
        if (rows < 1) throw new ArgumentOutOfRangeException(nameof(rows));
        bool sums = s.GroupSize % 64 == 0 && tile.GroupSums is not null;
        int ksteps = (s.In + 63) / 64;
        long blocks = new GemmLaunch(tile, sums, 1, ksteps).Blocks(s, rows);
        long wave = (long)sms * Math.Max(1, resident(tile.Kernel(sums)));
        int best = 1;
        double bestCost = double.MaxValue;
        for (int splits = 1; splits <= 16 && (splits == 1 || ksteps / splits >= MinStepsPerSplit); splits++)
        {
            int per = (ksteps + splits - 1) / splits;
            int used = (ksteps + per - 1) / per;
            if (used != splits) continue;   // the same launch as a smaller split
            // Each further split costs a tenth more: its atomic adds into y (and the zeroing of y before).
            double cost = (blocks * splits + wave - 1) / wave * per * (1 + 0.1 * (splits - 1));
            if (cost < bestCost) (best, bestCost) = (splits, cost);
        }
        return new GemmLaunch(tile, sums, best, (ksteps + best - 1) / best);
    }

    /// <summary>The row length of x in slot order, which the gather writes and the wgmma GEMM reads: in rounded up to whole k-steps of 64.</summary>
    public static int SlotStride(int inF) => (inF + 63) / 64 * 64;

    /// <summary>
    /// The gather that puts x in the wgmma GEMM's slot order: map [64 * ceil(in / 64)], position p of k-step p / 64 holding
    /// input (p / 64) * 64 + 16 t + 4 j + 2 hi + e for its sub-step j = p % 64 / 16 and slot s = p % 16 = 8 hi + 2 t + e
    /// (gptq.cuh's words pair slots 2t, 2t+1, 2t+8, 2t+9 with inputs 16t + 4j + 0..3), -1 (a zero) past in. With act-order,
    /// <paramref name="perm"/> (input i of the words is column perm[i] of x) is folded in, so one gather does both.
    /// </summary>
    public static int[] SlotOrder(int inF, int[]? perm)
    {
        var map = new int[SlotStride(inF)];
        for (int p = 0; p < map.Length; p++)
        {
            int j = p % 64 / 16, s = p % 16, hi = s / 8, t = s % 8 / 2, e = s % 2;
            int input = p / 64 * 64 + 16 * t + 4 * j + 2 * hi + e;
            map[p] = input >= inF ? -1 : perm is null ? input : perm[input];
        }
        return map;
    }
}
