using Quanta.Cuda;

namespace Quanta.Tests.Cuda;

/// <summary>
/// The fused GPTQ kernel's plans and kernel names without a GPU: 7B layer shapes on 132 SMs (an H100 or H200), with the
/// resident blocks per SM of each kernel as the occupancy query reports them there.
/// </summary>
public class GptqPlannerTests
{
    const int Sms = 132;

    /// <summary>Blocks per SM: 4 for the whole-slice kernel, 7 for 4-warp pair blocks, 3 for other 8-warp blocks (72 registers), 2 for staged rows.</summary>
    static int Resident(GptqVariant v, int rows) => v.Whole ? 4 : v.Warps == 4 ? 7 : rows > 8 ? 2 : 3;

    static GptqLaunch Plan(int inF, int outF, int rows, bool silu = false, int gs = 128)
        => GptqPlanner.Plan(new GptqShape(inF, outF, gs), rows, silu, Sms, v => Resident(v, rows));

    [Fact]
    public void OProjAtOneRowTakesTheWholeSliceKernel()
    {
        var p = Plan(4096, 4096, 1);
        Assert.Equal(new GptqLaunch(8, 4, 2, new GptqVariant(Pairs: true, Silu: false, Whole: true)), p);
        Assert.Equal("gptq_mma_pair_whole_1", GptqKernelName.For(1, 128, p.V));
    }

    [Fact]
    public void QkvAtOneRowSplitsKOverEightWarps()
    {
        var p = Plan(4096, 12288, 1);
        Assert.Equal(new GptqLaunch(8, 1, 8, new GptqVariant(Pairs: true, Silu: false)), p);
        Assert.Equal("gptq_mma_pair_db_1", GptqKernelName.For(1, 128, p.V));
        Assert.Equal("gptq_mma_pair_db_1_normh", GptqKernelName.For(1, 128, p.V with { Norm = GptqNorm.F16 }));
    }

    [Fact]
    public void GateUpAtOneRowRunsFourWarpBlocksWhenEightWouldCutTheSplit()
    {
        var p = Plan(4096, 22016, 1, silu: true);
        Assert.Equal(new GptqLaunch(4, 1, 16, new GptqVariant(Pairs: true, Silu: true, Warps: 4)), p);
        Assert.Equal("gptq_mma_pair_silu_db_1_w4", GptqKernelName.For(1, 128, p.V));
    }

    [Fact]
    public void DownProjTakesOneTilePerWarpPastEightThousandInputs()
    {
        var p = Plan(11008, 4096, 1);
        Assert.Equal(new GptqLaunch(8, 1, 22, new GptqVariant(Pairs: false, Silu: false)), p);
        Assert.Equal("gptq_mma_db_1", GptqKernelName.For(1, 128, p.V));
    }

    [Fact]
    public void StagedRowsSplitKOverBlocksWhileTheGridFitsAWave()
    {
        var p = Plan(11008, 4096, 24);
        Assert.Equal(new GptqLaunch(1, 8, 22, new GptqVariant(Pairs: false, Silu: false)), p);
        Assert.Equal("gptq_mma_xs_3", GptqKernelName.For(24, 128, p.V));
        Assert.True(GptqKernelName.Stages(24, 128));
        Assert.Equal(1, Plan(4096, 22016, 24, silu: true).Splits);   // the SiLU epilogue needs whole sums
    }

    /// <summary>Over many widths: the slices cover K, and a block never has more warps per tile than warps.</summary>
    [Theory]
    [InlineData(1, 128, 64)]
    [InlineData(3, 256, 8192)]
    [InlineData(8, 32, 11008)]
    [InlineData(24, 128, 4096)]
    [InlineData(32, 16, 2048)]
    public void EveryPlanCoversK(int rows, int gs, int inF)
    {
        for (int outF = 16; outF <= 40000; outF = outF * 3 + 8)
            foreach (bool silu in new[] { false, true })
            {
                if (silu && (gs % 64 != 0 || rows is > 8 and <= 16)) continue;   // no SiLU kernel there
                var p = Plan(inF, outF, rows, silu, gs);
                Assert.True(p.Ks * p.Splits * p.Per >= (inF + 63) / 64, $"{outF}x{inF} at {rows} rows: {p}");
                Assert.True(p.Ks <= p.V.Warps, $"{outF}x{inF} at {rows} rows: {p}");
                Assert.StartsWith("gptq_mma_", GptqKernelName.For(rows, gs, p.V));
            }
    }

    [Theory]
    [InlineData(1, 32, false, false, "gptq_mma_s1")]
    [InlineData(17, 48, false, false, "gptq_mma_s3")]
    [InlineData(32, 4096, false, false, "gptq_mma_xs_4")]   // per channel over 4096 inputs
    [InlineData(9, 64, false, false, "gptq_mma_xs_2")]
    [InlineData(20, 128, false, true, "gptq_mma_silu_xs_3")]
    [InlineData(8, 128, false, true, "gptq_mma_silu_db_1")]
    [InlineData(5, 128, true, true, "gptq_mma_pair_silu_db_1")]
    public void KernelNamesFollowRowsGroupsAndVariant(int m, int gs, bool pairs, bool silu, string want)
        => Assert.Equal(want, GptqKernelName.For(m, gs, new GptqVariant(pairs, silu)));

    [Fact]
    public void CombinationsNoKernelHasThrow()
    {
        Assert.Throws<ArgumentException>(() => GptqKernelName.For(12, 128, new GptqVariant(false, true)));          // 9-16 rows with SiLU
        Assert.Throws<ArgumentException>(() => GptqKernelName.For(4, 32, new GptqVariant(true, false)));            // pairs need groups of 64
        Assert.Throws<ArgumentException>(() => GptqKernelName.For(9, 128, new GptqVariant(true, false)));           // pairs take 8 rows
        Assert.Throws<ArgumentException>(() => GptqKernelName.For(1, 128, new GptqVariant(false, false, Warps: 4))); // 4 warps need pairs
        Assert.Throws<ArgumentException>(() => GptqKernelName.For(1, 128, new GptqVariant(false, false, Whole: true)));
        Assert.Throws<ArgumentException>(() => GptqKernelName.For(33, 128, new GptqVariant(false, false)));
        Assert.All(GptqKernelName.All, n => Assert.StartsWith("gptq_mma_", n));
    }

    [Theory]
    [InlineData(4, 128, false, 1000, "paged_attention_g4")]
    [InlineData(8, 256, false, 10, "paged_attention_8")]
    [InlineData(8, 128, true, 132, "paged_attention_8_g4_rope_pre")]
    [InlineData(8, 128, true, 133, "paged_attention_8_g4_rope")]
    [InlineData(4, 64, true, 10, "paged_attention_g4_rope")]
    [InlineData(8, 256, true, 10, "paged_attention_8_rope")]
    public void PagedAttentionKernelFollowsWarpsHeadsAndGrid(int warps, int headDim, bool rope, long blocks, string want)
        => Assert.Equal(want, Kernels.PagedAttentionKernel(warps, headDim, rope, blocks, Sms));
}
