namespace Quanta.Cuda;

/// <summary>
/// A block shape of the tiled int4 GEMM (Kernels/gptq_gemm.cu): rows and features per block, threads, dynamic shared
/// memory in bytes, and the names of its kernels (each weight scaled, or group sums).
/// </summary>
internal readonly record struct GemmTile(int Rows, int Features, int Threads, int SharedBytes, string Scaled, string? GroupSums)
{
    /// <summary>
    /// The block shape the module instantiates (kept in step with its GEMM_KERNEL lines): 64 rows x 128 features, 4 warps,
    /// four stages of 4 KiB of words and 8 KiB of x.
    /// </summary>
    public static readonly GemmTile Rows64 = new(64, 128, 128, 4 * (8 * 32 + 64 * 8) * 16, "gptq_gemm_64", "gptq_gemm_64_g");

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
    /// <summary>Up to this many rows; more dequantise the layer to f16 for cuBLAS (see docs/gemm.md for the measurements).</summary>
    public const int MaxRows = 128;
    /// <summary>Fewest k-steps a split keeps (each split's blocks fill and drain the pipeline once).</summary>
    const int MinStepsPerSplit = 8;

    /// <summary>
    /// The launch for <paramref name="rows"/> rows: 64-row blocks, group sums where groups are a multiple of 64,
    /// and the K split that minimises waves x k-steps per block (a grid of a few blocks per SM leaves the last wave partly
    /// empty; splitting K trades that for atomic adds), each further split counted a tenth dearer.
    /// </summary>
    /// <param name="sms">the GPU's multiprocessors.</param>
    /// <param name="resident">blocks of a kernel (by name) that fit one SM at once.</param>
    public static GemmLaunch Plan(GptqShape s, int rows, int sms, Func<string, int> resident)
        => Plan(s, rows, sms, resident, GemmTile.Rows64);

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
}
