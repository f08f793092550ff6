using Quanta.Engine;

namespace Quanta.Tests.Engine;

public class EngineTests
{
    static readonly FakeTokenizer Tok = new();

    internal static async Task<(List<TokenGenerated> Tokens, GenerationEvent Last)> Collect(IEngine engine, GenerationRequest r)
    {
        var tokens = new List<TokenGenerated>();
        GenerationEvent? last = null;
        await foreach (var e in engine.Submit(r).ReadAllAsync(TestContext.Current.CancellationToken))
            if (e is TokenGenerated t) tokens.Add(t); else last = e;
        return (tokens, last!);
    }

    static GenerationRequest Req(int[] prompt, int maxNew = 20, SamplingParams? p = null, bool logprobs = false) =>
        new() { PromptIds = prompt, Params = (p ?? new SamplingParams()) with { MaxNewTokens = maxNew }, PromptLogprobs = logprobs };

    static int[] Prompt(int i, int len) => [1, .. Enumerable.Range(0, len - 1).Select(j => 3 + (i * 31 + j * 7) % 60)];

    static async Task<int[]> Solo(int[] prompt, int maxNew, EngineOptions? o = null, int blocks = 64)
    {
        await using var e = new LlmEngine(new FakeRunner(blocks), Tok, o ?? new EngineOptions());
        var (tokens, last) = await Collect(e, Req(prompt, maxNew));
        Assert.IsType<GenerationFinished>(last);
        return [.. tokens.Select(t => t.Token.Id)];
    }

