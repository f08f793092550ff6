using Quanta.Cuda;
using Quanta.Engine;

namespace Quanta.Tests.Cuda;

/// <summary>The CUDA step plans without a GPU: a 7B-like model (32 heads of 128) on 132 SMs, blocks of 16 tokens.</summary>
public class StepPlannerTests
{
    const int Bs = 16, Sms = 132, Heads = 32;
    static readonly StepShape Shape = new(Graphs: true, AllQuantized: true, HeadKernel: true, Heads, HeadDim: 128, Sms);

    static StepPlan Plan(ForwardBatch b, StepShape? shape = null, SamplerRows sampler = SamplerRows.None, int scratch = 4096)
        => new StepPlanner(shape ?? Shape).Plan(b, scratch, sampler);

    /// <summary>Sequences each decoding one token at position <paramref name="pos"/>, blocks laid out one sequence after another.</summary>
    static ForwardBatch Decode(int seqs, int pos)
    {
        int per = pos / Bs + 1;
        return ForwardBatch.Of(Bs, [.. Enumerable.Range(0, seqs).Select(s => new SeqTokens([.. Enumerable.Range(s * per, per)], pos, [7]))]);
    }

    [Fact]
    public void DecodeRunsItsBucketThroughAGraphReadingLogitsInPlace()
    {
        var p = Plan(Decode(3, 40));
        Assert.True(p.Decode && p.Graph);
        Assert.Equal(4, p.Tokens);
        Assert.Equal(64, p.MaxBlocks);
        Assert.True(p.LogitsInXn);
        Assert.Equal(0, p.GatherRows);
        Assert.Equal(HeadPlacement.Outside, p.Head);   // three logits rows: cuBLAS after the graph
        Assert.Equal(new AttentionPlan(1, 0, null, RopeInAttention: true, Warps: 8), p.Attention);
    }

    [Theory]
    [InlineData("Greedy", true, "InGraphGreedy")]
    [InlineData("Sampled", true, "InGraph")]
    [InlineData("None", true, "InGraph")]
    [InlineData("Greedy", false, "Outside")]
    public void AOneRowDecodeRunsTheHeadInItsGraph(string sampler, bool headKernel, string want)
        => Assert.Equal(Enum.Parse<HeadPlacement>(want), Plan(Decode(1, 10), Shape with { HeadKernel = headKernel }, Enum.Parse<SamplerRows>(sampler)).Head);

    [Fact]
    public void WithoutGraphsTheStepRunsEagerlyAtItsOwnSize()
    {
        var p = Plan(Decode(3, 40), Shape with { Graphs = false });
        Assert.False(p.Graph);
        Assert.Equal(3, p.Tokens);
        Assert.Equal(3, p.MaxBlocks);
        Assert.False(p.LogitsInXn);
        Assert.Equal(3, p.GatherRows);
        Assert.False(Plan(Decode(3, 40), Shape with { AllQuantized = false }).Graph);
    }

    [Fact]
    public void RowsInAnotherOrderAreGatheredForEveryPaddedRow()
    {
        var b = Decode(3, 40);
        b.LogitIndices = [2, 0, 1];
        var p = Plan(b);
        Assert.True(p.Graph);
        Assert.False(p.LogitsInXn);
        Assert.Equal(4, p.GatherRows);
    }

    [Fact]
    public void LongContextsSplitAttentionAndWideDecodesTakeFourWarps()
    {
        var p = Plan(Decode(1, 2047));
        Assert.Equal(StepPlanner.AttentionSplits(Sms, 1, Heads, 2048), p.Attention.Splits);
        Assert.Equal(8, p.Attention.Splits);   // 2 * 132 / 32 blocks per token, at least 128 keys each
        Assert.True(p.Attention.RopeInAttention);    // 32 heads x 8 splits: within two blocks per SM
        Assert.False(Plan(Decode(9, 40)).Attention.RopeInAttention);     // 16 rows x 32 heads: past it
        var wide = Plan(Decode(70, 40));
        Assert.True(wide.Graph);               // the GEMM's launches are captured as well
        Assert.Equal(72, wide.Tokens);
        Assert.Equal(4, wide.Attention.Warps);
        Assert.Null(wide.Attention.PromptStarts);
        Assert.Equal(0, wide.Attention.NumTiles);
    }

    [Fact]
    public void FreshPromptsTakeGemmAttentionAndLaterChunksTakeTiles()
    {
        var fresh = Plan(ForwardBatch.Of(Bs, new SeqTokens([.. Enumerable.Range(0, 7)], 0, new int[100])));
        Assert.False(fresh.Graph || fresh.Decode);
        Assert.Equal([0, 100], fresh.Attention.PromptStarts!);
        Assert.Null(fresh.Tiles);
        Assert.Equal(1, fresh.GatherRows);
        var chunk = Plan(ForwardBatch.Of(Bs, new SeqTokens([.. Enumerable.Range(0, 26)], 300, new int[100])));
        Assert.Null(chunk.Attention.PromptStarts);
        Assert.Equal([0, 64, 64, 36], chunk.Tiles!);
        Assert.Equal(2, chunk.Attention.NumTiles);
        Assert.False(chunk.Attention.RopeInAttention);
        // A prompt longer than the GEMM attention takes (its scores grow with the square) takes the tiles too.
        var longer = Plan(ForwardBatch.Of(Bs, new SeqTokens([.. Enumerable.Range(0, 132)], 0, new int[2100])));
        Assert.Null(longer.Attention.PromptStarts);
        Assert.Equal(33, longer.Attention.NumTiles);
    }

    /// <summary>
    /// One-token prompts fill a decode graph's key (bucket, blocks, splits, rows) as later decode steps of that bucket do, so
    /// they take the same paged attention; past the graph rows they take the GEMM attention.
    /// </summary>
    [Fact]
    public void OneTokenPromptsInAGraphTakePagedAttention()
    {
        var first = Plan(Decode(100, 0));
        Assert.True(first.Graph);
        Assert.Equal(104, first.Tokens);
        Assert.Null(first.Attention.PromptStarts);
        Assert.Equal(Plan(Decode(100, 3)).Attention, first.Attention);
        Assert.NotNull(Plan(Decode(200, 0)).Attention.PromptStarts);
    }

    [Fact]
    public void DecodesPastTheGraphRowsRunEagerly()
    {
        Assert.True(Plan(Decode(128, 40)).Graph);
        var p = Plan(Decode(129, 40));
        Assert.False(p.Graph);
        Assert.Equal(129, p.Tokens);
    }

    /// <summary>With wgmma the int4 GEMM takes 256 rows, and so do decode graphs (buckets of 8 up to there).</summary>
    [Fact]
    public void WgmmaGraphsReach256Rows()
    {
        var wide = Shape with { GraphRows = GemmPlanner.MaxRowsFor(wgmma: true) };
        var p = Plan(Decode(250, 40), wide);
        Assert.True(p.Graph);
        Assert.Equal(256, p.Tokens);
        Assert.Null(p.Attention.PromptStarts);
        Assert.False(Plan(Decode(257, 40), wide).Graph);
        Assert.Equal(256, new StepPlanner(wide).GraphRows);
    }

    [Fact]
    public void DecodeBucketsArePowersOfTwoThenMultiplesOfEight()
    {
        int[] want = [1, 2, 4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16, 16, 16, 24];
        Assert.Equal(want, Enumerable.Range(1, want.Length).Select(StepPlanner.Bucket));
        Assert.Equal(64, StepPlanner.Bucket(57));
        Assert.Throws<ArgumentOutOfRangeException>(() => StepPlanner.Bucket(0));
    }
}
