using System.Text;

namespace Quanta.Templates.Jinja;

internal static partial class PyOps
{
    /// <summary>Binary arithmetic with Python's rules and messages; <paramref name="limits"/> bounds built strings and lists.</summary>
    public static object? Binary(string op, object? a, object? b, RenderLimits limits)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        if (IsNumber(a) && IsNumber(b)) return Numeric(op, a!, b!);
        switch (op)
        {
            case "+":
                if (a is string s)
                {
                    if (b is string t) return limits.CheckString(s.Length + (long)t.Length) ? s + t : null;
                    throw TypeError($"can only concatenate str (not \"{TypeName(b)}\") to str");
                }
                if (a is List<object?> l)
                {
                    if (b is List<object?> m) { limits.CheckItems(l.Count + (long)m.Count); return new List<object?>([.. l, .. m]); }
                    throw TypeError($"can only concatenate list (not \"{TypeName(b)}\") to list");
                }
                if (a is PyTuple x)
                {
                    if (b is PyTuple y) { limits.CheckItems(x.Items.Length + (long)y.Items.Length); return new PyTuple([.. x.Items, .. y.Items]); }
                    throw TypeError($"can only concatenate tuple (not \"{TypeName(b)}\") to tuple");
                }
                break;
            case "*":
                if (a is string or List<object?> or PyTuple && b is long or bool) return Repeat(a, ToLong(b), limits);
                if (b is string or List<object?> or PyTuple && a is long or bool) return Repeat(b, ToLong(a), limits);
                if (a is string or List<object?> or PyTuple || b is string or List<object?> or PyTuple)
                    throw TypeError($"can't multiply sequence by non-int of type '{TypeName(a is string or List<object?> or PyTuple ? b : a)}'");
                break;
            case "%":
                if (a is string fmt) return PercentFormat.Format(fmt, b);
                break;
        }
        string sym = op;
        throw TypeError($"unsupported operand type(s) for {sym}: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    static object Repeat(object seq, long n, RenderLimits limits)
    {
        n = Math.Max(0, n);
        switch (seq)
        {
            case string s:
                limits.CheckString(s.Length * n);
                var sb = new StringBuilder();
                for (long i = 0; i < n; i++) sb.Append(s);
                return sb.ToString();
            case List<object?> l:
            {
                limits.CheckItems(l.Count * n);
                var r = new List<object?>();
                for (long i = 0; i < n; i++) r.AddRange(l);
                return r;
            }
            default:
            {
                var t = (PyTuple)seq;
                limits.CheckItems(t.Items.Length * n);
                var r = new List<object?>();
                for (long i = 0; i < n; i++) r.AddRange(t.Items);
                return new PyTuple([.. r]);
            }
        }
    }

    static object Numeric(string op, object a, object b)
    {
        bool isFloat = a is double || b is double;
        if (op == "/")
        {
            double den = ToDouble(b);
            if (den == 0) throw new JinjaException("ZeroDivisionError", isFloat ? "float division by zero" : "division by zero");
            return ToDouble(a) / den;
        }
        if (isFloat)
        {
            double x = ToDouble(a), y = ToDouble(b);
            switch (op)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "**": return Math.Pow(x, y);
                case "//":
                    if (y == 0) throw new JinjaException("ZeroDivisionError", "float floor division by zero");
                    return Math.Floor(x / y);
                case "%":
                    if (y == 0) throw new JinjaException("ZeroDivisionError", "float modulo");
                    double m = x % y;
                    return m != 0 && (m < 0) != (y < 0) ? m + y : m;
            }
        }
        long p = ToLong(a), q = ToLong(b);
        try
        {
            checked
            {
                switch (op)
                {
                    case "+": return p + q;
                    case "-": return p - q;
                    case "*": return p * q;
                    case "**":
                        if (q < 0) return Math.Pow(p, q);
                        long r = 1;
                        for (long i = 0; i < q; i++) r *= p;
                        return r;
                    case "//":
                        if (q == 0) throw new JinjaException("ZeroDivisionError", "integer division or modulo by zero");
                        long d = p / q;
                        return (p % q != 0 && (p < 0) != (q < 0)) ? d - 1 : d;
                    case "%":
                        if (q == 0) throw new JinjaException("ZeroDivisionError", "integer modulo by zero");
                        long m = p % q;
                        return m != 0 && (m < 0) != (q < 0) ? m + q : m;
                }
            }
        }
        catch (OverflowException) { throw new JinjaException("OverflowError", "integer result too large for the template sandbox"); }
        throw new InvalidOperationException(op);
    }

    public static object? Negate(object? v) => v switch
    {
        long l => (object)(-l),
        bool b => b ? -1L : 0L,
        double d => -d,
        Undefined u => throw u.Fail(),
        _ => throw TypeError($"bad operand type for unary -: '{TypeName(v)}'"),
    };

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string t ? s.Contains(t, StringComparison.Ordinal)
            : item is Undefined u ? throw u.Fail()
            : throw TypeError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> l => l.Exists(x => Eq(x, item)),
        PyTuple t => Array.Exists(t.Items, x => Eq(x, item)),
        PyDict d => item is not null && d.ContainsKey(item),
        PyGenerator g => g.Consume().Any(x => Eq(x, item)),
        Undefined => false,
        _ => throw TypeError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    /// <summary>Python's iter(): the items a for loop visits.</summary>
    public static IEnumerable<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        PyTuple t => t.Items,
        PyDict d => d.Keys,
        string s => PyStr.Chars(s),
        PyGenerator g => g.Consume(),
        Undefined => [],
        _ => throw TypeError($"'{TypeName(v)}' object is not iterable"),
    };

    public static bool IsIterable(object? v) => v is List<object?> or PyTuple or PyDict or string or Undefined or PyGenerator;

    public static long Len(object? v) => v switch
    {
        string s => PyStr.Length(s),
        List<object?> l => l.Count,
        PyTuple t => t.Items.Length,
        PyDict d => d.Count,
        Undefined => 0,
        _ => throw TypeError($"object of type '{TypeName(v)}' has no len()"),
    };
}
