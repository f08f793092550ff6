using System.Globalization;
using System.Text;

namespace Quanta.Templates.Jinja;

/// <summary>Python str semantics over .NET strings: lengths and indices count code points, not UTF-16 units.</summary>
internal static class PyStr
{
    static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    public static long Length(string s) => HasSurrogates(s) ? s.EnumerateRunes().Count() : s.Length;

    public static IEnumerable<object?> Chars(string s)
    {
        foreach (var r in s.EnumerateRunes()) yield return r.ToString();
    }

    /// <summary>The code points of <paramref name="s"/> as one-character strings (for indexing and slicing).</summary>
    public static string[] CodePoints(string s) => s.EnumerateRunes().Select(r => r.ToString()).ToArray();

    /// <summary>Python's str.isspace for one character (includes the separators \x1c-\x1f).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars is string set ? set.Contains : IsSpace;
        int start = 0, end = s.Length;
        if (left) while (start < end && strip(s[start])) start++;
        if (right) while (end > start && strip(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>str.split(sep, maxsplit): whitespace runs when sep is None.</summary>
    public static List<object?> Split(string s, object? sep, long maxsplit)
    {
        var parts = new List<object?>();
        if (sep is null or Undefined)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxsplit >= 0 && parts.Count >= maxsplit) { parts.Add(Strip(s[i..], null, false, true)); break; }
                int j = i;
                while (j < s.Length && !IsSpace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
            return parts;
        }
        if (sep is not string d) throw PyOps.TypeError($"must be str or None, not {PyOps.TypeName(sep)}");
        if (d.Length == 0) throw new JinjaException("ValueError", "empty separator");
        int pos = 0;
        while (maxsplit < 0 || parts.Count < maxsplit)
        {
            int k = s.IndexOf(d, pos, StringComparison.Ordinal);
            if (k < 0) break;
            parts.Add(s[pos..k]);
            pos = k + d.Length;
        }
        parts.Add(s[pos..]);
        return parts;
    }

    /// <summary>str.splitlines(): Python's line boundaries, without the terminators.</summary>
    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0, i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                lines.Add(s[start..i]);
                i += c == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
                start = i;
            }
            else i++;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    public static string Upper(string s) => s.ToUpperInvariant().Replace("ß", "SS");
    public static string Lower(string s) => s.ToLowerInvariant();

    /// <summary>str.capitalize(): first character upper, the rest lower.</summary>
    public static string Capitalize(string s) => s.Length == 0 ? s : Upper(s[..1]) + Lower(s[1..]);

    /// <summary>str.title(): a cased character after an uncased one is upper, others lower.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevCased = false;
        foreach (char c in s)
        {
            bool cased = char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
            sb.Append(cased ? (prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c);
            prevCased = cased;
        }
        return sb.ToString();
    }

    public static string Replace(string s, string old, string @new, long count)
    {
        if (count < 0) return old.Length == 0 ? ReplaceEmpty(s, @new, long.MaxValue) : s.Replace(old, @new, StringComparison.Ordinal);
        if (old.Length == 0) return ReplaceEmpty(s, @new, count);
        var sb = new StringBuilder();
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int k = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (k < 0) break;
            sb.Append(s, pos, k - pos).Append(@new);
            pos = k + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    static string ReplaceEmpty(string s, string @new, long count)
    {
        var sb = new StringBuilder();
        long n = 0;
        foreach (var r in s.EnumerateRunes())
        {
            if (n++ < count) sb.Append(@new);
            sb.Append(r.ToString());
        }
        if (n < count) sb.Append(@new);
        return sb.ToString();
    }

    /// <summary>Python's slice semantics: the indices start:stop:step selects from a sequence of <paramref name="len"/>.</summary>
    public static List<int> SliceIndices(long len, object? start, object? stop, object? step)
    {
        long st = step is null or Undefined ? 1 : SliceInt(step);
        if (st == 0) throw new JinjaException("ValueError", "slice step cannot be zero");
        long lo, hi;
        if (st > 0)
        {
            lo = start is null or Undefined ? 0 : Clamp(SliceInt(start), len, 0, len);
            hi = stop is null or Undefined ? len : Clamp(SliceInt(stop), len, 0, len);
        }
        else
        {
            lo = start is null or Undefined ? len - 1 : Clamp(SliceInt(start), len, -1, len - 1);
            hi = stop is null or Undefined ? -1 : Clamp(SliceInt(stop), len, -1, len - 1);
        }
        var idx = new List<int>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) idx.Add((int)i);
        return idx;
    }

    static long SliceInt(object? v) => v is long or bool ? PyOps.ToLong(v)
        : throw PyOps.TypeError("slice indices must be integers or None or have an __index__ method");

    static long Clamp(long i, long len, long min, long max)
    {
        if (i < 0) i += len;
        return Math.Clamp(i, min, max);
    }
}
