using System.Numerics.Tensors;
using Quanta.Grammar;

namespace Quanta.Engine;

/// <summary>
/// Chooses the next token from one logits row (CPU). Order as in HF/TGI: repetition penalty,
/// frequency/presence penalties, the grammar's mask (constrained requests), then when sampling temperature, top-k,
/// top-p, typical-p.
/// Logprobs are the log-softmax of the processed logits. Scratch buffers are reused: no allocations per token.
/// </summary>
public sealed partial class Sampler
{
    readonly int _vocab;
    readonly float[] _work;  // [vocab] processed logits
    readonly float[] _exps;  // [vocab] exp(work - max)
    readonly float[] _keys;  // [vocab] sort keys
    readonly int[] _order;   // [vocab] token ids in sort order

    public Sampler(int vocabSize)
    {
        _vocab = vocabSize;
        _work = new float[vocabSize];
        _exps = new float[vocabSize];
        _keys = new float[vocabSize];
        _order = new int[vocabSize];
    }

    /// <summary>
    /// Picks a token from <paramref name="logits"/> [vocab]. Fills <paramref name="topIds"/>/<paramref name="topLogprobs"/>
    /// (same length, at most vocab) with the most likely alternatives, best first.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, SamplingParams p, SamplerState state, out float logprob,
                      Span<int> topIds, Span<float> topLogprobs)
    {
        ReadOnlySpan<float> w = logits[.._vocab];
        if (p.DoSample || p.RepetitionPenalty != 1f || p.FrequencyPenalty != 0f || p.PresencePenalty != 0f || state.Grammar is not null)
        {
            var work = _work.AsSpan(0, _vocab);     // greedy without penalties reads the logits in place
            w.CopyTo(work);
            ApplyPenalties(work, p, state);
            if (state.Grammar is { } g) GrammarMask.Apply(work, g.Mask());
            if (p.DoSample) Warp(work, p.Temperature, p.TopK, p.TopP, p.TypicalP);
            w = work;
        }
        return Choose(w, p.DoSample, p.DoSample ? state.Rng.NextDouble() : 0, out logprob, topIds, topLogprobs);
    }

    /// <summary>
    /// The reference for device samplers: the token for one <see cref="RowSampling"/> row, drawn at its uniform
    /// (the same token <see cref="Sample(ReadOnlySpan{float}, SamplingParams, SamplerState, out float, Span{int}, Span{float})"/>
    /// gives when the request's RNG would draw row.U).
    /// </summary>
    /// <remarks>The row's <see cref="RowSampling.Mask"/> rules tokens out before the warpers, as a grammar does in the other overload.</remarks>
    public int Sample(ReadOnlySpan<float> logits, in RowSampling row, out float logprob)
    {
        ReadOnlySpan<float> w = logits[.._vocab];
        var mask = row.Mask.Span;
        if (!row.Greedy || !mask.IsEmpty)
        {
            var work = _work.AsSpan(0, _vocab);
            w.CopyTo(work);
            if (!mask.IsEmpty) GrammarMask.Apply(work, mask);
            if (!row.Greedy) Warp(work, row.Temperature, row.TopK, row.TopP, 1f);
            w = work;
        }
        return Choose(w, !row.Greedy, row.U, out logprob, [], []);
    }

    /// <summary>First maximum, or when <paramref name="draw"/> the inverse CDF at <paramref name="u"/>, of the processed logits.</summary>
    int Choose(ReadOnlySpan<float> w, bool draw, double u, out float logprob, Span<int> topIds, Span<float> topLogprobs)
    {
        float max = TensorPrimitives.Max(w);
        var e = _exps.AsSpan(0, _vocab);
        TensorPrimitives.Subtract(w, max, e);
        TensorPrimitives.Exp(e, e);
        float sum = TensorPrimitives.Sum(e);
        float lse = max + MathF.Log(sum);

        int chosen = draw ? Draw(e, u) : ArgMax(w);
        logprob = w[chosen] - lse;
        TopN(w, lse, topIds, topLogprobs);
        return chosen;
    }

    /// <summary>Log-softmax of a raw logits row at <paramref name="id"/> (prompt logprobs).</summary>
    public float LogProb(ReadOnlySpan<float> logits, int id)
    {
        var row = logits[.._vocab];
        float max = TensorPrimitives.Max(row);
        var e = _exps.AsSpan(0, _vocab);
        TensorPrimitives.Subtract(row, max, e);
        TensorPrimitives.Exp(e, e);
        return row[id] - max - MathF.Log(TensorPrimitives.Sum(e));
    }

    static void ApplyPenalties(Span<float> w, SamplingParams p, SamplerState s)
    {
        float rp = p.RepetitionPenalty;
        if (rp != 1f)
            foreach (int id in s.Seen)
            {
                float l = w[id];
                w[id] = l < 0 ? l * rp : MathF.Min(l / rp, float.MaxValue);   // a tiny penalty must not make +inf (inf - max = NaN)
            }
        if (p.FrequencyPenalty != 0f || p.PresencePenalty != 0f)
            foreach (var (id, count) in s.GeneratedCounts)
                w[id] -= count * p.FrequencyPenalty + p.PresencePenalty;
    }

    /// <summary>
    /// Keeps processed logits finite from above after a division by a small temperature: infinity minus the infinite max
    /// is NaN. Overflowed values tie at float.MaxValue (-inf stays: filtered).
    /// </summary>
    static void Saturate(Span<float> w) => TensorPrimitives.Min(w, float.MaxValue, w);

    /// <summary>First index of the largest value (as torch.argmax and llama2.c).</summary>
    static int ArgMax(ReadOnlySpan<float> w)
    {
        int best = 0;
        for (int i = 1; i < w.Length; i++) if (w[i] > w[best]) best = i;
        return best;
    }

    /// <summary>
    /// Inverse CDF in token-id order at <paramref name="uniform"/> in [0, 1) times the total, both summed in double:
    /// exact enough that any summation order (a GPU's) lands on the same token but for a vanishing few draws.
    /// </summary>
    static int Draw(ReadOnlySpan<float> e, double uniform)
    {
        double total = 0;
        foreach (float x in e) total += x;
        double u = uniform * total, cum = 0;
        int last = 0;
        for (int i = 0; i < e.Length; i++)
        {
            if (e[i] == 0f) continue;
            cum += e[i];
            last = i;
            if (cum > u) return i;
        }
        return last;
    }

    static void TopN(ReadOnlySpan<float> w, float lse, Span<int> ids, Span<float> lps)
    {
        int n = ids.Length, filled = 0;
        if (n == 0) return;
        for (int i = 0; i < w.Length; i++)
        {
            float v = w[i];
            if (filled == n && v <= lps[n - 1]) continue;
            int j = filled < n ? filled++ : n - 1;
            while (j > 0 && lps[j - 1] < v) { lps[j] = lps[j - 1]; ids[j] = ids[j - 1]; j--; }
            lps[j] = v; ids[j] = i;
        }
        for (int j = 0; j < filled; j++) lps[j] -= lse;
        for (int j = filled; j < n; j++) { ids[j] = -1; lps[j] = float.NegativeInfinity; }
    }
}
