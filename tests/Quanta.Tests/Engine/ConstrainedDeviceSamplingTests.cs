using System.Text.RegularExpressions;
using Quanta.Engine;
using Quanta.Grammar;

namespace Quanta.Tests.Engine;

/// <summary>
/// Constrained rows on a device sampler: the engine hands each row its grammar's mask for the step, constrained and
/// free rows share steps, and steps with a constrained row are never queued behind another.
/// </summary>
public class ConstrainedDeviceSamplingTests
{
    static readonly FakeTokenizer Tok = new();
    const string Words = "[a-m]+( [a-z]+)*";
    static readonly GrammarSpec Regex = new(GrammarKind.Regex, Words);

    static GenerationRequest Req(int i, SamplingParams p, int maxNew) =>
        new() { PromptIds = [1, .. Enumerable.Range(0, 8 + i).Select(j => 3 + (i * 31 + j * 7) % 26)], Params = p with { MaxNewTokens = maxNew } };

    static readonly GenerationRequest[] Mixed =
    [
        Req(0, new SamplingParams { Grammar = Regex }, 30),
        Req(1, new SamplingParams { Grammar = Regex, DoSample = true, Seed = 4, Temperature = 0.8f, TopK = 9 }, 30),
        Req(2, new SamplingParams { Grammar = Regex, DoSample = true, Seed = 5, TopP = 0.7f }, 30),
        Req(3, new SamplingParams(), 30),
        Req(4, new SamplingParams { DoSample = true, Seed = 6 }, 30),
    ];

    static async Task<(List<TokenGenerated> Tokens, GenerationEvent Last)[]> Run(IModelRunner runner, GenerationRequest[] reqs)
    {
        await using var e = new LlmEngine(runner, Tok, new EngineOptions());
        return await Task.WhenAll(reqs.Select(r => EngineTests.Collect(e, r)));
    }

    /// <summary>
    /// Constrained (greedy, top-k, top-p) and free requests together: every step is sampled on the device, constrained
    /// rows carry a mask of the vocabulary's width and free rows none, and the tokens and logprobs are the CPU path's.
    /// </summary>
    [Fact]
    public async Task ConstrainedAndFreeRowsShareDeviceSampledSteps()
    {
        using var device = new FakeDeviceRunner(256);
        var got = await Run(device, Mixed);
        var want = await Run(new FakeRunner(256), Mixed);
        Assert.Equal(0, device.ForwardCalls);
        Assert.Contains(device.Rows, r => r.Mask.Length == (FakeRunner.Vocab + 31) / 32);
        Assert.Contains(device.Rows, r => r.Mask.IsEmpty);
        for (int i = 0; i < Mixed.Length; i++)
        {
            Assert.Equal(want[i].Tokens.Select(t => (t.Token.Id, t.Token.Logprob)), got[i].Tokens.Select(t => (t.Token.Id, t.Token.Logprob)));
            var text = Assert.IsType<GenerationFinished>(got[i].Last).GeneratedText;
            if (Mixed[i].Params.Grammar is not null) Assert.Matches(new Regex($"^(?:{Words})$"), text);
        }
    }

    /// <summary>A constrained row's next mask needs the token before it: no step holding one is queued behind another, free runs still are.</summary>
    [Fact]
    public async Task StepsWithAConstrainedRowAreNotQueuedAhead()
    {
        using var constrained = new FakeDeviceRunner(256);
        await Run(constrained, Mixed[..3]);
        Assert.Equal(0, constrained.MaskedBehind);
        Assert.Equal(0, constrained.QueuedBehind);
        Assert.True(constrained.ForwardSampleCalls >= 30);
        using var mixed = new FakeDeviceRunner(256);
        await Run(mixed, [Mixed[0], Req(5, new SamplingParams(), 80)]);   // the free one decodes alone after the constrained one ends
        Assert.Equal(0, mixed.MaskedBehind);
        Assert.True(mixed.QueuedBehind > 10, $"{mixed.QueuedBehind} steps queued behind another");
    }

    /// <summary>The reference row sampler with a grammar's mask in the row chooses what the request sampler with that grammar does.</summary>
    [Fact]
    public void MaskedRowReferenceMatchesTheGrammarSampler()
    {
        var grammar = new GrammarCache(new TokenVocabulary(Tok, FakeRunner.Vocab, [Tok.EosId])).Get(Regex);
        var sampler = new Sampler(FakeRunner.Vocab);
        var rng = new Random(3);
        var logits = new float[FakeRunner.Vocab];
        SamplingParams[] ps = [new() { Grammar = Regex }, new() { Grammar = Regex, DoSample = true, TopK = 5 }, new() { Grammar = Regex, DoSample = true, TopP = 0.6f, Temperature = 0.7f }];
        foreach (var p in ps)
            for (ulong seed = 0; seed < 20; seed++)
            {
                for (int i = 0; i < logits.Length; i++) logits[i] = (float)(rng.NextDouble() * 12 - 6);
                var state = new SamplerState(p with { MaxNewTokens = 10 }, [], seed, grammar);
                for (int step = 0; step < (int)(seed % 4); step++) state.Accept(3 + step);   // "abc..": a prefix the grammar allows
                var copy = new Xoshiro256(seed);
                var row = RowSampling.For(p, FakeRunner.Vocab, p.DoSample ? copy.NextDouble() : 0) with { Mask = state.Grammar!.Allowed() };
                int want = sampler.Sample(logits, p, state, out float wantLp, [], []);
                Assert.True(GrammarMask.Allows(row.Mask.Span, want));
                Assert.Equal(want, sampler.Sample(logits, row, out float lp));
                Assert.Equal(wantLp, lp);
            }
    }
}
