using System.Globalization;
using System.Text;

namespace Quanta.Templates.Jinja;

/// <summary>Functions every template sees: jinja's range/dict/namespace and transformers' raise_exception/strftime_now.</summary>
internal static class Globals
{
    const long MaxRange = 100_000;

    public static void AddTo(Scope scope, DateTime now)
    {
        scope.Set("range", new BuiltinFunction("builtin_function_or_method", (_, a) => Range(a)));
        scope.Set("dict", new BuiltinFunction("type", (_, a) =>
        {
            var d = new PyDict();
            if (a.Positional.Count > 0)
                foreach (var item in a.Positional[0] is PyDict src ? src.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])) : PyOps.Iterate(a.Positional[0]))
                {
                    var pair = PyOps.Iterate(item).ToList();
                    d[pair[0]!] = pair[1];
                }
            foreach (var kv in a.Keywords) d[kv.Key] = kv.Value;
            return d;
        }));
        scope.Set("namespace", new BuiltinFunction("type", (_, a) =>
        {
            var ns = new Namespace();
            if (a.Positional.Count > 0 && a.Positional[0] is PyDict init)
                foreach (var kv in init) ns.Attrs[PyOps.Str(kv.Key)] = kv.Value;
            foreach (var kv in a.Keywords) ns.Attrs[kv.Key] = kv.Value;
            return ns;
        }));
        scope.Set("raise_exception", new BuiltinFunction("function", (_, a) =>
            throw new JinjaException("TemplateError", PyOps.Str(a.Get(0, "message")))));
        scope.Set("strftime_now", new BuiltinFunction("function", (_, a) => Strftime(now, PyOps.Str(a.Get(0, "format")))));
    }

    static List<object?> Range(CallArgs a)
    {
        var p = a.Positional.Select(x => x is long or bool ? PyOps.ToLong(x)
            : throw PyOps.TypeError($"'{PyOps.TypeName(x)}' object cannot be interpreted as an integer")).ToList();
        long start = 0, stop, step = 1;
        if (p.Count == 1) stop = p[0];
        else if (p.Count is 2 or 3) { start = p[0]; stop = p[1]; if (p.Count == 3) step = p[2]; }
        else throw PyOps.TypeError($"range expected at most 3 arguments, got {p.Count}");
        if (step == 0) throw new JinjaException("ValueError", "range() arg 3 must not be zero");
        long count = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
        if (count > MaxRange) throw new JinjaException("OverflowError", $"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var r = new List<object?>();
        for (long i = 0; i < count; i++) r.Add(start + i * step);
        return r;
    }

    /// <summary>Python's datetime.strftime for the C-locale directives (and glibc's <c>%-d</c> unpadded form).</summary>
    public static string Strftime(DateTime t, string format)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char c = format[++i];
            bool unpadded = false;
            if (c == '-' && i + 1 < format.Length) { unpadded = true; c = format[++i]; }
            string Pad(int v, int width) => unpadded ? v.ToString(ci) : v.ToString(new string('0', width), ci);
            sb.Append(c switch
            {
                'a' => t.ToString("ddd", ci),
                'A' => t.ToString("dddd", ci),
                'b' or 'h' => t.ToString("MMM", ci),
                'B' => t.ToString("MMMM", ci),
                'd' => Pad(t.Day, 2),
                'e' => unpadded ? t.Day.ToString(ci) : t.Day.ToString(ci).PadLeft(2),
                'm' => Pad(t.Month, 2),
                'y' => Pad(t.Year % 100, 2),
                'Y' => t.Year.ToString(ci),
                'H' => Pad(t.Hour, 2),
                'I' => Pad(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Pad(t.Minute, 2),
                'S' => Pad(t.Second, 2),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Pad(t.DayOfYear, 3),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", ci),
                'w' => ((int)t.DayOfWeek).ToString(ci),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(ci),
                'c' => t.ToString("ddd MMM ", ci) + t.Day.ToString(ci).PadLeft(2) + t.ToString(" HH:mm:ss yyyy", ci),
                'x' => t.ToString("MM/dd/yy", ci),
                'X' => t.ToString("HH:mm:ss", ci),
                'D' => t.ToString("MM/dd/yy", ci),
                'F' => t.ToString("yyyy-MM-dd", ci),
                'T' => t.ToString("HH:mm:ss", ci),
                'R' => t.ToString("HH:mm", ci),
                'z' or 'Z' => "",
                '%' => "%",
                _ => "%" + c,
            });
        }
        return sb.ToString();
    }
}
