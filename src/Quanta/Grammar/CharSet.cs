namespace Quanta.Grammar;

/// <summary>
/// A set of Unicode scalar values as sorted, disjoint, non-adjacent inclusive ranges. Surrogates (U+D800–U+DFFF) are
/// never members: they have no UTF-8 encoding.
/// </summary>
public sealed class CharSet
{
    public const int MaxCodepoint = 0x10FFFF;
    readonly (int Lo, int Hi)[] _ranges;

    CharSet((int Lo, int Hi)[] ranges) => _ranges = ranges;

    /// <summary>The ranges, sorted and disjoint.</summary>
    public ReadOnlySpan<(int Lo, int Hi)> Ranges => _ranges;
    public bool IsEmpty => _ranges.Length == 0;

    public static CharSet Empty { get; } = new([]);
    /// <summary>Every scalar value.</summary>
    public static CharSet Any { get; } = Of((0, MaxCodepoint));
    public static CharSet Single(int c) => Of((c, c));
    public static CharSet Range(int lo, int hi) => Of((lo, hi));
    public static CharSet Digits { get; } = Of(('0', '9'));
    public static CharSet Word { get; } = Of(('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z'));
    public static CharSet Space { get; } = Of(('\t', '\r'), (' ', ' '));

    /// <summary>Normalises any ranges (overlapping, unsorted, reaching into surrogates) into a set.</summary>
    public static CharSet Of(params IEnumerable<(int Lo, int Hi)> ranges)
    {
        var list = new List<(int Lo, int Hi)>();
        foreach (var (lo, hi) in ranges)
        {
            int a = Math.Max(lo, 0), b = Math.Min(hi, MaxCodepoint);
            if (a > b) continue;
            // Split around the surrogate block.
            if (a < 0xD800) list.Add((a, Math.Min(b, 0xD7FF)));
            if (b > 0xDFFF) list.Add((Math.Max(a, 0xE000), b));
        }
        list.Sort();
        var merged = new List<(int Lo, int Hi)>();
        foreach (var r in list)
        {
            if (merged.Count > 0 && r.Lo <= merged[^1].Hi + 1 && r.Lo >= merged[^1].Lo)
            {
                if (r.Hi > merged[^1].Hi) merged[^1] = (merged[^1].Lo, r.Hi);
            }
            else merged.Add(r);
        }
        return new CharSet([.. merged]);
    }

    public CharSet Union(CharSet other) => Of([.. _ranges, .. other._ranges]);

    /// <summary>Every scalar value not in this set.</summary>
    public CharSet Complement()
    {
        var result = new List<(int Lo, int Hi)>();
        int next = 0;
        foreach (var (lo, hi) in _ranges)
        {
            if (lo > next) result.Add((next, lo - 1));
            next = hi + 1;
        }
        if (next <= MaxCodepoint) result.Add((next, MaxCodepoint));
        return Of(result);
    }

    public CharSet Except(CharSet other) => Of(Complement().Union(other).Complement()._ranges);

    public bool Contains(int c)
    {
        foreach (var (lo, hi) in _ranges)
        {
            if (c < lo) return false;
            if (c <= hi) return true;
        }
        return false;
    }

    /// <summary>The set with both letter cases of every ASCII letter in it (case-insensitive matching).</summary>
    public CharSet IgnoreAsciiCase()
    {
        var extra = new List<(int, int)>(_ranges);
        for (int c = 'A'; c <= 'Z'; c++)
        {
            if (Contains(c)) extra.Add((c + 32, c + 32));
            if (Contains(c + 32)) extra.Add((c, c));
        }
        return Of(extra);
    }
}
