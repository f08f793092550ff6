namespace Quanta.Grammar;

/// <summary>Applies an allowed-token bit mask (bit i of word i/32 = token i) to a logits row.</summary>
public static class GrammarMask
{
    /// <summary>Sets the logits of tokens the mask rules out to -infinity; <paramref name="logits"/> is [vocab].</summary>
    public static void Apply(Span<float> logits, ReadOnlySpan<uint> mask)
    {
        int n = logits.Length;
        for (int w = 0, start = 0; start < n; w++, start += 32)
        {
            uint bits = mask[w];
            if (bits == uint.MaxValue) continue;
            int len = Math.Min(32, n - start);
            if (bits == 0) { logits.Slice(start, len).Fill(float.NegativeInfinity); continue; }
            for (int j = 0; j < len; j++)
                if ((bits >> j & 1) == 0) logits[start + j] = float.NegativeInfinity;
        }
    }

    /// <summary>Whether token <paramref name="id"/> is allowed.</summary>
    public static bool Allows(ReadOnlySpan<uint> mask, int id) => (mask[id >> 5] >> (id & 31) & 1) != 0;
}
