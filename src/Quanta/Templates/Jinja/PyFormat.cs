using System.Globalization;
using System.Text;

namespace Quanta.Templates.Jinja;

/// <summary>Python's <c>str.format</c> and <c>%</c> formatting for the common conversions.</summary>
internal static class PyFormat
{
    public static string Format(string fmt, CallArgs args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c == '}' && i + 1 < fmt.Length && fmt[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c != '{') { sb.Append(c); continue; }
            if (i + 1 < fmt.Length && fmt[i + 1] == '{') { sb.Append('{'); i++; continue; }
            int end = fmt.IndexOf('}', i);
            if (end < 0) throw new JinjaException("ValueError", "Single '{' encountered in format string");
            string field = fmt[(i + 1)..end];
            i = end;
            string spec = "";
            char conv = '\0';
            int colon = field.IndexOf(':');
            if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
            int bang = field.IndexOf('!');
            if (bang >= 0) { conv = field.Length > bang + 1 ? field[bang + 1] : 's'; field = field[..bang]; }
            object? value;
            if (field.Length == 0) value = args.Get(auto++, "\0");
            else if (int.TryParse(field, out int idx)) value = args.Get(idx, "\0");
            else value = args.Get(-1, field, Undefined.ForName(field));
            if (conv == 'r') value = PyOps.Repr(value);
            sb.Append(ApplySpec(value, spec));
        }
        return sb.ToString();
    }

    /// <summary>format(value, spec) for [[fill]align][sign][0][width][.precision][type].</summary>
    static string ApplySpec(object? value, string spec)
    {
        if (spec.Length == 0) return PyOps.Str(value);
        int p = 0;
        char fill = ' ', align = '\0';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^') { fill = spec[0]; align = spec[1]; p = 2; }
        else if (spec[0] is '<' or '>' or '^') { align = spec[0]; p = 1; }
        if (p < spec.Length && spec[p] == '0') { fill = '0'; if (align == '\0') align = '>'; p++; }
        int w = 0;
        while (p < spec.Length && char.IsAsciiDigit(spec[p])) w = w * 10 + (spec[p++] - '0');
        int prec = -1;
        if (p < spec.Length && spec[p] == '.') { p++; prec = 0; while (p < spec.Length && char.IsAsciiDigit(spec[p])) prec = prec * 10 + (spec[p++] - '0'); }
        char type = p < spec.Length ? spec[p] : '\0';
        string body = type switch
        {
            'f' or 'F' => PyOps.ToDouble(value).ToString("F" + (prec < 0 ? 6 : prec), CultureInfo.InvariantCulture),
            'd' => PyOps.ToLong(value).ToString(CultureInfo.InvariantCulture),
            _ => prec >= 0 && value is string s && s.Length > prec ? s[..prec] : PyOps.Str(value),
        };
        if (align == '\0') align = value is string ? '<' : '>';
        int pad = Math.Max(0, w - body.Length);
        return align switch
        {
            '<' => body + new string(fill, pad),
            '^' => new string(fill, pad / 2) + body + new string(fill, pad - pad / 2),
            _ => new string(fill, pad) + body,
        };
    }
}

/// <summary>Python's printf-style <c>"%s" % value</c>.</summary>
internal static class PercentFormat
{
    public static string Format(string fmt, object? arg)
    {
        var values = arg is PyTuple t ? t.Items : [arg];
        var mapping = arg as PyDict;
        int next = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < fmt.Length; i++)
        {
            if (fmt[i] != '%') { sb.Append(fmt[i]); continue; }
            if (++i >= fmt.Length) throw new JinjaException("ValueError", "incomplete format");
            object? value;
            if (fmt[i] == '(' && mapping is not null)
            {
                int close = fmt.IndexOf(')', i);
                string key = fmt[(i + 1)..close];
                value = mapping.TryGetValue(key, out var v) ? v : throw new JinjaException("KeyError", PyOps.Repr(key));
                i = close + 1;
            }
            else value = null;
            bool left = false, zero = false;
            while (i < fmt.Length && fmt[i] is '-' or '0' or '+' or ' ' or '#') { left |= fmt[i] == '-'; zero |= fmt[i] == '0'; i++; }
            int w = 0, prec = -1;
            while (i < fmt.Length && char.IsAsciiDigit(fmt[i])) w = w * 10 + (fmt[i++] - '0');
            if (i < fmt.Length && fmt[i] == '.') { i++; prec = 0; while (i < fmt.Length && char.IsAsciiDigit(fmt[i])) prec = prec * 10 + (fmt[i++] - '0'); }
            char type = fmt[i];
            if (type == '%') { sb.Append('%'); continue; }
            if (mapping is null || fmt[i - 1] != ')' && value is null)
            {
                if (next >= values.Length) throw PyOps.TypeError("not enough arguments for format string");
                value ??= values[next++];
            }
            string body = type switch
            {
                's' => PyOps.Str(value),
                'r' or 'a' => PyOps.Repr(value),
                'd' or 'i' or 'u' => PyOps.IsNumber(value) ? PyOps.ToLong(value).ToString(CultureInfo.InvariantCulture)
                    : throw PyOps.TypeError($"%{type} format: a real number is required, not {PyOps.TypeName(value)}"),
                'f' or 'F' => PyOps.ToDouble(value).ToString("F" + (prec < 0 ? 6 : prec), CultureInfo.InvariantCulture),
                'x' => PyOps.ToLong(value).ToString("x", CultureInfo.InvariantCulture),
                'X' => PyOps.ToLong(value).ToString("X", CultureInfo.InvariantCulture),
                _ => throw new JinjaException("ValueError", $"unsupported format character '{type}'"),
            };
            if (type is 's' or 'r' && prec >= 0 && body.Length > prec) body = body[..prec];
            int pad = Math.Max(0, w - body.Length);
            sb.Append(left ? body + new string(' ', pad) : new string(zero && type is not ('s' or 'r') ? '0' : ' ', pad) + body);
        }
        if (mapping is null && next < values.Length) throw PyOps.TypeError("not all arguments converted during string formatting");
        return sb.ToString();
    }
}
