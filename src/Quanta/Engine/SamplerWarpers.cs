using System.Numerics.Tensors;

namespace Quanta.Engine;

/// <summary>Temperature, top-k, top-p and typical-p with HF/TGI semantics (filtered logits become -inf).</summary>
public sealed partial class Sampler
{
    void Warp(Span<float> w, float temperature, int topKeep, float topPMass, float typicalMass)
    {
        if (temperature > 0f && temperature != 1f)
        {
            TensorPrimitives.Divide(w, temperature, w);
            Saturate(w);
        }
        bool topK = topKeep > 0 && topKeep < _vocab, topP = topPMass < 1f, typical = typicalMass < 1f;
        if (!topK && !topP && !typical) return;

        // Only candidates are sorted: the top-k set, or for top-p the tokens not certainly cut.
        var order = _order.AsSpan(0, _vocab);
        double tail = 0;
        int c;
        if (topK) c = SelectTopK(w, order, topKeep);
        else if (topP) c = SelectTopPCandidates(w, order, topPMass, out tail);
        else { for (int i = 0; i < _vocab; i++) order[i] = i; c = _vocab; }
        var keys = _keys.AsSpan(0, c);
        for (int i = 0; i < c; i++) keys[i] = -w[order[i]];
        keys.Sort(order[..c]);                              // descending logits

        int n = c;
        if (topP) n = KeepTopP(w, order, n, tail, topPMass);
        if (typical) n = KeepTypical(w, order, n, typicalMass);
        var kept = _keys.AsSpan(0, n);
        for (int i = 0; i < n; i++) kept[i] = w[order[i]];
        w.Fill(float.NegativeInfinity);
        for (int i = 0; i < n; i++) w[order[i]] = kept[i];
    }

    /// <summary>Indices whose logit is at least the k-th largest (ties kept, as HF removes only values below it).</summary>
    int SelectTopK(ReadOnlySpan<float> w, Span<int> order, int k)
    {
        var heap = _keys.AsSpan(0, k);                      // min-heap of the k largest values
        int size = 0;
        foreach (float v in w)
        {
            if (size < k)
            {
                int i = size++;
                while (i > 0 && heap[(i - 1) / 2] > v) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; }
                heap[i] = v;
            }
            else if (v > heap[0]) SiftDown(heap, v);
        }
        float kth = heap[0];
        int c = 0;
        for (int i = 0; i < w.Length; i++) if (w[i] >= kth) order[c++] = i;
        return c;
    }

    static void SiftDown(Span<float> heap, float v)
    {
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= heap.Length) break;
            if (child + 1 < heap.Length && heap[child + 1] < heap[child]) child++;
            if (heap[child] >= v) break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = v;
    }

    /// <summary>
    /// Tokens with probability below (1 - p) / vocab hold at most 1 - p together, so top-p cuts them all:
    /// only the others are candidates. <paramref name="tail"/> is their mass, as exp(logit - max).
    /// </summary>
    int SelectTopPCandidates(ReadOnlySpan<float> w, Span<int> order, float topP, out double tail)
    {
        float max = TensorPrimitives.Max(w);
        var e = _exps.AsSpan(0, _vocab);
        TensorPrimitives.Subtract(w, max, e);
        TensorPrimitives.Exp(e, e);
        float threshold = (1f - topP) / _vocab * TensorPrimitives.Sum(e);
        int c = 0;
        tail = 0;
        for (int i = 0; i < e.Length; i++)
            if (e[i] >= threshold) order[c++] = i; else tail += e[i];
        return c;
    }

    /// <summary>HF TopPLogitsWarper: drops the least likely tokens whose cumulative mass is at most 1 - p.</summary>
    int KeepTopP(ReadOnlySpan<float> w, ReadOnlySpan<int> order, int n, double tail, float topP)
    {
        float max = w[order[0]];
        var e = _exps.AsSpan(0, n);
        double total = tail;
        for (int i = 0; i < n; i++) total += e[i] = MathF.Exp(w[order[i]] - max);
        double cum = tail / total;
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
