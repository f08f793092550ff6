namespace Quanta.Cuda;

/// <summary>The fused GPTQ kernel of gptq.cu that serves a launch: a pure choice by rows, group size and variant.</summary>
internal static class GptqKernelName
{
    /// <summary>
    /// The kernel for <paramref name="m"/> rows (1-32) of a layer with groups of <paramref name="gs"/> inputs. Groups of a
    /// multiple of 64 prefetch their weights (up to 8 rows) or stage x per block (9-32 rows); other groups take the plain
    /// kernel that scales each weight. Combinations no kernel has throw.
    /// </summary>
    public static string For(int m, int gs, GptqVariant v)
    {
        if (m < 1 || m > GptqPlanner.PassRows) throw new ArgumentException($"the fused kernel takes 1-{GptqPlanner.PassRows} rows, not {m}");
        int rowTiles = (m + 7) / 8;
        bool special = v.Pairs || v.Silu || v.Whole || v.Norm != GptqNorm.None || v.Warps != 8;
        if (gs % 64 != 0)
            return !special ? Scaled[rowTiles - 1]
                : throw new ArgumentException("two tiles per warp, the SiLU epilogue, whole slices, norms and 4-warp blocks need groups of a multiple of 64");
        if ((v.Pairs || v.Whole || v.Norm != GptqNorm.None) && rowTiles != 1)
            throw new ArgumentException("two tiles per warp, whole slices and norms take at most 8 rows");
        if (v.Warps != 8 && (v.Warps != 4 || !v.Pairs))
            throw new ArgumentException($"blocks of {v.Warps} warps: only 8, or 4 for two tiles per warp");
        if (v.Whole)
            return v.Pairs && !v.Silu && v.Warps == 8 && v.Norm == GptqNorm.None ? "gptq_mma_pair_whole_1"
                : throw new ArgumentException("the whole-slice kernel takes two tiles per warp, no SiLU, no norm, blocks of 8 warps");
        if (v.Norm != GptqNorm.None)
            return v.Pairs && !v.Silu && v.Warps == 8 ? v.Norm == GptqNorm.F16 ? "gptq_mma_pair_db_1_normh" : "gptq_mma_pair_db_1_norm"
                : throw new ArgumentException("the normed kernel is the prefetching pair kernel (no SiLU, blocks of 8 warps)");
        if (rowTiles == 1)
            return v.Warps == 4 ? v.Silu ? "gptq_mma_pair_silu_db_1_w4" : "gptq_mma_pair_db_1_w4"
                : v.Pairs ? v.Silu ? "gptq_mma_pair_silu_db_1" : "gptq_mma_pair_db_1"
                : v.Silu ? "gptq_mma_silu_db_1" : "gptq_mma_db_1";
        return (v.Silu ? StagedSilu : Staged)[rowTiles - 1]
            ?? throw new ArgumentException($"no SiLU kernel for {m} rows: 9-16 rows take the product, then silu_mul");
    }

    /// <summary>Whether the kernel for these rows and groups stages x per block, which needs one warp per tile (ks == 1).</summary>
    public static bool Stages(int m, int gs) => gs % 64 == 0 && m > 8;

    /// <summary>Every kernel <see cref="For"/> can name (benchmarks list their registers).</summary>
    public static IEnumerable<string> All =>
        [.. Scaled, "gptq_mma_db_1", "gptq_mma_silu_db_1", "gptq_mma_pair_db_1", "gptq_mma_pair_silu_db_1", "gptq_mma_pair_db_1_w4",
         "gptq_mma_pair_silu_db_1_w4", "gptq_mma_pair_db_1_norm", "gptq_mma_pair_db_1_normh", "gptq_mma_pair_whole_1",
         .. Staged.OfType<string>(), .. StagedSilu.OfType<string>()];

    // Kernel names by row tiles (1-4).
    static readonly string[] Scaled = ["gptq_mma_s1", "gptq_mma_s2", "gptq_mma_s3", "gptq_mma_s4"];
    static readonly string?[] Staged = [null, "gptq_mma_xs_2", "gptq_mma_xs_3", "gptq_mma_xs_4"],
        StagedSilu = [null, null, "gptq_mma_silu_xs_3", "gptq_mma_silu_xs_4"];
}
