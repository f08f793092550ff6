using System.Text.RegularExpressions;

namespace Quanta.Templates.Jinja;

internal delegate object? FilterFn(Renderer r, object? value, CallArgs args);

/// <summary>Jinja2's built-in filters (and transformers' <c>tojson</c>), with Python's semantics.</summary>
internal static partial class Filters
{
    public static readonly Dictionary<string, FilterFn> All = new()
    {
        ["tojson"] = (_, v, a) => PyJson.Dumps(v, PyOps.Truthy(a.Get(-1, "ensure_ascii", false)), a.Get(0, "indent"),
            Separator(a, 0), Separator(a, 1), PyOps.Truthy(a.Get(-1, "sort_keys", false))),
        ["trim"] = (_, v, a) => PyStr.Strip(PyOps.Str(v), a.Get(0, "chars"), true, true),
        ["length"] = (_, v, _) => PyOps.Len(v),
        ["count"] = (_, v, _) => PyOps.Len(v),
        ["string"] = (_, v, _) => PyOps.Str(v),
        ["upper"] = (_, v, _) => PyStr.Upper(PyOps.Str(v)),
        ["lower"] = (_, v, _) => PyStr.Lower(PyOps.Str(v)),
        ["capitalize"] = (_, v, _) => PyStr.Capitalize(PyOps.Str(v)),
        ["title"] = (_, v, _) => Title(PyOps.Str(v)),
        ["safe"] = (_, v, _) => v is Undefined ? "" : v,
        ["escape"] = (_, v, _) => Escape(v),
        ["e"] = (_, v, _) => Escape(v),
        ["forceescape"] = (_, v, _) => Escape(v),
        ["replace"] = (r, v, a) => Checked(r, PyStr.Replace(PyOps.Str(v), PyOps.Str(a.Get(0, "old")), PyOps.Str(a.Get(1, "new")),
            a.Get(2, "count") is null ? -1 : PyOps.ToLong(a.Get(2, "count")))),
        ["default"] = Default,
        ["d"] = Default,
        ["first"] = (_, v, _) => PyOps.Iterate(v).Select(x => new[] { x }).FirstOrDefault() is { } f ? f[0] : Undefined.WithHint("No first item, sequence was empty."),
        ["last"] = (_, v, _) => v is PyGenerator g ? throw PyOps.TypeError($"'{g.Name}' object is not reversible")
            : PyOps.Iterate(v).ToList() is { Count: > 0 } l ? l[^1] : Undefined.WithHint("No last item, sequence was empty."),
        ["list"] = (_, v, _) => PyOps.Iterate(v).ToList(),
        ["reverse"] = (_, v, _) => v switch
        {
            string s => string.Concat(PyStr.CodePoints(s).Reverse()),
            List<object?> l => new PyGenerator(Enumerable.Reverse(l).ToList(), "list_reverseiterator"),
            PyTuple t => new PyGenerator(t.Items.Reverse().ToList(), "reversed"),
            _ => PyOps.Iterate(v).Reverse().ToList(),
        },
        ["join"] = (r, v, a) => Checked(r, string.Join(PyOps.Str(a.Get(0, "d", "")),
            PyOps.Iterate(v).Select(x => PyOps.Str(a.Get(1, "attribute") is { } attr and not Undefined ? AttrGetter(attr)(x) : x)))),
        ["int"] = (_, v, a) => ToInt(v, a.Get(0, "default", 0L), PyOps.ToLong(a.Get(1, "base", 10L))),
        ["float"] = (_, v, a) => ToFloat(v, a.Get(0, "default", 0.0)),
        ["abs"] = (_, v, _) => v switch { long l => (object)Math.Abs(l), double d => Math.Abs(d), bool b => b ? 1L : 0L, _ => throw PyOps.TypeError($"bad operand type for abs(): '{PyOps.TypeName(v)}'") },
        ["round"] = (_, v, a) => Math.Round(PyOps.ToDouble(v), (int)PyOps.ToLong(a.Get(0, "precision", 0L)),
            PyOps.Str(a.Get(1, "method", "common")) switch { "ceil" => MidpointRounding.ToPositiveInfinity, "floor" => MidpointRounding.ToNegativeInfinity, _ => MidpointRounding.AwayFromZero }),
        ["indent"] = (r, v, a) => Checked(r, Indent(PyOps.Str(v), a.Get(0, "width", 4L), PyOps.Truthy(a.Get(1, "first", false)), PyOps.Truthy(a.Get(2, "blank", false)))),
        ["center"] = (r, v, a) => StrMethods.Bind(PyOps.Str(v), "center")!.Call(r, new CallArgs([a.Get(0, "width", 80L)], [])),
        ["items"] = (_, v, _) => v switch
        {
            Undefined => new PyGenerator([]),
            PyDict d => new PyGenerator(d.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList()),
            _ => throw PyOps.TypeError("Can only get item pairs from a mapping."),
        },
        ["dictsort"] = DictSort,
        ["selectattr"] = (r, v, a) => Select(r, v, a, true, true),
        ["rejectattr"] = (r, v, a) => Select(r, v, a, true, false),
        ["select"] = (r, v, a) => Select(r, v, a, false, true),
        ["reject"] = (r, v, a) => Select(r, v, a, false, false),
        ["map"] = Map,
        ["unique"] = Unique,
        ["sort"] = Sort,
        ["sum"] = Sum,
        ["min"] = (r, v, a) => MinMax(v, a, -1),
        ["max"] = (r, v, a) => MinMax(v, a, 1),
        ["attr"] = (_, v, a) => Access.GetAttr(v, PyOps.Str(a.Get(0, "name"))),
        ["format"] = (r, v, a) => Checked(r, a.Keywords.Count > 0 ? PercentFormat.Format(PyOps.Str(v), ToDict(a.Keywords))
            : PercentFormat.Format(PyOps.Str(v), new PyTuple([.. a.Positional]))),
        ["wordcount"] = (_, v, _) => (long)Regex.Count(PyOps.Str(v), @"\w+"),
        ["batch"] = Batch,
        ["pprint"] = (_, v, _) => PyOps.Repr(v),
    };

