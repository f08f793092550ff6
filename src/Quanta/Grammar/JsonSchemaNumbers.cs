using System.Text.Json;

namespace Quanta.Grammar;

/// <summary>
/// Integers and numbers. Integers are written without leading zeros and, when bounded, exactly the integers in range;
/// unbounded they have at most <see cref="MaxDigits"/> digits. Numbers are an integer part and an optional fraction of
/// 1 to <see cref="MaxFraction"/> digits (no exponent); with bounds, the integers in range, plus fractions after integer
/// parts whose whole unit interval lies in range (with maximum 2.5, 2 is produced but 2.4 is not).
/// </summary>
public sealed partial class JsonSchemaCompiler
{
    const int MaxDigits = 15;
    const int MaxFraction = 6;
    const long Limit = 999_999_999_999_999;   // 15 digits: bounds beyond are clamped (the language stays valid)

    static readonly Node Digit = new Chars(CharSet.Digits);
    static readonly Node Fraction = Node.Concat(Node.Text("."), new Repeat(Digit, 1, MaxFraction));
    static readonly Node UnboundedInteger = Node.Concat(Node.Optional(Node.Text("-")),
        Node.Or(Node.Text("0"), Node.Concat(new Chars(CharSet.Range('1', '9')), new Repeat(Digit, 0, MaxDigits - 1))));
    static readonly Node UnboundedNumber = Node.Concat(UnboundedInteger, Node.Optional(Fraction));

    /// <summary>The schema's bounds: (lower, lower exclusive, upper, upper exclusive); null where absent.</summary>
    static (double? Lo, bool LoEx, double? Hi, bool HiEx) Bounds(JsonElement s, string path)
    {
        double? lo = Num(s, "minimum", path), hi = Num(s, "maximum", path);
        bool loEx = false, hiEx = false;
        if (s.TryGetProperty("exclusiveMinimum", out var em))
        {
            if (em.ValueKind is JsonValueKind.True or JsonValueKind.False) loEx = em.ValueKind == JsonValueKind.True;   // draft 4
            else if (Num(s, "exclusiveMinimum", path) is { } v && (lo is null || v >= lo)) (lo, loEx) = (v, true);
        }
        if (s.TryGetProperty("exclusiveMaximum", out var eM))
        {
            if (eM.ValueKind is JsonValueKind.True or JsonValueKind.False) hiEx = eM.ValueKind == JsonValueKind.True;
            else if (Num(s, "exclusiveMaximum", path) is { } v && (hi is null || v <= hi)) (hi, hiEx) = (v, true);
        }
        return (lo, loEx, hi, hiEx);
    }

    static double? Num(JsonElement s, string keyword, string path)
    {
        if (!s.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number) throw new GrammarException($"{path}/{keyword}: must be a number");
        return v.GetDouble();
    }

    /// <summary>Smallest and largest integers in the bounds (clamped to ±<see cref="Limit"/>).</summary>
    static (long Lo, long Hi) IntegerBounds((double? Lo, bool LoEx, double? Hi, bool HiEx) b)
    {
        double lo = b.Lo is { } l ? (b.LoEx ? Math.Floor(l) + 1 : Math.Ceiling(l)) : -Limit;
        double hi = b.Hi is { } h ? (b.HiEx ? Math.Ceiling(h) - 1 : Math.Floor(h)) : Limit;
        return ((long)Math.Clamp(lo, -Limit - 1, Limit + 1), (long)Math.Clamp(hi, -Limit - 1, Limit + 1));
    }

    Node Integer(JsonElement s, string path)
    {
        var b = Bounds(s, path);
        if (b.Lo is null && b.Hi is null) return UnboundedInteger;
        var (lo, hi) = IntegerBounds(b);
        return IntegerRange.Of(Math.Max(lo, -Limit), Math.Min(hi, Limit));
    }

    Node Number(JsonElement s, string path)
    {
        var b = Bounds(s, path);
        if (b.Lo is null && b.Hi is null) return UnboundedNumber;
        var (lo, hi) = IntegerBounds(b);
        var options = new List<Node> { IntegerRange.Of(Math.Max(lo, -Limit), Math.Min(hi, Limit)) };
        // "i.f" (i >= 0) lies in [i, i + 1): needs i inside the lower bound and i + 1 at most the upper one
        // (strict or not, values stay below i + 1).
        double lower = b.Lo ?? double.NegativeInfinity, upper = b.Hi ?? double.PositiveInfinity;
        long posLo = Math.Max(0, lo), posHi = (long)Math.Min(Math.Floor(upper) - 1, Limit);
        if (posLo <= posHi) options.Add(Node.Concat(IntegerRange.Of(posLo, posHi), Fraction));
        // "-k.f" (k >= 0) lies in (-(k + 1), -k]: needs -(k + 1) at least the lower bound and -k inside the upper one.
        long negLo = b.Hi is { } h ? (long)Math.Max(0, b.HiEx ? Math.Floor(-h) + 1 : Math.Ceiling(-h)) : 0;
        long negHi = (long)Math.Min(Math.Floor(-lower) - 1, Limit);
        if (negLo <= negHi) options.Add(Node.Concat(Node.Text("-"), IntegerRange.Of(negLo, negHi), Fraction));
        return Node.Or(options);
    }
}
