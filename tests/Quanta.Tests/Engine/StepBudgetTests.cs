using Quanta.Engine;
using static Quanta.Tests.Engine.SchedulerTests;

namespace Quanta.Tests.Engine;

/// <summary>The step token budget (max_num_batched_tokens): one token per decoding sequence first, prompt chunks in what is left.</summary>
public class StepBudgetTests
{
    /// <summary><paramref name="n"/> sequences of 8-token prompts, prefilled in one step and now decoding.</summary>
    static List<Sequence> Decoders(Scheduler sch, BlockManager bm, int n, int maxNew = 200)
    {
        var seqs = Enumerable.Range(1, n).Select(i => Seq(i, 8, maxNew)).ToList();
        foreach (var s in seqs) sch.Add(s);
        Step(sch, bm);
        Assert.All(seqs, s => Assert.Equal(1, s.Count - s.NumComputed));
        return seqs;
    }

    static int Decoding(Scheduler sch) => sch.Running.Count(s => s.Count - s.NumComputed == 1);

    [Fact]
    public void ALongPromptAmongDecodersIsChunkedWithinTheBudgetAndEveryDecoderGoesOn()
    {
        var bm = new BlockManager(512, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxNumBatchedTokens = 64, WaitingServedRatio = 0 });
        var decoders = Decoders(sch, bm, 20);
        var prompt = Seq(100, 300, maxNew: 3);
        sch.Add(prompt);
        var chunks = new List<int>();
        while (prompt.NumGenerated == 0)
        {
            var step = Step(sch, bm);
            Assert.True(step.Sum(x => x.Chunk) <= 64, $"step of {step.Sum(x => x.Chunk)} tokens");
            Assert.Equal(decoders.Select(d => (d.Id, 1)), step.Where(x => x.Id != 100));
            chunks.Add(step.Single(x => x.Id == 100).Chunk);
        }
        Assert.Equal([44, 44, 44, 44, 44, 44, 36], chunks);   // 64 - 20 decode rows a step
        Assert.Equal(300, prompt.NumComputed);
        Assert.Equal([(100L, 1)], Step(sch, bm).Where(x => x.Id == 100));   // decoding like the others
        Assert.All(decoders, d => Assert.Equal(1 + chunks.Count + 1, d.NumGenerated));
    }

    [Fact]
    public void WithNothingDecodingAStepTakesTheWholePrefillBudget()
    {
        var bm = new BlockManager(64, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxNumBatchedTokens = 16, MaxBatchPrefillTokens = 100, WaitingServedRatio = 0 });
        sch.Add(Seq(1, 250, maxNew: 50));
        Assert.Equal([(1L, 100)], Step(sch, bm));
        Assert.Equal([(1L, 100)], Step(sch, bm));
        Assert.Equal([(1L, 50)], Step(sch, bm));
        sch.Add(Seq(2, 40));                           // now one sequence decodes: 16 - 1 leaves less than the floor of 16
        Assert.Equal([(1L, 1), (2L, 16)], Step(sch, bm));
        Assert.Equal([(1L, 1), (2L, 16)], Step(sch, bm));
        Assert.Equal([(1L, 1), (2L, 8)], Step(sch, bm));
    }

    [Fact]
    public void MoreDecodersThanTheBudgetAllDecodeAndPromptsStillGetTheFloor()
    {
        var bm = new BlockManager(512, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxNumBatchedTokens = 24, WaitingServedRatio = 0 });
        Decoders(sch, bm, 30);
        sch.Add(Seq(100, 40));
        var step = Step(sch, bm);
        Assert.Equal(30, step.Count(x => x.Id != 100 && x.Chunk == 1));
        Assert.Equal((100L, EngineOptions.MinPrefillTokensPerStep), step[^1]);
    }

    [Fact]
    public void ZeroBoundsNothingBeyondThePrefillBudgetAndThePrefillBudgetStillCaps()
    {
        var bm = new BlockManager(512, 16);
        var sch = new Scheduler(bm, new EngineOptions { WaitingServedRatio = 0 });
        Decoders(sch, bm, 12);
        sch.Add(Seq(100, 5000));
        Assert.Equal((100L, EngineOptions.DefaultMaxBatchPrefillTokens), Step(sch, bm)[^1]);   // decode rows take none of it

        var own = new Scheduler(bm = new BlockManager(512, 16), new EngineOptions { MaxBatchPrefillTokens = 100, WaitingServedRatio = 0 });
        Decoders(own, bm, 12);
        own.Add(Seq(100, 150));
        Assert.Equal((100L, 100), Step(own, bm)[^1]);

        var capped = new Scheduler(bm = new BlockManager(512, 16), new EngineOptions { MaxNumBatchedTokens = 64, MaxBatchPrefillTokens = 20, WaitingServedRatio = 0 });
        Decoders(capped, bm, 2);
        capped.Add(Seq(100, 50));
        Assert.Equal((100L, 20), Step(capped, bm)[^1]);
    }

    [Fact]
    public void AdmissionMeasuresFitAgainstThePrefillBudgetNotWhatTheStepLeaves()
    {
        var bm = new BlockManager(512, 16);
        var sch = new Scheduler(bm, new EngineOptions
        {
            MaxNumBatchedTokens = 32, MaxBatchPrefillTokens = 100, WaitingServedRatio = 0.3, MaxWaitingTokens = 1000,
        });
        Decoders(sch, bm, 10);                                  // floor(10 * 0.3) = 3 prompts must fit to join
        foreach (int id in new[] { 100, 101, 102, 103 }) sch.Add(Seq(id, 40));
        Assert.Equal((100L, 22), Step(sch, bm)[^1]);            // 3 fit in 100: admitted together, computed 22 a step
        Assert.Equal(13, sch.Running.Count);
        Assert.Equal([(100L, 18), (101L, 4)], Step(sch, bm)[10..]);
        Assert.Equal([103L], sch.Waiting.Select(s => s.Id));    // 1 waiting < floor(13 * 0.3)
    }

    [Fact]
    public void AdmittedPromptsNotYetComputedCountAgainstThePrefillBudget()
    {
        var bm = new BlockManager(512, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxNumBatchedTokens = 32, MaxBatchPrefillTokens = 100, WaitingServedRatio = 0 });
        Decoders(sch, bm, 10);
        sch.Add(Seq(100, 90));
        sch.Add(Seq(101, 40));
        Assert.Equal((100L, 22), Step(sch, bm)[^1]);            // both admitted (90 < 100), 101 not computed yet
        Assert.Equal(12, sch.Running.Count);
        sch.Add(Seq(102, 10));
        Step(sch, bm);                                          // 68 + 40 admitted and not computed: no room
        Assert.Single(sch.Waiting);
        Step(sch, bm);                                          // 46 + 40: room for 14
        Assert.Empty(sch.Waiting);
    }

    [Fact]
    public void AChunkedPromptAmongDecodersFillsThePrefixCacheForItsTwin()
    {
        var bm = new BlockManager(512, 16);
        var sch = new Scheduler(bm, new EngineOptions { MaxNumBatchedTokens = 40, WaitingServedRatio = 0 });
        Decoders(sch, bm, 8);
        int[] prompt = [.. Enumerable.Range(0, 200).Select(i => 3 + i * 13 % 57)];
        var first = new Sequence(100, prompt, new SamplingParams { MaxNewTokens = 2 });
        sch.Add(first);
        while (first.NumGenerated == 0) Step(sch, bm);          // chunks of 32
        Assert.Equal(12, first.BlockHashes.Count);              // every full block of the prompt is registered
        var twin = new Sequence(101, [.. prompt, 9, 9, 9], new SamplingParams { MaxNewTokens = 2 });
        long hits = bm.PrefixHits;
        sch.Add(twin);
        var step = Step(sch, bm);
        Assert.Equal(192, bm.PrefixHits - hits);
        Assert.Equal((101L, 11), step[^1]);                     // 203 tokens, 192 cached
    }

    [Fact]
    public void OutOfBlocksWhileChunkingPreemptsAndEveryoneFinishesWithinTheBudget()
    {
        const int budget = 20, prefillCap = 4096;
        var bm = new BlockManager(12, 8);                       // 96 tokens of KV
        var sch = new Scheduler(bm, new EngineOptions { MaxNumBatchedTokens = budget, MaxBatchPrefillTokens = prefillCap, WaitingServedRatio = 0 });
        var seqs = Enumerable.Range(1, 4).Select(i => Seq(i, 6, maxNew: 20)).Append(Seq(5, 50, maxNew: 10)).ToList();
        foreach (var s in seqs.Take(4)) sch.Add(s);
        Step(sch, bm);
        sch.Add(seqs[4]);
        int steps = 0;
        while ((sch.Running.Count > 0 || sch.Waiting.Count > 0) && steps++ < 1000)
        {
            int decoding = Decoding(sch);                       // preemption within the step can only lower it
            int tokens = Step(sch, bm).Sum(x => x.Chunk);
            Assert.True(tokens <= (decoding == 0 ? prefillCap : decoding + Math.Max(EngineOptions.MinPrefillTokensPerStep, budget - decoding)),
                        $"{tokens} tokens with {decoding} decoding");
        }
        Assert.Equal([26, 26, 26, 26, 60], seqs.Select(s => s.Count));
        Assert.All(seqs, s => Assert.Equal(SequenceStatus.Finished, s.Status));
        Assert.True(sch.Preemptions > 0);
        Assert.Equal(12, bm.FreeBlocks);
    }
}
