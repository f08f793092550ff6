using System.Text.Json;

namespace Quanta.Grammar;

public sealed partial class JsonSchemaCompiler
{
    /// <summary>Characters a JSON string holds unescaped: all but '"', '\' and the controls U+0000–U+001F.</summary>
    static readonly CharSet Plain = CharSet.Of(('"', '"'), ('\\', '\\'), (0, 0x1F)).Complement();
    static readonly Node Hex = new Chars(CharSet.Of(('0', '9'), ('a', 'f'), ('A', 'F')));

    /// <summary>
    /// One character of a JSON string: a plain character or an escape. <c>\u</c> escapes never name a surrogate (a lone
    /// one is not text), so every string decodes to valid Unicode.
    /// </summary>
    static readonly Node CharUnit = Node.Or(
        new Chars(Plain),
        Node.Concat(Node.Text("\\"), new Chars(CharSet.Of(('"', '"'), ('\\', '\\'), ('/', '/'), ('b', 'b'), ('f', 'f'), ('n', 'n'), ('r', 'r'), ('t', 't')))),
        Node.Concat(Node.Text("\\u"), Node.Or(
            Node.Concat(new Chars(CharSet.Of(('0', '9'), ('a', 'c'), ('A', 'C'), ('e', 'f'), ('E', 'F'))), Hex, Hex, Hex),
            Node.Concat(new Chars(CharSet.Of(('d', 'd'), ('D', 'D'))), new Chars(CharSet.Range('0', '7')), Hex, Hex))));

    static readonly Node Quote = Node.Text("\"");

    /// <summary>A JSON string of <paramref name="min"/> to <paramref name="max"/> characters (-1: unbounded).</summary>
    static Node JsonString(int min, int max) => Node.Concat(Quote, new Repeat(CharUnit, min, max), Quote);

    static readonly Dictionary<string, string> Formats = new()
    {
        ["date"] = Date,
        ["time"] = Time,
        ["date-time"] = Date + "T" + Time,
        ["uuid"] = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ["email"] = "[a-zA-Z0-9_%+-]{1,32}(\\.[a-zA-Z0-9_%+-]{1,32}){0,2}@([a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?\\.){1,3}[a-zA-Z]{2,8}",
    };
    // Days per month (February to the 28th: every produced date exists).
    const string Date = "[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))";
    const string Time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";

    Node String(JsonElement s, string path)
    {
        int? min = Count(s, "minLength", path), max = Count(s, "maxLength", path);
        bool hasPattern = s.TryGetProperty("pattern", out var pattern);
        string? format = s.TryGetProperty("format", out var f) ? f.GetString() : null;
        if (format is not null && !Formats.ContainsKey(format)) format = null;   // other formats are annotations
        if (hasPattern && format is not null) _unsupported.Add($"pattern with format (at {path})");
        if ((hasPattern || format is not null) && (min is not null || max is not null))
            _unsupported.Add($"minLength/maxLength with {(hasPattern ? "pattern" : "format")} (at {path})");
        if (max < min) return Node.Nothing;
        if (hasPattern)
        {
            string p = pattern.GetString() ?? "";
            Node body;
            try { body = RegexParser.Parse(p); }
            catch (GrammarException e) { throw new GrammarException($"{path}/pattern: {e.Message}", e.Unsupported); }
            // The language of the pattern is the full match: a subset of JSON Schema's search semantics.
            return Node.Concat(Quote, Escaped(body), Quote);
        }
        if (format is not null) return Node.Concat(Quote, RegexParser.Parse(Formats[format]), Quote);
        return JsonString(min ?? 0, max ?? -1);
    }

    /// <summary>The same text written inside a JSON string: '"', '\' and controls escaped, all else as is.</summary>
    static Node Escaped(Node n) => n switch
    {
        Chars c => EscapedChars(c.Set),
        Seq q => new Seq(q.Parts.Select(Escaped).ToList()),
        Alt a => new Alt(a.Options.Select(Escaped).ToList()),
        Repeat r => r with { Item = Escaped(r.Item) },
        SepList l => l with { Item = Escaped(l.Item), Separator = Escaped(l.Separator) },
        _ => throw new ArgumentException($"unexpected node {n.GetType().Name}"),
    };

    static Node EscapedChars(CharSet set)
    {
        var plain = set.Except(Plain.Complement());
        var options = new List<Node>();
        if (!plain.IsEmpty) options.Add(new Chars(plain));
        foreach (var (lo, hi) in set.Except(Plain).Ranges)
            for (int c = lo; c <= hi; c++) options.Add(Node.Text(EscapeOf(c)));
        return options.Count == 0 ? Node.Nothing : Node.Or(options);
    }

    static string EscapeOf(int c) => c switch
    {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\b' => "\\b",
        '\f' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        _ => $"\\u{c:x4}",
    };

    /// <summary>
    /// The inside of a key made of plain characters that is none of <paramref name="names"/> (extra members never
    /// repeat a declared property): a trie of the names whose every node may end or leave the trie, except where a
    /// name ends.
    /// </summary>
    static Node KeyOtherThan(IReadOnlyList<string> names) => KeyFrom(names.Select(n => n.EnumerateRunes().Select(r => r.Value).ToArray()).ToList(), 0);

    static Node KeyFrom(List<int[]> names, int depth)
    {
        var free = new Repeat(new Chars(Plain), 0, -1);
        if (names.Count == 0) return free;
        var options = new List<Node>();
        if (!names.Any(n => n.Length == depth)) options.Add(Node.Empty);
        var next = names.Where(n => n.Length > depth).GroupBy(n => n[depth]).ToList();
        var leave = Plain;
        foreach (var g in next)
        {
            leave = leave.Except(CharSet.Single(g.Key));
            options.Add(Node.Concat(new Chars(CharSet.Single(g.Key)), KeyFrom(g.ToList(), depth + 1)));
        }
        if (!leave.IsEmpty) options.Add(Node.Concat(new Chars(leave), free));
        return Node.Or(options);
    }
}
