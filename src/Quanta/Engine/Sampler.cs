using System.Numerics.Tensors;

namespace Quanta.Engine;

/// <summary>
/// Chooses the next token from one logits row (CPU). Order as in HF/TGI: repetition penalty,
/// frequency/presence penalties, then when sampling temperature, top-k, top-p, typical-p.
/// Logprobs are the log-softmax of the processed logits. Scratch buffers are reused: no allocations per token.
/// </summary>
public sealed class Sampler
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
        var w = _work.AsSpan(0, _vocab);
        logits[.._vocab].CopyTo(w);
        ApplyPenalties(w, p, state);
        if (p.DoSample) Warp(w, p);

        float max = TensorPrimitives.Max(w);
        var e = _exps.AsSpan(0, _vocab);
        TensorPrimitives.Subtract(w, max, e);
        TensorPrimitives.Exp(e, e);
        float sum = TensorPrimitives.Sum(e);
        float lse = max + MathF.Log(sum);

        int chosen = p.DoSample ? Draw(e, sum, ref state.Rng) : ArgMax(w);
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
                w[id] = l < 0 ? l * rp : l / rp;
            }
        if (p.FrequencyPenalty != 0f || p.PresencePenalty != 0f)
            foreach (var (id, count) in s.GeneratedCounts)
                w[id] -= count * p.FrequencyPenalty + p.PresencePenalty;
    }

    /// <summary>First index of the largest value (as torch.argmax and llama2.c).</summary>
    static int ArgMax(ReadOnlySpan<float> w)
    {
        int best = 0;
        for (int i = 1; i < w.Length; i++) if (w[i] > w[best]) best = i;
        return best;
    }

    static int Draw(ReadOnlySpan<float> e, float sum, ref Xoshiro256 rng)
    {
        double u = rng.NextDouble() * sum, cum = 0;
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

    void Warp(Span<float> w, SamplingParams p)
    {
        if (p.Temperature > 0f && p.Temperature != 1f) TensorPrimitives.Divide(w, p.Temperature, w);
        bool topK = p.TopK > 0 && p.TopK < _vocab, topP = p.TopP < 1f, typical = p.TypicalP < 1f;
        if (!topK && !topP && !typical) return;

        var keys = _keys.AsSpan(0, _vocab);
        var order = _order.AsSpan(0, _vocab);
        for (int i = 0; i < _vocab; i++) { keys[i] = -w[i]; order[i] = i; }
        keys.Sort(order);                                   // descending logits

        int n = _vocab;
        if (topK)
        {
            n = p.TopK;                                     // keep ties with the k-th value (HF: remove < kth)
            while (n < _vocab && w[order[n]] == w[order[n - 1]]) n++;
        }
        if (topP) n = KeepTopP(w, order, n, p.TopP);
        if (typical) n = KeepTypical(w, order, n, p.TypicalP);
        for (int i = n; i < _vocab; i++) w[order[i]] = float.NegativeInfinity;
    }

    /// <summary>HF TopPLogitsWarper: drops the least likely tokens whose cumulative mass is at most 1 - p.</summary>
    int KeepTopP(ReadOnlySpan<float> w, ReadOnlySpan<int> order, int n, float topP)
    {
        float max = w[order[0]];
        var e = _exps.AsSpan(0, n);
        double total = 0;
        for (int i = 0; i < n; i++) total += e[i] = MathF.Exp(w[order[i]] - max);
        double cum = 0;
        while (n > 1)
        {
            cum += e[n - 1] / total;
            if (cum > 1.0 - topP) break;
            n--;
        }
        return n;
    }

    /// <summary>HF TypicalLogitsWarper over the <paramref name="n"/> kept tokens; reorders order[..n] by typicality.</summary>
    int KeepTypical(ReadOnlySpan<float> w, Span<int> order, int n, float mass)
    {
        float max = w[order[0]];
        double total = 0;
        for (int i = 0; i < n; i++) total += MathF.Exp(w[order[i]] - max);
        float lse = max + (float)Math.Log(total);
        double entropy = 0;
        for (int i = 0; i < n; i++)
        {
            float lp = w[order[i]] - lse;
            entropy -= Math.Exp(lp) * lp;
        }
        var keys = _keys.AsSpan(0, n);
        for (int i = 0; i < n; i++) keys[i] = MathF.Abs(-(w[order[i]] - lse) - (float)entropy);
        keys.Sort(order[..n]);
        double cum = 0;
        int last = 0;
        for (int i = 0; i < n; i++)
        {
            cum += Math.Exp(w[order[i]] - lse);
            if (cum < mass) last = i + 1; else break;
        }
        last = Math.Min(last, n - 1);
        int keep = last + 1;
        while (keep < n && keys[keep] <= keys[last]) keep++;
        return keep;
    }
}
