using Quanta.Engine;

namespace Quanta.Tests.Engine;

public class SchedulerTests
{
    internal static Sequence Seq(int id, int promptLen, int maxNew = 4) =>
        new(id, Enumerable.Range(0, promptLen).Select(i => 3 + (i * 7 + id) % 50).ToArray(), new SamplingParams { MaxNewTokens = maxNew });

    /// <summary>Plays the engine's part for one step: computes chunks, samples when the chunk ends the sequence.</summary>
    internal static List<(long Id, int Chunk)> Step(Scheduler sch, BlockManager bm)
    {
        var done = new List<(long, int)>();
        foreach (var s in sch.Schedule().ToList())
        {
            done.Add((s.Id, s.Chunk));
            bool samples = s.SamplesThisStep;
            s.NumComputed += s.Chunk;
            bm.CommitComputed(s);
            if (!samples) continue;
            s.Tokens.Add(5);
            if (s.NumGenerated >= s.Params.MaxNewTokens) sch.Remove(s);
        }
        return done;
    }

    [Fact]
    public void LongPromptIsPrefilledInChunksWithinTheBudget()
    {
        var bm = new BlockManager(64, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxBatchPrefillTokens = 32 });
        var s = Seq(1, 100);
        sch.Add(s);
        Assert.Equal([(1L, 32)], Step(sch, bm));
        Assert.Equal([(1L, 32)], Step(sch, bm));
        Assert.Equal([(1L, 32)], Step(sch, bm));
        Assert.Equal(96, s.NumComputed);
        Assert.Equal(100, s.Count);                    // no token sampled yet
        Assert.Equal([(1L, 4)], Step(sch, bm));
        Assert.Equal(101, s.Count);
        Assert.Equal([(1L, 1)], Step(sch, bm));        // decoding
    }

    [Fact]
    public void MaxChunkBoundsAPromptsStepsBelowTheBudget()
    {
        var bm = new BlockManager(64, 16);
        var sch = new Scheduler(bm, new EngineOptions());
        var s = new Sequence(1, Enumerable.Range(3, 12).ToArray(), new SamplingParams()) { MaxChunk = 5 };
        sch.Add(s);
        Assert.Equal([(1L, 5)], Step(sch, bm));
        Assert.Equal([(1L, 5)], Step(sch, bm));
        Assert.Equal([(1L, 2)], Step(sch, bm));
        Assert.Equal([(1L, 1)], Step(sch, bm));
    }

    [Fact]
    public void DecodesRunFirstAndNewPromptsShareTheRemainingBudget()
    {
        var bm = new BlockManager(64, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxBatchPrefillTokens = 24, WaitingServedRatio = 0 });
        sch.Add(Seq(1, 10, maxNew: 10));
        Assert.Equal([(1L, 10)], Step(sch, bm));
        sch.Add(Seq(2, 20));
        sch.Add(Seq(3, 20));
        Assert.Equal([(1L, 1), (2L, 20), (3L, 4)], Step(sch, bm));
        Assert.Equal([(1L, 1), (2L, 1), (3L, 16)], Step(sch, bm));
        Assert.Equal([(1L, 1), (2L, 1), (3L, 1)], Step(sch, bm));
    }

    [Fact]
    public void WaitingServedRatioHoldsBackSmallAdmissionsUntilMaxWaitingTokens()
    {
        var bm = new BlockManager(256, 16);
        var sch = new Scheduler(bm, new EngineOptions { WaitingServedRatio = 0.3, MaxWaitingTokens = 5 });
        for (int i = 0; i < 10; i++) sch.Add(Seq(i, 8, maxNew: 100));
        Step(sch, bm);
        Assert.Equal(10, sch.Running.Count);
        sch.Add(Seq(10, 8, maxNew: 100));              // 1 waiting < floor(10 * 0.3) = 3
        for (int i = 0; i < 4; i++) Step(sch, bm);
        Assert.Single(sch.Waiting);
        Step(sch, bm);                                 // max_waiting_tokens reached: admitted anyway
        Assert.Empty(sch.Waiting);
        for (int i = 11; i < 14; i++) sch.Add(Seq(i, 8, maxNew: 100)); // 3 waiting >= floor(11 * 0.3)
        Step(sch, bm);
        Assert.Empty(sch.Waiting);
        Assert.Equal(14, sch.Running.Count);
    }

    [Fact]
    public void OutOfBlocksPreemptsTheNewestAndEveryoneFinishes()
    {
        var bm = new BlockManager(6, 4);               // 24 tokens of KV
        var sch = new Scheduler(bm, new EngineOptions { WaitingServedRatio = 0 });
        var seqs = Enumerable.Range(1, 4).Select(i => Seq(i, 6, maxNew: 10)).ToList();  // 16 tokens each at the end
        foreach (var s in seqs) sch.Add(s);
        int steps = 0;
        while ((sch.Running.Count > 0 || sch.Waiting.Count > 0) && steps++ < 500) Step(sch, bm);
        Assert.All(seqs, s => Assert.Equal(16, s.Count));
        Assert.All(seqs, s => Assert.Equal(SequenceStatus.Finished, s.Status));
        Assert.True(sch.Preemptions > 0);
        Assert.Equal(6, bm.FreeBlocks);
    }

    [Fact]
    public void PreemptedSequenceIsRecomputedFromAllItsTokens()
    {
        var bm = new BlockManager(4, 4);
        var sch = new Scheduler(bm, new EngineOptions { WaitingServedRatio = 0 });
        var old = Seq(1, 7, maxNew: 9);
        var young = Seq(2, 7, maxNew: 9);
        sch.Add(old);
        sch.Add(young);
        Step(sch, bm);                                 // both prefilled: 2 blocks each, 8 tokens each
        Step(sch, bm);                                 // decode position 7: still 2 blocks each
        Step(sch, bm);                                 // both need a 3rd block: young preempted
        Assert.Equal(SequenceStatus.Preempted, young.Status);
        Assert.Equal(0, young.NumComputed);
        Assert.Equal(9, young.Count);                  // keeps its generated tokens
        Assert.Same(young, sch.Waiting[0]);
        while (sch.Running.Count > 0 || sch.Waiting.Count > 0) Step(sch, bm);
        Assert.Equal(16, old.Count);
        Assert.Equal(16, young.Count);
    }
}