    [Fact]
    public async Task SixtyFourConcurrentRequestsEachGiveTheirSoloOutput()
    {
        var prompts = Enumerable.Range(0, 64).Select(i => Prompt(i, 5 + i % 37)).ToArray();
        var solo = new int[64][];
        for (int i = 0; i < 64; i++) solo[i] = await Solo(prompts[i], 24);
        await using var e = new LlmEngine(new FakeRunner(512), Tok, new EngineOptions { MaxBatchPrefillTokens = 100 });
        var results = await Task.WhenAll(prompts.Select(p => Collect(e, Req(p, 24))));
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(solo[i], results[i].Tokens.Select(t => t.Token.Id));
            var fin = Assert.IsType<GenerationFinished>(results[i].Last);
            Assert.Equal(FinishReason.Length, fin.Reason);
            Assert.Equal(24, fin.GeneratedTokens);
        }
        Assert.Equal(0, e.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task TinyKvCacheForcesPreemptionYetCompletesAllWithSoloOutputs()
    {
        var prompts = Enumerable.Range(0, 12).Select(i => Prompt(i, 10 + i)).ToArray();
        var runner = new FakeRunner(numBlocks: 6, blockSize: 8);   // 48 tokens: ~1.5 sequences at a time
        await using var e = new LlmEngine(runner, Tok, new EngineOptions());
        var results = await Task.WhenAll(prompts.Select(p => Collect(e, Req(p, 20))));
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(await Solo(prompts[i], 20), results[i].Tokens.Select(t => t.Token.Id));
        Assert.True(e.Stats.Preemptions > 0);
        Assert.Equal(0, e.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task SharedPrefixHitsTheCacheAndGivesTheSameTokens()
    {
        var shared = Prompt(1, 50);
        int[] second = [.. shared, 7, 8, 9];
        await using var e = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions());
        await Collect(e, Req(shared, 5));
        var (tokens, _) = await Collect(e, Req(second, 10));
        Assert.True(e.Stats.PrefixCacheHits >= 48, $"hits {e.Stats.PrefixCacheHits}");
        Assert.Equal(await Solo(second, 10, new EngineOptions { PrefixCaching = false }), tokens.Select(t => t.Token.Id));
    }

    [Fact]
    public async Task CancellingARequestFreesItsBlocks()
    {
        var runner = new FakeRunner(64) { GateFromStep = 2 };   // the third step waits until the request is cancelled
        runner.Gate.Reset();
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { PrefixCaching = false });
        using var cts = new CancellationTokenSource();
        var events = e.Submit(new GenerationRequest { PromptIds = Prompt(2, 40), Params = new() { MaxNewTokens = 900 }, Cancellation = cts.Token });
        var ct = TestContext.Current.CancellationToken;
        Assert.IsType<TokenGenerated>(await events.ReadAsync(ct));
        Assert.True(e.Stats.KvBlocksUsed > 0);
        cts.Cancel();
        runner.Gate.Set();
        GenerationEvent last;
        do last = await events.ReadAsync(ct); while (last is TokenGenerated);
        Assert.Equal(FinishReason.Cancelled, Assert.IsType<GenerationFinished>(last).Reason);
        while (e.Stats.Running > 0) await Task.Delay(1, ct);
        Assert.Equal(0, e.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task StopSequenceEndsGenerationAndIsLeftOutOfTheText()
    {
        var prompt = Prompt(3, 6);
        await using var e = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions());
        var (all, fin0) = await Collect(e, Req(prompt, 30));
        string text = ((GenerationFinished)fin0).GeneratedText;
        Assert.Equal(string.Concat(all.Select(t => t.TextDelta)), text);
        string stop = text.Substring(10, 3);
        int at = text.IndexOf(stop, StringComparison.Ordinal);
        var (tokens, last) = await Collect(e, Req(prompt, 30, new SamplingParams { Stop = ["zzzz", stop] }));
        var fin = Assert.IsType<GenerationFinished>(last);
        Assert.Equal(FinishReason.StopSequence, fin.Reason);
        Assert.Equal(text[..at], fin.GeneratedText);
        Assert.EndsWith(stop, string.Concat(tokens.Select(t => t.TextDelta)), StringComparison.Ordinal);

        // TGI checks the length limit first: the same token as the last allowed one finishes with "length", text whole.
        var (_, atLimit) = await Collect(e, Req(prompt, tokens.Count, new SamplingParams { Stop = [stop] }));
        var limited = Assert.IsType<GenerationFinished>(atLimit);
        Assert.Equal(FinishReason.Length, limited.Reason);
        Assert.EndsWith(stop, limited.GeneratedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EachTokenTellsHowMuchTextIsSafeToPrint()
    {
        var prompt = Prompt(3, 6);
        await using var e = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions());
        var (plain, _) = await Collect(e, Req(prompt, 30));
        int released = 0;
        foreach (var t in plain) Assert.Equal(released += t.TextDelta.Length, t.SafeTextLength);   // no stops: all of it

        string text = string.Concat(plain.Select(t => t.TextDelta));
        string stop = text.Substring(10, 3);
        var (cut, _) = await Collect(e, Req(prompt, 30, new SamplingParams { Stop = ["zzzzz", stop] }));
        int at = text.IndexOf(stop, StringComparison.Ordinal);
        released = 0;
        foreach (var t in cut[..^1])
        {
            released += t.TextDelta.Length;
            int safe = Math.Max(0, released - 4);                                  // "zzzzz" may still complete in the last 4
            Assert.Equal(released >= at + stop.Length ? Math.Min(safe, at) : safe, t.SafeTextLength);
        }
        Assert.Equal(FinishReason.StopSequence, cut[^1].FinishReason);
        Assert.Equal(at, cut[^1].SafeTextLength);                                    // the stop ends it: all before it is final
        Assert.All(cut[..^1], t => Assert.False(t.IsLast));
    }

    [Fact]
    public async Task TopTokensComeWithEachGreedyToken()
    {
        await using var e = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions());
        var (tokens, _) = await Collect(e, Req(Prompt(7, 8), 6, new SamplingParams { TopNTokens = 3 }));
        Assert.All(tokens, t =>
        {
            Assert.Equal(3, t.TopTokens.Count);
            Assert.Equal(t.Token.Id, t.TopTokens[0].Id);
            Assert.Equal(t.Token.Logprob, t.TopTokens[0].Logprob);
            Assert.True(t.TopTokens[0].Logprob >= t.TopTokens[1].Logprob && t.TopTokens[1].Logprob >= t.TopTokens[2].Logprob);
        });
        var stats = e.Stats;
        Assert.Equal((64, 16, 0, 0), (stats.KvBlocksTotal, stats.BlockSize, stats.Running, stats.Waiting));
        Assert.Equal(8, stats.PrefixCacheQueries);
        Assert.Equal(1024, e.MaxBatchTotalTokens);
    }

    [Fact]
    public async Task EosEndsGeneration()
    {
        var runner = new FakeRunner(64) { AllowEos = true };
        await using var e = new LlmEngine(runner, Tok, new EngineOptions());
        int eos = 0;
        for (int i = 0; i < 40 && eos == 0; i++)
        {
            var (tokens, last) = await Collect(e, Req(Prompt(i, 4), 200));
            var fin = Assert.IsType<GenerationFinished>(last);
            if (fin.Reason != FinishReason.EosToken) continue;
            eos++;
            Assert.Equal(2, tokens[^1].Token.Id);
            Assert.True(tokens[^1].Token.Special);
            Assert.Equal("", tokens[^1].TextDelta);
        }
        Assert.Equal(1, eos);
    }

    [Fact]
    public async Task PromptLogprobsMatchAcrossChunkSizes()
    {
        var prompt = Prompt(4, 40);
        async Task<IReadOnlyList<TokenInfo>> Prefill(int budget)
        {
            await using var e = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions { MaxBatchPrefillTokens = budget });
            var (_, last) = await Collect(e, Req(prompt, 2, logprobs: true));
            return Assert.IsType<GenerationFinished>(last).Prefill;
        }
        var whole = await Prefill(4096);
        Assert.Equal(prompt, whole.Select(t => t.Id));
        Assert.True(float.IsNaN(whole[0].Logprob));
        Assert.All(whole.Skip(1), t => Assert.True(t.Logprob < 0 && float.IsFinite(t.Logprob)));
        Assert.Equal(whole.Select(t => t.Logprob), (await Prefill(7)).Select(t => t.Logprob));
    }

    [Fact]
    public async Task WithoutPromptLogprobsPrefillStillListsThePromptTokensMadeOnlyWhenRead()
    {
        var prompt = Prompt(5, 30);
        await using var e = new LlmEngine(new FakeRunner(64), Tok, new EngineOptions { MaxBatchPrefillTokens = 7 });
        var (_, last) = await Collect(e, Req(prompt, 3));
        var prefill = Assert.IsType<GenerationFinished>(last).Prefill;
        Assert.IsNotType<TokenInfo[]>(prefill);
        Assert.Equal(prompt.Length, prefill.Count);
        Assert.Equal(prompt, prefill.Select(t => t.Id));
        Assert.Equal(prompt.Select(id => Tok.TokenText(id)), prefill.Select(t => t.Text));
        Assert.Equal(prompt.Select(id => Tok.IsSpecial(id)), prefill.Select(t => t.Special));
        Assert.All(prefill, t => Assert.True(float.IsNaN(t.Logprob)));
        Assert.Equal(prefill[7], prefill.ElementAt(7));
    }

    [Fact]
    public async Task RequestLongerThanTheCacheFailsValidation()
    {
        await using var e = new LlmEngine(new FakeRunner(4, 16), Tok, new EngineOptions());
        var (_, last) = await Collect(e, Req(Prompt(5, 40), maxNew: 30));
        var failed = Assert.IsType<GenerationFailed>(last);
        Assert.Equal("validation", failed.ErrorType);
        Assert.Contains("64", failed.Error);
        Assert.Equal("validation", Assert.IsType<GenerationFailed>((await Collect(e, Req([], 5))).Last).ErrorType);
    }

    [Fact]
    public async Task ARunnerFailureFailsThatBatchButNotTheEngine()
    {
        var runner = new FakeRunner(64) { ThrowOnToken = 63 };
        await using var e = new LlmEngine(runner, Tok, new EngineOptions());
        var (_, last) = await Collect(e, Req([1, 63, 4], 5));
        Assert.IsType<GenerationFailed>(last);
        Assert.True(e.Healthy);
        runner.ThrowOnToken = -1;
        Assert.IsType<GenerationFinished>((await Collect(e, Req([1, 4, 5], 5))).Last);
        Assert.Equal(0, e.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task EachClientThatSeesItsRequestEndSeesItsBlocksFreed()
    {
        var runner = new FakeRunner(64) { ThrowOnToken = 63 };
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { PrefixCaching = false });
        for (int i = 0; i < 6; i++)
        {
            bool fails = i % 2 == 1;
            var (_, last) = await Collect(e, Req(fails ? [1, 4, 63, 5] : Prompt(i, 20 + i), 8));
            Assert.IsType(fails ? typeof(GenerationFailed) : typeof(GenerationFinished), last);
            var stats = e.Stats;
            Assert.Equal((0, 0), (stats.Running, stats.KvBlocksUsed));
        }
    }

    [Fact]
    public async Task AFailingSequenceInABatchFailsAloneAndTheOthersFinish()
    {
        var good = Enumerable.Range(0, 6).Select(i => Prompt(i, 10)).ToArray();
        var expected = new List<int[]>();
        foreach (var p in good) expected.Add(await Solo(p, 12));
        var runner = new FakeRunner(256) { ThrowOnToken = 63 };
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { WaitingServedRatio = 0 });
        runner.Gate.Reset();                           // the first request's step waits while the rest queue up
        var first = Collect(e, Req(good[0], 12));
        Assert.True(runner.Entered.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        var bad = Collect(e, Req([1, 4, 63, 5], 12));
        var rest = good.Skip(1).Select(p => Collect(e, Req(p, 12))).ToList();
        runner.Gate.Set();
        var results = await Task.WhenAll([first, .. rest]);
        Assert.Equal("generation", Assert.IsType<GenerationFailed>((await bad).Last).ErrorType);
        for (int i = 0; i < good.Length; i++) Assert.Equal(expected[i], results[i].Tokens.Select(t => t.Token.Id));
        Assert.Equal(7, runner.ThrewInBatchOf);
    }

    [Fact]
    public async Task DrainFinishesInFlightRequestsThenRefusesNewOnes()
    {
        var e = new LlmEngine(new FakeRunner(256), Tok, new EngineOptions());
        var pending = Enumerable.Range(0, 8).Select(i => Collect(e, Req(Prompt(i, 12), 30))).ToList();
        await e.DrainAsync();
        foreach (var p in pending) Assert.Equal(30, Assert.IsType<GenerationFinished>((await p).Last).GeneratedTokens);
        Assert.IsType<GenerationFailed>((await Collect(e, Req(Prompt(1, 5), 5))).Last);
        Assert.False(e.Healthy);
    }

    [Fact]
    public async Task SeededSamplingIsReproducibleInABatch()
    {
        var p = new SamplingParams { DoSample = true, Seed = 99, Temperature = 0.8f, TopK = 20 };
        await using var e = new LlmEngine(new FakeRunner(256), Tok, new EngineOptions());
        var alone = await Collect(e, Req(Prompt(6, 9), 25, p));
        var crowd = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Collect(e, Req(Prompt(i == 3 ? 6 : i + 10, 9), 25, i == 3 ? p : p with { Seed = null }))));
        Assert.Equal(alone.Tokens.Select(t => t.Token.Id), crowd[3].Tokens.Select(t => t.Token.Id));
        Assert.Equal(99UL, ((GenerationFinished)crowd[3].Last).Seed);
    }
}
