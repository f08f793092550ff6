using Quanta.Engine;

namespace Quanta.Tests.Engine;

public class SamplerTests
{
    static readonly float[] Probs = [0.5f, 0.3f, 0.15f, 0.05f];
    static float[] LogitsOf(float[] probs) => [.. probs.Select(p => MathF.Log(p) + 3f)];

    static int Sample(float[] logits, SamplingParams p, SamplerState? st = null) =>
        new Sampler(logits.Length).Sample(logits, p, st ?? new SamplerState(p, []), out _, [], []);

    static HashSet<int> Draws(float[] logits, SamplingParams p, int n = 2000)
    {
        var sampler = new Sampler(logits.Length);
        var st = new SamplerState(p with { Seed = 7 }, []);
        var seen = new HashSet<int>();
        for (int i = 0; i < n; i++) seen.Add(sampler.Sample(logits, p, st, out _, [], []));
        return seen;
    }

    [Fact]
    public void GreedyTakesFirstMaximumAndReportsLogSoftmax()
    {
        float[] logits = [1f, 3f, 3f, -2f];
        var p = new SamplingParams();
        int id = new Sampler(4).Sample(logits, p, new SamplerState(p, []), out float lp, [], []);
        Assert.Equal(1, id);
        double lse = Math.Log(logits.Sum(l => Math.Exp(l)));
        Assert.Equal(3 - lse, lp, 5);
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        var p = new SamplingParams { RepetitionPenalty = 2f, TopNTokens = 4 };
        float[] logits = [4f, 3f, -1f, -1.5f];
        var st = new SamplerState(p, [0, 2]);        // prompt saw ids 0 and 2
        var ids = new int[4];
        var lps = new float[4];
        int id = new Sampler(4).Sample(logits, p, st, out _, ids, lps);
        Assert.Equal(1, id);                           // 4/2 = 2 < 3
        Assert.Equal([1, 0, 3, 2], ids);               // -1*2 = -2 < -1.5
        double lse = Math.Log(Math.Exp(2) + Math.Exp(3) + Math.Exp(-2) + Math.Exp(-1.5));
        Assert.Equal(-2 - lse, lps[3], 5);
    }

    [Fact]
    public void FrequencyAndPresencePenaltiesCountGeneratedTokens()
    {
        var p = new SamplingParams { FrequencyPenalty = 0.5f, PresencePenalty = 0.25f };
        float[] logits = [5f, 4f, 3.5f];
        var st = new SamplerState(p, [1, 1, 1]);       // prompt ids do not count
        st.Accept(0); st.Accept(0);                    // 5 - 2*0.5 - 0.25 = 3.75 < 4
        Assert.Equal(1, Sample(logits, p, st));
        st.Accept(1);                                  // 4 - 0.75 = 3.25: id 0 (3.75) best again
        Assert.Equal(0, Sample(logits, p, st));
        st.Accept(0);                                  // 5 - 1.5 - 0.25 = 3.25 < 3.5
        Assert.Equal(2, Sample(logits, p, st));
    }

    [Fact]
    public void TopKKeepsOnlyTheKBest()
    {
        var logits = LogitsOf(Probs);
        Assert.Equal([0], Draws(logits, new SamplingParams { DoSample = true, TopK = 1 }));
        Assert.Equal([0, 1], Draws(logits, new SamplingParams { DoSample = true, TopK = 2 }).Order());
        Assert.Equal([0, 1, 2, 3], Draws(logits, new SamplingParams { DoSample = true }).Order());
    }

    [Fact]
    public void TopPDropsTheTailWhoseMassIsAtMostOneMinusP()
    {
        var logits = LogitsOf(Probs);                  // ascending cumulative: .05 .2 .5 1
        Assert.Equal([0, 1], Draws(logits, new SamplingParams { DoSample = true, TopP = 0.7f }).Order());
        Assert.Equal([0, 1, 2], Draws(logits, new SamplingParams { DoSample = true, TopP = 0.9f }).Order());
        Assert.Equal([0], Draws(logits, new SamplingParams { DoSample = true, TopP = 0.4f }));
    }

    [Fact]
    public void TypicalPKeepsTokensClosestToTheEntropy()
    {
        // entropy 1.142; |-ln p - H| = .449 .062 .755 1.854: id 1 is the most typical, then id 0.
        var logits = LogitsOf(Probs);
        Assert.Equal([1], Draws(logits, new SamplingParams { DoSample = true, TypicalP = 0.2f }));
        Assert.Equal([0, 1], Draws(logits, new SamplingParams { DoSample = true, TypicalP = 0.5f }).Order());
    }

    /// <summary>The kept set by HF's definitions, computed the plain way (full sort, all probabilities).</summary>
    static HashSet<int> ReferenceKept(float[] logits, int topK, float topP)
    {
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToList();
        if (topK > 0) order = [.. order.Where(i => logits[i] >= logits[order[topK - 1]])];
        double max = logits[order[0]], total = order.Sum(i => Math.Exp(logits[i] - max)), cum = 0;
        var kept = new HashSet<int>(order);
        foreach (int i in Enumerable.Reverse(order).Take(order.Count - 1))
        {
            cum += Math.Exp(logits[i] - max) / total;
            if (cum <= 1 - topP) kept.Remove(i); else break;
        }
        return kept;
    }

