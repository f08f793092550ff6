using System.Text;

namespace Quanta.Templates.Jinja;

/// <summary>Python's str methods that templates call (<c>content.strip()</c>, <c>x.split('/')</c>, ...).</summary>
internal static class StrMethods
{
    public static BuiltinFunction? Bind(string s, string name)
    {
        Func<Renderer, CallArgs, object?>? body = name switch
        {
            "strip" => (_, a) => PyStr.Strip(s, Chars(a), true, true),
            "lstrip" => (_, a) => PyStr.Strip(s, Chars(a), true, false),
            "rstrip" => (_, a) => PyStr.Strip(s, Chars(a), false, true),
            "split" => (_, a) => PyStr.Split(s, a.Get(0, "sep"), PyOps.ToLong(a.Get(1, "maxsplit", -1L))),
            "rsplit" => (_, a) => RSplit(s, a.Get(0, "sep"), PyOps.ToLong(a.Get(1, "maxsplit", -1L))),
            "splitlines" => (_, _) => PyStr.SplitLines(s).Cast<object?>().ToList(),
            "startswith" => (_, a) => Affix(a.Get(0, "prefix"), p => s.StartsWith(p, StringComparison.Ordinal), "startswith"),
            "endswith" => (_, a) => Affix(a.Get(0, "suffix"), p => s.EndsWith(p, StringComparison.Ordinal), "endswith"),
            "upper" => (_, _) => PyStr.Upper(s),
            "lower" => (_, _) => PyStr.Lower(s),
            "casefold" => (_, _) => PyStr.Lower(s),
            "title" => (_, _) => PyStr.Title(s),
            "capitalize" => (_, _) => PyStr.Capitalize(s),
            "swapcase" => (_, _) => string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c))),
            "replace" => (r, a) => Checked(r, PyStr.Replace(s, Str(a.Get(0, "old")), Str(a.Get(1, "new")), PyOps.ToLong(a.Get(2, "count", -1L)))),
            "find" => (_, a) => (long)s.IndexOf(Str(a.Get(0, "sub")), StringComparison.Ordinal),
            "rfind" => (_, a) => (long)s.LastIndexOf(Str(a.Get(0, "sub")), StringComparison.Ordinal),
            "index" => (_, a) => s.IndexOf(Str(a.Get(0, "sub")), StringComparison.Ordinal) is int i and >= 0 ? (long)i
                : throw new JinjaException("ValueError", "substring not found"),
            "count" => (_, a) => Count(s, Str(a.Get(0, "sub"))),
            "join" => (r, a) => Checked(r, string.Join(s, PyOps.Iterate(a.Get(0, "iterable")).Select(x => x is string t ? t
                : throw PyOps.TypeError($"sequence item: expected str instance, {PyOps.TypeName(x)} found")))),
            "isdigit" or "isdecimal" or "isnumeric" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
            "isalpha" => (_, _) => s.Length > 0 && s.All(char.IsLetter),
            "isalnum" => (_, _) => s.Length > 0 && s.All(char.IsLetterOrDigit),
            "isspace" => (_, _) => s.Length > 0 && s.All(PyStr.IsSpace),
            "islower" => (_, _) => s.Any(char.IsLower) && !s.Any(char.IsUpper),
            "isupper" => (_, _) => s.Any(char.IsUpper) && !s.Any(char.IsLower),
            "removeprefix" => (_, a) => s.StartsWith(Str(a.Get(0, "prefix")), StringComparison.Ordinal) ? s[Str(a.Get(0, "prefix")).Length..] : s,
            "removesuffix" => (_, a) => Str(a.Get(0, "suffix")) is { Length: > 0 } x && s.EndsWith(x, StringComparison.Ordinal) ? s[..^x.Length] : s,
            "partition" => (_, a) => Partition(s, Str(a.Get(0, "sep")), false),
            "rpartition" => (_, a) => Partition(s, Str(a.Get(0, "sep")), true),
            "center" => (r, a) => Pad(r, s, a, 0),
            "ljust" => (r, a) => Pad(r, s, a, -1),
            "rjust" => (r, a) => Pad(r, s, a, 1),
            "zfill" => (r, a) => ZFill(r, s, PyOps.ToLong(a.Get(0, "width"))),
            "format" => (r, a) => Checked(r, PyFormat.Format(s, a)),
            _ => null,
        };
        return body is null ? null : Access.Method(body);
    }

    static object? Chars(CallArgs a) => a.Get(0, "chars");

    static string Str(object? v) => v switch
    {
        string s => s,
        Undefined u => throw u.Fail(),
        _ => throw PyOps.TypeError($"must be str, not {PyOps.TypeName(v)}"),
    };

    static string Checked(Renderer r, string s)
    {
        r.Limits.CheckString(s.Length);
        return s;
    }

    static bool Affix(object? arg, Func<string, bool> test, string method) => arg switch
    {
        string p => test(p),
        PyTuple t => t.Items.Any(x => test(Str(x))),
        _ => throw PyOps.TypeError($"{method} first arg must be str or a tuple of str, not {PyOps.TypeName(arg)}"),
    };

    static long Count(string s, string sub)
    {
        if (sub.Length == 0) return PyStr.Length(s) + 1;
        long n = 0;
        for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    static List<object?> RSplit(string s, object? sep, long maxsplit)
    {
        if (maxsplit < 0) return PyStr.Split(s, sep, -1);
        if (sep is null or Undefined)
        {
            var parts = new List<object?>();
            int end = s.Length;
            while (true)
            {
                while (end > 0 && PyStr.IsSpace(s[end - 1])) end--;
                if (end == 0) break;
                if (parts.Count >= maxsplit) { parts.Add(PyStr.Strip(s[..end], null, true, false)); break; }
                int start = end;
                while (start > 0 && !PyStr.IsSpace(s[start - 1])) start--;
                parts.Add(s[start..end]);
                end = start;
            }
            parts.Reverse();
            return parts;
        }
        string d = Str(sep);
        if (d.Length == 0) throw new JinjaException("ValueError", "empty separator");
        var res = new List<object?>();
        int pos = s.Length;
        while (res.Count < maxsplit)
        {
            int k = pos - d.Length < 0 ? -1 : s.LastIndexOf(d, pos - d.Length, StringComparison.Ordinal);
            if (k < 0) break;
            res.Add(s[(k + d.Length)..pos]);
            pos = k;
        }
        res.Add(s[..pos]);
        res.Reverse();
        return res;
    }

    static PyTuple Partition(string s, string sep, bool fromRight)
    {
        if (sep.Length == 0) throw new JinjaException("ValueError", "empty separator");
        int k = fromRight ? s.LastIndexOf(sep, StringComparison.Ordinal) : s.IndexOf(sep, StringComparison.Ordinal);
        if (k < 0) return fromRight ? new PyTuple(["", "", s]) : new PyTuple([s, "", ""]);
        return new PyTuple([s[..k], sep, s[(k + sep.Length)..]]);
    }

    static string Pad(Renderer r, string s, CallArgs a, int align)
    {
        long width = PyOps.ToLong(a.Get(0, "width"));
        string fill = a.Get(1, "fillchar", " ") as string ?? " ";
        long len = PyStr.Length(s);
        if (width <= len) return s;
        r.Limits.CheckString(width);
        long total = width - len;
        // Python's center puts the odd extra fill on the left when the string's length is odd... per its formula.
        long left = align switch { -1 => 0, 1 => total, _ => total / 2 + (total & width & 1) };
        var sb = new StringBuilder();
        for (long i = 0; i < left; i++) sb.Append(fill);
        sb.Append(s);
        for (long i = 0; i < total - left; i++) sb.Append(fill);
        return sb.ToString();
    }

    static string ZFill(Renderer r, string s, long width)
    {
        long len = PyStr.Length(s);
        if (width <= len) return s;
        r.Limits.CheckString(width);
        int sign = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
        return s[..sign] + new string('0', (int)(width - len)) + s[sign..];
    }
}
