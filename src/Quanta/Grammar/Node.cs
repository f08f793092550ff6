namespace Quanta.Grammar;

/// <summary>
/// A regular language over Unicode text: what regexes parse to and JSON schemas compile to. <see cref="Nfa"/> turns it
/// into bytes (UTF-8).
/// </summary>
public abstract record Node
{
    /// <summary>The empty string.</summary>
    public static Node Empty { get; } = new Seq([]);
    /// <summary>No string at all.</summary>
    public static Node Nothing { get; } = new Chars(CharSet.Empty);

    /// <summary>The literal text <paramref name="s"/>.</summary>
    public static Node Text(string s)
    {
        var parts = new List<Node>();
        foreach (var r in s.EnumerateRunes()) parts.Add(new Chars(CharSet.Single(r.Value)));
        return parts.Count == 1 ? parts[0] : new Seq(parts);
    }

    public static Node Concat(params IEnumerable<Node> parts)
    {
        var list = new List<Node>();
        foreach (var p in parts)
            if (p is Seq s) list.AddRange(s.Parts); else list.Add(p);
        return list.Count == 1 ? list[0] : new Seq(list);
    }

    public static Node Or(params IEnumerable<Node> options)
    {
        var list = new List<Node>();
        foreach (var o in options)
            if (o is Alt a) list.AddRange(a.Options); else list.Add(o);
        return list.Count == 1 ? list[0] : new Alt(list);
    }

    public static Node Optional(Node n) => new Repeat(n, 0, 1);
}

/// <summary>One character from <see cref="Set"/>.</summary>
public sealed record Chars(CharSet Set) : Node;

/// <summary>The parts one after another.</summary>
public sealed record Seq(IReadOnlyList<Node> Parts) : Node;

/// <summary>Any one of the options.</summary>
public sealed record Alt(IReadOnlyList<Node> Options) : Node;

/// <summary><see cref="Item"/> between <see cref="Min"/> and <see cref="Max"/> times (Max -1: unbounded).</summary>
public sealed record Repeat(Node Item, int Min, int Max) : Node;

/// <summary>
/// <see cref="Item"/> repeated <see cref="Min"/> to <see cref="Max"/> times (-1: unbounded) with <see cref="Separator"/>
/// between items: JSON's lists. With Min at most 1 and no Max, the automaton holds one copy of the item.
/// </summary>
public sealed record SepList(Node Item, Node Separator, int Min, int Max) : Node;

/// <summary>One member of a <see cref="Fields"/> list: its text (key, colon, value) and whether it must appear.</summary>
public sealed record Field(Node Member, bool Required);

/// <summary>
/// An object's members in order, each optional one free to be left out, with <see cref="Separator"/> between those
/// present, then any number of <see cref="Extra"/> members (null: none). Built in linear size (two copies per member).
/// </summary>
public sealed record Fields(IReadOnlyList<Field> Members, Node Separator, Node? Extra) : Node;
