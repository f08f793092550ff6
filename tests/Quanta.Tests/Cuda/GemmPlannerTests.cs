using Quanta.Cuda;

namespace Quanta.Tests.Cuda;

/// <summary>The tiled int4 GEMM's plans without a GPU: 7B layer shapes on 132 SMs with one to three resident blocks per SM.</summary>
public class GemmPlannerTests
{
    const int Sms = 132;

    static GemmLaunch Plan(int inF, int outF, int rows, int gs = 128, int resident = 1, bool wgmma = false)
        => GemmPlanner.Plan(new GptqShape(inF, outF, gs), rows, Sms, _ => resident, wgmma);

    [Fact]
    public void RowsPastTheFusedKernelsUpToMaxRowsTakeTheGemm()
    {
        Assert.InRange(GemmPlanner.MinRows, 2, GptqPlanner.PassRows + 1);   // the fused kernel's passes cover what the GEMM leaves
        Assert.True(GemmPlanner.MaxRows >= GemmPlanner.MinRows);
        Assert.InRange(GemmPlanner.MinWgmmaRows, GemmPlanner.MinRows, GemmPlanner.MaxRows);
        Assert.Equal(GemmPlanner.MaxRows, GemmPlanner.MaxRowsFor(false));
        Assert.Equal(GemmPlanner.MaxWgmmaRows, GemmPlanner.MaxRowsFor(true));
    }

    /// <summary>With wgmma, 65-128 rows take one 128-row block and 129-256 one 256-row block; without it, always the mma.sync block.</summary>
    [Theory]
    [InlineData(33, false, "gptq_gemm_64")]
    [InlineData(64, true, "gptq_gemm_64")]
    [InlineData(65, true, "gptq_wgmma_128")]
    [InlineData(128, true, "gptq_wgmma_128")]
    [InlineData(129, true, "gptq_wgmma_256")]
    [InlineData(256, true, "gptq_wgmma_256")]
    [InlineData(128, false, "gptq_gemm_64")]
    public void TheBlockFollowsTheRows(int rows, bool wgmma, string kernel)
    {
        var p = Plan(4096, 12288, rows, wgmma: wgmma);
        Assert.Equal(kernel, p.Tile.Scaled);
        Assert.Equal(kernel.Contains("wgmma"), p.Tile.Wgmma);
        Assert.False(p.Tile.Wgmma && p.GroupSums);   // the wgmma blocks scale each weight
        Assert.True(rows <= p.Tile.Rows || !p.Tile.Wgmma, "one wgmma block covers every row");
    }

    /// <summary>Each wgmma block fits Hopper's 227 KiB of shared memory per block, and its stages keep x 1 KiB-aligned.</summary>
    [Fact]
    public void WgmmaBlocksFitSharedMemory()
    {
        foreach (var t in GemmTile.All.Where(t => t.Wgmma))
        {
            Assert.True(t.SharedBytes <= 227 * 1024, $"{t.Scaled}: {t.SharedBytes} bytes");
            Assert.Equal(0, t.Rows * 128 % 1024);
            Assert.Equal(t.Features / 64 * 128, t.Threads);
        }
    }

    /// <summary>
    /// The slot order is a permutation of the inputs (padding -1 past in) that puts, for each k-step and sub-step j, input
    /// 16t + 4j + (0, 1, 2, 3) at slots 2t, 2t+1, 2t+8, 2t+9 (the words' pairing, gptq.cuh); act-order composes with it.
    /// </summary>
    [Theory]
    [InlineData(64)]
    [InlineData(336)]
    [InlineData(4096)]
    public void SlotOrderPairsSlotsWithTheWordsInputs(int inF)
    {
        var map = GemmPlanner.SlotOrder(inF, null);
        Assert.Equal((inF + 63) / 64 * 64, map.Length);
        Assert.Equal(map.Length, GemmPlanner.SlotStride(inF));
        Assert.Equal(Enumerable.Range(0, inF), map.Where(c => c >= 0).Order());
        Assert.Equal(map.Length - inF, map.Count(c => c < 0));
        for (int st = 0; st < map.Length / 64; st++)
            for (int j = 0; j < 4; j++)
                for (int t = 0; t < 4; t++)
                {
                    int k0 = 64 * st + 16 * t + 4 * j, at = 64 * st + 16 * j;
                    int[] want = [k0, k0 + 1, k0 + 2, k0 + 3];
                    int[] got = [map[at + 2 * t], map[at + 2 * t + 1], map[at + 2 * t + 8], map[at + 2 * t + 9]];
                    Assert.Equal(want.Select(k => k < inF ? k : -1), got);
                }
        var perm = Enumerable.Range(0, inF).Reverse().ToArray();
        var both = GemmPlanner.SlotOrder(inF, perm);
        for (int p = 0; p < map.Length; p++) Assert.Equal(map[p] < 0 ? -1 : perm[map[p]], both[p]);
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
    [InlineData(11008, 4096, 256)]
    [InlineData(4096, 22016, 200)]
    public void PlansCoverKOnce(int inF, int outF, int rows)
    {
        foreach (int resident in new[] { 1, 2, 3 })
            foreach (bool wgmma in new[] { false, true })
            {
                var p = Plan(inF, outF, rows, resident: resident, wgmma: wgmma);
                int ksteps = (inF + 63) / 64;
                Assert.True(p.Splits * p.Per >= ksteps, $"{p} covers {ksteps} k-steps");
                Assert.True((p.Splits - 1) * p.Per < ksteps, $"{p}: the last split is empty");
                Assert.True(p.Splits == 1 || p.Per >= 8, $"{p}: splits of fewer than 8 k-steps");
            }
    }

    [Fact]
    public void NoRowsIsAnError() => Assert.Throws<ArgumentOutOfRangeException>(() => Plan(64, 64, 0));
}