    [Theory]
    [InlineData(0, 0.9f)]
    [InlineData(0, 0.5f)]
    [InlineData(50, 1f)]
    [InlineData(50, 0.8f)]
    public void WarpersKeepExactlyTheReferenceSetOnALargeVocabulary(int topK, float topP)
    {
        var rng = new Random(5);
        var logits = Enumerable.Range(0, 3000).Select(_ => (float)(rng.NextDouble() * 8)).ToArray();
        logits[17] = logits[18];                       // a tie
        var p = new SamplingParams { DoSample = true, TopK = topK, TopP = topP, TopNTokens = logits.Length, Seed = 1 };
        var ids = new int[logits.Length];
        var lps = new float[logits.Length];
        new Sampler(logits.Length).Sample(logits, p, new SamplerState(p, []), out _, ids, lps);
        var kept = ids.Where((id, j) => float.IsFinite(lps[j])).ToHashSet();
        Assert.Equal(ReferenceKept(logits, topK, topP).Order(), kept.Order());
    }

    [Fact]
    public void TemperatureScalesTheReportedLogprob()
    {
        float[] logits = [2f, 1f, 0f];
        var p = new SamplingParams { DoSample = true, Temperature = 0.5f, Seed = 3 };
        int id = new Sampler(3).Sample(logits, p, new SamplerState(p, []), out float lp, [], []);
        double lse = Math.Log(logits.Sum(l => Math.Exp(l / 0.5)));
        Assert.Equal(logits[id] / 0.5 - lse, lp, 5);
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndTheSeedIsReported()
    {
        var logits = new float[50];
        for (int i = 0; i < logits.Length; i++) logits[i] = (i * 7 % 13) / 4f;
        int[] Run(ulong? seed, out ulong used)
        {
            var p = new SamplingParams { DoSample = true, Seed = seed, TopP = 0.95f };
            var st = new SamplerState(p, []);
            used = st.Seed;
            var sampler = new Sampler(logits.Length);
            return [.. Enumerable.Range(0, 40).Select(i => sampler.Sample(logits, p, st, out _, [], []))];
        }
        var a = Run(42, out var seedA);
        Assert.Equal(42UL, seedA);
        Assert.Equal(a, Run(42, out _));
        Assert.NotEqual(a, Run(43, out _));
        var r = Run(null, out var random);
        Assert.Equal(r, Run(random, out _));
    }

    [Fact]
    public void TopNAlternativesAreSortedWithTheirLogprobs()
    {
        float[] logits = [0f, 2f, 1f, 3f, -1f];
        var ids = new int[3];
        var lps = new float[3];
        var p = new SamplingParams();
        new Sampler(5).Sample(logits, p, new SamplerState(p, []), out float lp, ids, lps);
        Assert.Equal([3, 1, 2], ids);
        double lse = Math.Log(logits.Sum(l => Math.Exp(l)));
        Assert.Equal(lp, lps[0]);
        Assert.Equal(1 - lse, lps[2], 5);
    }
}

/// <summary>Sampling stays finite at every temperature and penalty the validator accepts.</summary>
public class SamplerExtremeTests
{
    static readonly float[] Logits = [1.5f, 4f, -3f, 3.9f, 0f];

    [Theory]
    [InlineData(1e-45f)]
    [InlineData(1e-40f)]
    [InlineData(1e-38f)]
    [InlineData(9e-6f)]
    public void Tiny_temperatures_choose_greedily_with_a_finite_logprob(float temperature)
    {
        var p = new SamplingParams { DoSample = true, Temperature = temperature, Seed = 3 };
        Assert.False(p.DoSample);
        var sampler = new Sampler(Logits.Length);
        var st = new SamplerState(p, []);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(1, sampler.Sample(Logits, p, st, out float lp, [], []));
            Assert.True(float.IsFinite(lp), $"logprob {lp}");
        }
        Assert.True(RowSampling.For(p, Logits.Length, 0.5).Greedy);
    }

    [Fact]
    public void A_temperature_just_above_the_floor_still_samples()
    {
        var p = new SamplingParams { DoSample = true, Temperature = 2e-5f };
        Assert.True(p.DoSample);
        int id = new Sampler(Logits.Length).Sample(Logits, p, new SamplerState(p, []), out float lp, [], []);
        Assert.Equal(1, id);
        Assert.True(float.IsFinite(lp));
    }

    [Theory]
    [InlineData(1e-45f, 1f)]
    [InlineData(1e-45f, 0.5f)]
    [InlineData(1e-30f, 3e38f)]
    public void Extreme_penalties_and_huge_temperatures_keep_logprobs_finite(float repetition, float temperature)
    {
        var p = new SamplingParams { DoSample = true, Temperature = temperature, RepetitionPenalty = repetition, Seed = 1, TopP = 0.9f };
        var sampler = new Sampler(Logits.Length);
        var st = new SamplerState(p, [0, 1, 3]);
        var tops = new int[3];
        var topLps = new float[3];
        for (int i = 0; i < 50; i++)
        {
            int id = sampler.Sample(Logits, p, st, out float lp, tops, topLps);
            Assert.InRange(id, 0, Logits.Length - 1);
            Assert.True(float.IsFinite(lp), $"logprob {lp}");
            Assert.All(topLps, x => Assert.False(float.IsNaN(x)));
        }
    }
}
