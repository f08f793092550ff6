using Quanta.Cpu;
using Quanta.Engine;

namespace Quanta.Tests.Engine;

/// <summary>The engine over the real CPU backend and the built-in stories260K.</summary>
public class CpuEngineTests
{
    static readonly string[] Words = ["Once", "Lily", "Ben", "The dog", "A big", "Tim", "Mom said", "One day", "The sun", "Sue"];

    static string PromptText(int i) => $"{Words[i % Words.Length]} {Words[(i / Words.Length + 3) % Words.Length].ToLowerInvariant()}" + new string('!', i / 50);

    static GenerationRequest Req(int[] ids, int maxNew) => new() { PromptIds = ids, Params = new SamplingParams { MaxNewTokens = maxNew } };

    static async Task<int[]> Ids(IEngine e, GenerationRequest r) =>
        [.. (await EngineTests.Collect(e, r)).Tokens.Select(t => t.Token.Id)];

    [Fact]
    public async Task SixtyFourConcurrentPromptsGiveTheirSoloGreedyTokens()
    {
        var model = GenerateCommandTests.Stories();
        var prompts = Enumerable.Range(0, 64).Select(i => model.Tokenizer.Encode(PromptText(i), addBos: true)).ToArray();
        Assert.Equal(64, prompts.Select(p => string.Join(",", p)).Distinct().Count());
        using var runner = new CpuModelRunner(model, new KvCacheOptions(16, 64 * 6));
        await using var engine = new LlmEngine(runner, model.Tokenizer, new EngineOptions { MaxBatchPrefillTokens = 128 });
        var solo = new int[64][];
        for (int i = 0; i < 64; i++) solo[i] = await Ids(engine, Req(prompts[i], 40));
        var together = await Task.WhenAll(prompts.Select(p => Ids(engine, Req(p, 40))));
        for (int i = 0; i < 64; i++) Assert.Equal(solo[i], together[i]);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task ALongPromptChunkedAmongDecodersGivesItsSoloGreedyTokens()
    {
        var model = GenerateCommandTests.Stories();
        var shortPrompts = Enumerable.Range(0, 8).Select(i => model.Tokenizer.Encode(PromptText(i), addBos: true)).ToArray();
        var longPrompt = model.Tokenizer.Encode(string.Concat(Enumerable.Range(0, 40).Select(PromptText)), addBos: true);
        Assert.InRange(longPrompt.Length, 150, 400);
        using var runner = new CpuModelRunner(model, new KvCacheOptions(16, 256));
        int[] expected;
        int[][] expectedShort;
        await using (var alone = new LlmEngine(runner, model.Tokenizer, new EngineOptions()))
        {
            expected = await Ids(alone, Req(longPrompt, 20));
            expectedShort = await Task.WhenAll(shortPrompts.Select(p => Ids(alone, Req(p, 60))));
        }

        await using var mixed = new LlmEngine(runner, model.Tokenizer, new EngineOptions { MaxNumBatchedTokens = 40, WaitingServedRatio = 0 });
        var streams = shortPrompts.Select(p => mixed.Submit(Req(p, 60))).ToList();
        foreach (var s in streams) Assert.IsType<TokenGenerated>(await s.ReadAsync(TestContext.Current.CancellationToken));
        Assert.Equal(expected, await Ids(mixed, Req(longPrompt, 20)));   // prefilled 32 tokens a step beside the 8 decoding
        for (int i = 0; i < streams.Count; i++)
        {
            var rest = new List<int>();
            await foreach (var ev in streams[i].ReadAllAsync(TestContext.Current.CancellationToken))
                if (ev is TokenGenerated t) rest.Add(t.Token.Id);
            Assert.Equal(expectedShort[i][1..], rest);
        }
    }

    [Fact]
    public async Task TooSmallCacheStillCompletesEveryRequestIdentically()
    {
        var model = GenerateCommandTests.Stories();
        var prompts = Enumerable.Range(0, 16).Select(i => model.Tokenizer.Encode(PromptText(i * 3), addBos: true)).ToArray();
        using var big = new CpuModelRunner(model, new KvCacheOptions(16, 256));
        await using var roomy = new LlmEngine(big, model.Tokenizer, new EngineOptions());
        var expected = await Task.WhenAll(prompts.Select(p => Ids(roomy, Req(p, 60))));
        using var small = new CpuModelRunner(model, new KvCacheOptions(8, 24));   // 192 tokens for 16 x ~65
        await using var tight = new LlmEngine(small, model.Tokenizer, new EngineOptions());
        var got = await Task.WhenAll(prompts.Select(p => Ids(tight, Req(p, 60))));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], got[i]);
        Assert.True(tight.Stats.Preemptions > 0);
    }

    [Fact]
    public async Task CancelMidStreamFreesTheBlocks()
    {
        var model = GenerateCommandTests.Stories();
        using var runner = new CpuModelRunner(model, new KvCacheOptions(16, 64));
        await using var engine = new LlmEngine(runner, model.Tokenizer, new EngineOptions { PrefixCaching = false });
        using var cts = new CancellationTokenSource();
        var ct = TestContext.Current.CancellationToken;
        var events = engine.Submit(new GenerationRequest
        {
            PromptIds = model.Tokenizer.Encode("Once upon a time", true), Params = new SamplingParams { MaxNewTokens = 500, IgnoreEos = true },
            Cancellation = cts.Token,
        });
        for (int i = 0; i < 5; i++) Assert.IsType<TokenGenerated>(await events.ReadAsync(ct));
        Assert.True(engine.Stats.KvBlocksUsed > 0);
        cts.Cancel();
        GenerationEvent last;
        do last = await events.ReadAsync(ct); while (last is TokenGenerated);
        Assert.Equal(FinishReason.Cancelled, Assert.IsType<GenerationFinished>(last).Reason);
        while (engine.Stats.Running > 0) await Task.Delay(1, ct);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
    }
}
