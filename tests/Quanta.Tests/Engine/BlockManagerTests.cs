using Quanta.Engine;

namespace Quanta.Tests.Engine;

public class BlockManagerTests
{
    static Sequence Seq(int id, IEnumerable<int> tokens) => new(id, tokens.ToArray(), new SamplingParams());
    static int[] Range(int start, int count) => [.. Enumerable.Range(start, count)];

    /// <summary>Allocates and marks every token computed, as after a full prefill.</summary>
    static Sequence Computed(BlockManager bm, int id, int[] tokens)
    {
        var s = Seq(id, tokens);
        Assert.True(bm.TryAllocate(s));
        s.NumComputed = tokens.Length;
        bm.CommitComputed(s);
        return s;
    }

    [Fact]
    public void AllocatesWholeBlocksAndFreesThem()
    {
        var bm = new BlockManager(8, 16);
        var s = Seq(1, Range(3, 33));
        Assert.True(bm.TryAllocate(s));
        Assert.Equal(3, s.BlockTable.Count);
        Assert.Equal(5, bm.FreeBlocks);
        Assert.Equal(0, s.NumComputed);
        Assert.True(bm.TryAppend(s, 48));
        Assert.Equal(3, s.BlockTable.Count);
        Assert.True(bm.TryAppend(s, 49));
        Assert.Equal(4, bm.UsedBlocks);
        bm.Free(s);
        Assert.Equal(8, bm.FreeBlocks);
        Assert.Empty(s.BlockTable);
    }

    [Fact]
    public void RefusesWhenShortAndChangesNothing()
    {
        var bm = new BlockManager(2, 16);
        var big = Seq(1, Range(3, 40));
        Assert.False(bm.TryAllocate(big));
        Assert.Empty(big.BlockTable);
        Assert.Equal(2, bm.FreeBlocks);
        var s = Seq(2, Range(3, 32));
        Assert.True(bm.TryAllocate(s));
        Assert.False(bm.TryAppend(s, 33));
    }

    [Fact]
    public void SharedPrefixBlocksAreReusedWithRefCounts()
    {
        var bm = new BlockManager(16, 16);
        var a = Computed(bm, 1, Range(3, 40));         // blocks 0,1 full and hashed; 2 partial
        var b = Seq(2, [.. Range(3, 32), 60, 61, 62]);
        Assert.True(bm.TryAllocate(b));
        Assert.Equal(a.BlockTable.Take(2), b.BlockTable.Take(2));
        Assert.NotEqual(a.BlockTable[2], b.BlockTable[2]);
        Assert.Equal(32, b.NumComputed);
        Assert.Equal(2, bm.RefCount(a.BlockTable[0]));
        Assert.Equal(32, bm.PrefixHits);
        Assert.Equal(40 + 35, bm.PrefixQueries);
        bm.Free(a);
        Assert.Equal(1, bm.RefCount(b.BlockTable[0]));
    }

    [Fact]
    public void AWholeCachedPromptStillLeavesOneTokenToCompute()
    {
        var bm = new BlockManager(16, 16);
        Computed(bm, 1, Range(3, 32));
        var same = Seq(2, Range(3, 32));
        Assert.True(bm.TryAllocate(same));
        Assert.Equal(16, same.NumComputed);            // second block recomputed for its last token
    }

    [Fact]
    public void DifferentEarlierBlockMeansNoHitEvenForEqualLaterTokens()
    {
        var bm = new BlockManager(16, 16);
        Computed(bm, 1, [.. Range(3, 16), .. Range(20, 17)]);
        var other = Seq(2, [.. Range(4, 16), .. Range(20, 17)]);
        Assert.True(bm.TryAllocate(other));
        Assert.Equal(0, other.NumComputed);
    }

    [Fact]
    public void FreedHashedBlocksStayCachedUntilEvictedLeastRecentlyUsedFirst()
    {
        var bm = new BlockManager(4, 4);
        var a = Computed(bm, 1, Range(10, 8));         // 2 hashed blocks
        bm.Free(a);
        var b = Computed(bm, 2, Range(30, 8));         // 2 other hashed blocks, freed later
        bm.Free(b);
        Assert.Equal(4, bm.FreeBlocks);

        var fresh = Seq(3, Range(50, 5));              // needs 2 blocks: evicts a's (least recently used)
        Assert.True(bm.TryAllocate(fresh));
        bm.Free(fresh);                                // unhashed blocks: reused first next time
        var again = Seq(4, Range(30, 5));
        Assert.True(bm.TryAllocate(again));
        Assert.Equal(4, again.NumComputed);            // b's first block still cached
        var lost = Seq(5, Range(10, 5));
        Assert.True(bm.TryAllocate(lost));
        Assert.Equal(0, lost.NumComputed);             // a's blocks were evicted
    }

    [Fact]
    public void RevivingACachedFreeBlockCountsAgainstFreeBlocks()
    {
        var bm = new BlockManager(3, 4);
        var a = Computed(bm, 1, Range(10, 8));
        bm.Free(a);
        var s = Seq(2, [.. Range(10, 4), .. Range(70, 8)]); // hit 1 cached block, needs 2 more: 3 in all
        Assert.True(bm.TryAllocate(s));
        Assert.Equal(0, bm.FreeBlocks);
        Assert.Equal(4, s.NumComputed);
        Assert.True(bm.IsCached(s.BlockTable[0]));
    }
}
