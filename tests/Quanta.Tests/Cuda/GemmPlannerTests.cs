using Quanta.Cuda;

namespace Quanta.Tests.Cuda;

/// <summary>The tiled int4 GEMM's plans without a GPU: 7B layer shapes on 132 SMs with one to three resident blocks per SM.</summary>
public class GemmPlannerTests
{
    const int Sms = 132;

    static GemmLaunch Plan(int inF, int outF, int rows, int gs = 128, int resident = 1)
        => GemmPlanner.Plan(new GptqShape(inF, outF, gs), rows, Sms, _ => resident);

    [Fact]
    public void RowsPastTheFusedKernelsUpToMaxRowsTakeTheGemm()
    {
        Assert.InRange(GemmPlanner.MinRows, 2, GptqPlanner.PassRows + 1);   // the fused kernel's passes cover what the GEMM leaves
        Assert.True(GemmPlanner.MaxRows >= GemmPlanner.MinRows);
        Assert.Equal(GemmPlanner.MaxRows, StepPlanner.GraphRows);
    }

    [Fact]
    public void GroupSumsOnlyForGroupsOfAMultipleOf64()
    {
        Assert.True(Plan(4096, 4096, 64, gs: 128).GroupSums);
        Assert.True(Plan(4096, 4096, 64, gs: 4096).GroupSums);
        Assert.False(Plan(4096, 4096, 64, gs: 32).GroupSums);
        Assert.Equal("gptq_gemm_64_g", Plan(4096, 4096, 64).Tile.Kernel(true));
        Assert.Equal("gptq_gemm_64", Plan(4096, 4096, 64, gs: 32).Tile.Kernel(false));
    }

    /// <summary>o_proj at 64 rows: 32 blocks on 132 SMs would leave 100 idle; four splits fill one wave.</summary>
    [Fact]
    public void NarrowLayersSplitKToFillTheGpu()
    {
        var p = Plan(4096, 4096, 64);
        Assert.Equal(4, p.Splits);
        Assert.Equal(16, p.Per);
        Assert.True(p.Blocks(new GptqShape(4096, 4096, 128), 64) * p.Splits <= Sms);
    }

    /// <summary>gate/up at 128 rows with three blocks per SM: 344 blocks fill one wave of 396; a split would only add atomics.</summary>
    [Fact]
    public void LayersFillingAWaveDoNotSplit() => Assert.Equal(1, Plan(4096, 22016, 128, resident: 3).Splits);

    /// <summary>Every plan covers K exactly once: splits x per reaches the k-steps and no split is empty.</summary>
    [Theory]
    [InlineData(4096, 12288, 33)]
    [InlineData(4096, 22016, 100)]
    [InlineData(11008, 4096, 128)]
    [InlineData(11008, 4096, 64)]
    [InlineData(336, 264, 65)]
    [InlineData(64, 64, 128)]
    public void PlansCoverKOnce(int inF, int outF, int rows)
    {
        foreach (int resident in new[] { 1, 2, 3 })
        {
            var p = Plan(inF, outF, rows, resident: resident);
            int ksteps = (inF + 63) / 64;
            Assert.True(p.Splits * p.Per >= ksteps, $"{p} covers {ksteps} k-steps");
            Assert.True((p.Splits - 1) * p.Per < ksteps, $"{p}: the last split is empty");
            Assert.True(p.Splits == 1 || p.Per >= 8, $"{p}: splits of fewer than 8 k-steps");
        }
    }

    [Fact]
    public void NoRowsIsAnError() => Assert.Throws<ArgumentOutOfRangeException>(() => Plan(64, 64, 0));
}