    static string Checked(Renderer r, string s)
    {
        r.Limits.CheckString(s.Length);
        return s;
    }

    static string? Separator(CallArgs a, int index) =>
        a.Get(-1, "separators") switch
        {
            PyTuple t when t.Items.Length == 2 => PyOps.Str(t.Items[index]),
            List<object?> l when l.Count == 2 => PyOps.Str(l[index]),
            _ => null,
        };

    static object? Default(Renderer r, object? v, CallArgs a)
    {
        bool boolean = PyOps.Truthy(a.Get(1, "boolean", false));
        return v is Undefined || (boolean && !PyOps.Truthy(v)) ? a.Get(0, "default_value", "") : v;
    }

    static PyDict ToDict(List<KeyValuePair<string, object?>> kws)
    {
        var d = new PyDict();
        foreach (var kv in kws) d[kv.Key] = kv.Value;
        return d;
    }

    static string Escape(object? v) => PyOps.Str(v).Replace("&", "&amp;").Replace(">", "&gt;").Replace("<", "&lt;")
        .Replace("'", "&#39;").Replace("\"", "&#34;");

    /// <summary>Jinja's title filter: each word, split at whitespace and brackets/dashes, capitalized.</summary>
    static string Title(string s) => string.Concat(Regex.Split(s, @"([-\s({\[<]+)").Where(p => p.Length > 0)
        .Select(p => PyStr.Upper(p[..1]) + PyStr.Lower(p[1..])));

    static object? ToInt(object? v, object? fallback, long @base)
    {
        switch (v)
        {
            case long or bool: return PyOps.ToLong(v);
            case double d: return double.IsFinite(d) ? (long)d : fallback;
            case string s:
                s = PyStr.Strip(s, null, true, true).Replace("_", "");
                try { return Convert.ToInt64(s, (int)@base); }
                catch (Exception) { }
                return double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f) && double.IsFinite(f) ? (long)f : fallback;
        }
        return fallback;
    }

    static object? ToFloat(object? v, object? fallback) => v switch
    {
        long or bool or double => PyOps.ToDouble(v),
        string s when double.TryParse(PyStr.Strip(s, null, true, true), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f) => f,
        _ => fallback,
    };

    static string Indent(string s, object? width, bool first, bool blank)
    {
        string ind = width is string w ? w : new string(' ', (int)Math.Max(0, PyOps.ToLong(width)));
        s += "\n";
        var lines = PyStr.SplitLines(s);
        string rv;
        if (blank) rv = string.Join("\n" + ind, lines);
        else
        {
            rv = lines[0];
            if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? ind + l : l));
        }
        return first ? ind + rv : rv;
    }
}
