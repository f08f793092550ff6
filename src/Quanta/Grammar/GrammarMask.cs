namespace Quanta.Grammar;

/// <summary>Applies an allowed-token bit mask (bit i of word i/32 = token i) to a logits row.</summary>
public static class GrammarMask
{
    /// <summary>Sets the logits of tokens the mask rules out to -infinity; <paramref name="logits"/> is [vocab].</summary>
    public static void Apply(Span<float> logits, ReadOnlySpan<uint> mask)
    {
        int n = logits.Length, words = (n + 31) / 32;
        for (int w = 0; w < words;)
        {
            uint bits = mask[w];
            if (bits == uint.MaxValue) { w++; continue; }
            if (bits == 0)
            {
                // A run of ruled-out words is one fill.
                int end = w + 1;
                while (end < words && mask[end] == 0) end++;
                int from = w * 32;
                logits[from..Math.Min(n, end * 32)].Fill(float.NegativeInfinity);
                w = end;
                continue;
            }
            int start = w * 32, len = Math.Min(32, n - start);
            for (uint off = ~bits & (len == 32 ? uint.MaxValue : (1u << len) - 1); off != 0; off &= off - 1)
                logits[start + System.Numerics.BitOperations.TrailingZeroCount(off)] = float.NegativeInfinity;
            w++;
        }
    }

    /// <summary>Whether token <paramref name="id"/> is allowed.</summary>
    public static bool Allows(ReadOnlySpan<uint> mask, int id) => (mask[id >> 5] >> (id & 31) & 1) != 0;
}
