namespace Quanta.Grammar;

/// <summary>The decimal texts (no leading zeros, '-' for negatives, no "-0") of exactly the integers in a range.</summary>
public static class IntegerRange
{
    /// <summary>Integers from <paramref name="lo"/> to <paramref name="hi"/> inclusive (empty language if lo &gt; hi).</summary>
    public static Node Of(long lo, long hi)
    {
        if (lo > hi) return Node.Nothing;
        var options = new List<Node>();
        if (lo < 0) options.Add(Node.Concat(Node.Text("-"), NonNegative(Math.Max(1, -Math.Min(hi, -1)), -lo)));
        if (hi >= 0) options.Add(NonNegative(Math.Max(lo, 0), hi));
        return Node.Or(options);
    }

    /// <summary>0 &lt;= lo &lt;= hi: split by digit count, then each same-length range digit by digit.</summary>
    static Node NonNegative(long lo, long hi)
    {
        var options = new List<Node>();
        long start = lo;
        for (int digits = Digits(lo); start <= hi; digits++)
        {
            long top = digits >= 18 ? long.MaxValue : Pow10(digits) - 1;
            long end = Math.Min(hi, top);
            options.Add(SameLength(start.ToString(), end.ToString()));
            if (end == long.MaxValue) break;
            start = end + 1;
        }
        return Node.Or(options);
    }

    /// <summary>Digit strings of one length from <paramref name="a"/> to <paramref name="b"/> (inner positions may be 0).</summary>
    static Node SameLength(string a, string b)
    {
        if (a.Length == 1) return Range(a[0], b[0]);
        if (a.All(c => c == '0') && b.All(c => c == '9')) return new Repeat(new Chars(CharSet.Digits), a.Length, a.Length);
        if (a[0] == b[0]) return Node.Concat(Node.Text(a[..1]), SameLength(a[1..], b[1..]));
        int rest = a.Length - 1;
        var options = new List<Node>
        {
            Node.Concat(Node.Text(a[..1]), SameLength(a[1..], new string('9', rest))),
        };
        if (b[0] - a[0] > 1)
            options.Add(Node.Concat(Range((char)(a[0] + 1), (char)(b[0] - 1)), new Repeat(new Chars(CharSet.Digits), rest, rest)));
        options.Add(Node.Concat(Node.Text(b[..1]), SameLength(new string('0', rest), b[1..])));
        return Node.Or(options);
    }

    static Node Range(char lo, char hi) => new Chars(CharSet.Range(lo, hi));
    static int Digits(long v) => v.ToString().Length;
    static long Pow10(int n) { long r = 1; for (int i = 0; i < n; i++) r *= 10; return r; }
}
