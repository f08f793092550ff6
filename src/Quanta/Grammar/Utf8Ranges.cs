namespace Quanta.Grammar;

/// <summary>Splits a range of scalar values into sequences of byte ranges that encode exactly that range in UTF-8.</summary>
public static class Utf8Ranges
{
    /// <summary>Byte-range sequences (one range per byte of the encoding) whose union encodes [lo, hi] (no surrogates inside).</summary>
    public static List<(byte Lo, byte Hi)[]> Split(int lo, int hi)
    {
        var result = new List<(byte, byte)[]>();
        Add(lo, hi, result);
        return result;
    }

    static void Add(int lo, int hi, List<(byte, byte)[]> result)
    {
        if (lo > hi) return;
        foreach (int max in (ReadOnlySpan<int>)[0x7F, 0x7FF, 0xFFFF])
            if (lo <= max && hi > max)
            {
                Add(lo, max, result);
                Add(max + 1, hi, result);
                return;
            }
        if (hi <= 0x7F)
        {
            result.Add([((byte)lo, (byte)hi)]);
            return;
        }
        for (int i = 1; i < 4; i++)
        {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) == (hi & ~m)) continue;
            if ((lo & m) != 0)
            {
                Add(lo, lo | m, result);
                Add((lo | m) + 1, hi, result);
                return;
            }
            if ((hi & m) != m)
            {
                Add(lo, (hi & ~m) - 1, result);
                Add(hi & ~m, hi, result);
                return;
            }
        }
        Span<byte> a = stackalloc byte[4], b = stackalloc byte[4];
        int n = new System.Text.Rune(lo).EncodeToUtf8(a);
        new System.Text.Rune(hi).EncodeToUtf8(b);
        var seq = new (byte, byte)[n];
        for (int k = 0; k < n; k++) seq[k] = (a[k], b[k]);
        result.Add(seq);
    }
}
