using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Quanta.Templates.Jinja;

/// <summary>Python's <c>json.dumps</c> (as transformers' <c>tojson</c> calls it) and <c>json.loads</c> into template values.</summary>
public static class PyJson
{
    /// <summary>A JSON document as template values: objects keep their key order, integers stay ints.</summary>
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => ObjectFromJson(e),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText() is var raw && raw.AsSpan().IndexOfAny(".eE") < 0 && e.TryGetInt64(out long l)
            ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    static PyDict ObjectFromJson(JsonElement e)
    {
        var d = new PyDict();
        foreach (var p in e.EnumerateObject()) d[p.Name] = FromJson(p.Value);
        return d;
    }

    /// <summary>json.dumps(v, ensure_ascii, indent, separators, sort_keys).</summary>
    public static string Dumps(object? v, bool ensureAscii = false, object? indent = null, string? itemSep = null, string? keySep = null, bool sortKeys = false)
    {
        string? indentStr = indent switch
        {
            null or Undefined => null,
            string s => s,
            _ => new string(' ', (int)Math.Max(0, PyOps.ToLong(indent))),
        };
        var w = new Writer(ensureAscii, indentStr, itemSep ?? (indentStr is null ? ", " : ","), keySep ?? ": ", sortKeys);
        w.Write(v, 0);
        return w.Sb.ToString();
    }

    sealed class Writer(bool ascii, string? indent, string itemSep, string keySep, bool sortKeys)
    {
        public readonly StringBuilder Sb = new();

        public void Write(object? v, int level)
        {
            if (level > 200) throw new JinjaException("RecursionError", "maximum recursion depth exceeded while encoding a JSON object");
            switch (v)
            {
                case null: Sb.Append("null"); break;
                case bool b: Sb.Append(b ? "true" : "false"); break;
                case long l: Sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: Sb.Append(FloatJson(d)); break;
                case string s: WriteString(s); break;
                case List<object?> list: WriteSeq(list, level); break;
                case PyTuple t: WriteSeq(t.Items, level); break;
                case PyDict dict: WriteDict(dict, level); break;
                default: throw PyOps.TypeError($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
            }
        }

        static string FloatJson(double d) =>
            double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyOps.FloatRepr(d);

        void NewLine(int level)
        {
            if (indent is null) return;
            Sb.Append('\n');
            for (int i = 0; i < level; i++) Sb.Append(indent);
        }

        void WriteSeq(IList<object?> items, int level)
        {
            if (items.Count == 0) { Sb.Append("[]"); return; }
            Sb.Append('[');
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0) Sb.Append(itemSep);
                NewLine(level + 1);
                Write(items[i], level + 1);
            }
            NewLine(level);
            Sb.Append(']');
        }

        void WriteDict(PyDict dict, int level)
        {
            if (dict.Count == 0) { Sb.Append("{}"); return; }
            var entries = dict.Select(kv => (Key: KeyString(kv.Key), kv.Value)).ToList();
            if (sortKeys) entries.Sort((a, b) => PyOps.CompareStrings(a.Key, b.Key));
            Sb.Append('{');
            for (int i = 0; i < entries.Count; i++)
            {
                if (i > 0) Sb.Append(itemSep);
                NewLine(level + 1);
                WriteString(entries[i].Key);
                Sb.Append(keySep);
                Write(entries[i].Value, level + 1);
            }
            NewLine(level);
            Sb.Append('}');
        }

        static string KeyString(object key) => key switch
        {
            string s => s,
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => FloatJson(d),
            _ => throw PyOps.TypeError($"keys must be str, int, float, bool or None, not {PyOps.TypeName(key)}"),
        };

        void WriteString(string s)
        {
            Sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': Sb.Append("\\\""); break;
                    case '\\': Sb.Append("\\\\"); break;
                    case '\n': Sb.Append("\\n"); break;
                    case '\r': Sb.Append("\\r"); break;
                    case '\t': Sb.Append("\\t"); break;
                    case '\b': Sb.Append("\\b"); break;
                    case '\f': Sb.Append("\\f"); break;
                    default:
                        if (c < 0x20 || (ascii && c > 0x7e)) Sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else Sb.Append(c);
                        break;
                }
            }
            Sb.Append('"');
        }
    }
}
