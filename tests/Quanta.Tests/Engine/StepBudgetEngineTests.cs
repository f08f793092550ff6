using Quanta.Engine;

namespace Quanta.Tests.Engine;

/// <summary>Mixed steps through the engine: a long prompt arriving while sequences decode is spread over budgeted steps.</summary>
public class StepBudgetEngineTests
{
    static readonly FakeTokenizer Tok = new();
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static GenerationRequest Req(int[] prompt, int maxNew) => new() { PromptIds = prompt, Params = new SamplingParams { MaxNewTokens = maxNew } };

    static int[] Prompt(int i, int len) => [1, .. Enumerable.Range(0, len - 1).Select(j => 3 + (i * 31 + j * 7) % 60)];

    static async Task<int[]> Ids(IEngine e, GenerationRequest r)
    {
        var (tokens, last) = await EngineTests.Collect(e, r);
        Assert.IsType<GenerationFinished>(last);
        return [.. tokens.Select(t => t.Token.Id)];
    }

    /// <summary>Submits <paramref name="n"/> requests that decode until cancelled and waits until each has its first token.</summary>
    static async Task<List<System.Threading.Channels.ChannelReader<GenerationEvent>>> StartDecoders(IEngine e, int n, CancellationToken stop)
    {
        var streams = Enumerable.Range(0, n).Select(i => e.Submit(new GenerationRequest
        {
            PromptIds = Prompt(i, 8), Params = new SamplingParams { MaxNewTokens = 1000 }, Cancellation = stop,
        })).ToList();
        foreach (var s in streams) Assert.IsType<TokenGenerated>(await s.ReadAsync(Ct));
        return streams;
    }

    static async Task EndDecoders(CancellationTokenSource stop, List<System.Threading.Channels.ChannelReader<GenerationEvent>> streams)
    {
        stop.Cancel();
        foreach (var s in streams)
        {
            GenerationEvent last;
            do last = await s.ReadAsync(Ct); while (last is TokenGenerated);
            Assert.Equal(FinishReason.Cancelled, Assert.IsType<GenerationFinished>(last).Reason);
        }
    }

    [Fact]
    public async Task ALongPromptAmongDecodersRunsInBudgetedStepsAndGivesItsSoloTokens()
    {
        const int decoders = 8, budget = 48, promptLen = 300, maxNew = 4;
        var prompt = Prompt(99, promptLen);
        await using var solo = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions());
        var expected = await Ids(solo, Req(prompt, maxNew));

        var runner = new FakeRunner(1024) { GateFromStep = int.MaxValue };
        runner.Gate.Reset();
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { MaxNumBatchedTokens = budget, WaitingServedRatio = 0 });
        using var stop = new CancellationTokenSource();
        var streams = await StartDecoders(e, decoders, stop.Token);
        int from;
        lock (runner.Steps)
        {
            from = runner.Steps.Count;            // every step from here on is scheduled with all the decoders decoding
            runner.GateFromStep = from + 1;       // hold the engine so the prompt arrives long before they could finish
        }
        var answer = Ids(e, Req(prompt, maxNew));
        runner.Gate.Set();
        Assert.Equal(expected, await answer);
        List<(int Tokens, int Seqs)> steps;
        lock (runner.Steps) steps = runner.Steps[from..];
        await EndDecoders(stop, streams);

        Assert.All(steps, s => Assert.True(s.Tokens <= budget && s.Seqs >= decoders, $"step of {s.Tokens} tokens, {s.Seqs} sequences"));
        var withPrompt = steps.Where(s => s.Seqs == decoders + 1).Select(s => s.Tokens).ToList();
        // 40 prompt tokens a step (48 - 8 decode rows): 7 full chunks, the last 20 samples the first token, then 3 decode steps.
        Assert.Equal([48, 48, 48, 48, 48, 48, 48, 28, 9, 9, 9], withPrompt);
    }

    [Fact]
    public async Task WithNothingDecodingALongPromptPrefillsInOneStep()
    {
        var runner = new FakeRunner(64);
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { MaxNumBatchedTokens = 16 });
        await Ids(e, Req(Prompt(3, 300), 3));
        Assert.Equal([(300, 1), (1, 1), (1, 1)], runner.Steps);
    }

    [Fact]
    public async Task APrefixSharedAmongDecodersHitsTheCacheAndGivesTheSameTokens()
    {
        var shared = Prompt(1, 100);
        int[] second = [.. shared, 7, 8, 9];
        await using var plain = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions { PrefixCaching = false });
        var expected = await Ids(plain, Req(second, 10));

        await using var e = new LlmEngine(new FakeRunner(1024), Tok, new EngineOptions { MaxNumBatchedTokens = 24, WaitingServedRatio = 0 });
        using var stop = new CancellationTokenSource();
        var streams = await StartDecoders(e, 4, stop.Token);
        await Ids(e, Req(shared, 5));
        long hits = e.Stats.PrefixCacheHits;
        Assert.Equal(expected, await Ids(e, Req(second, 10)));
        Assert.True(e.Stats.PrefixCacheHits - hits >= 96, $"hits {e.Stats.PrefixCacheHits - hits}");
        await EndDecoders(stop, streams);
    }

    [Fact]
    public async Task ATinyCacheWithASmallBudgetPreemptsYetEveryRequestGivesItsSoloTokens()
    {
        var prompts = Enumerable.Range(0, 12).Select(i => Prompt(i, 10 + 3 * i)).ToArray();
        var solo = new int[prompts.Length][];
        for (int i = 0; i < prompts.Length; i++)
        {
            await using var one = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions());
            solo[i] = await Ids(one, Req(prompts[i], 20));
        }
        var runner = new FakeRunner(numBlocks: 10, blockSize: 8);   // 80 tokens: about two sequences at a time
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { MaxNumBatchedTokens = 12, WaitingServedRatio = 0 });
        var got = await Task.WhenAll(prompts.Select(p => Ids(e, Req(p, 20))));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(solo[i], got[i]);
        Assert.True(e.Stats.Preemptions > 0);
        Assert.Equal(0, e.Stats.KvBlocksUsed);
    }
}
