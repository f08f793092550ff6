using System.Text.Encodings.Web;
using System.Text.Json;

namespace Quanta.Grammar;

/// <summary>
/// Compiles a JSON Schema into the <see cref="Node"/> of the JSON texts that satisfy it, written compactly: members in
/// the schema's property order, optional ones free to be left out, and no whitespace but at most one space after each
/// ',' and ':'. Free-form values (<c>{}</c>, <c>true</c>, an object without properties) nest at most
/// <see cref="MaxFreeDepth"/> levels; a recursive <c>$ref</c> is expanded at most <see cref="MaxRefDepth"/> times on one
/// path. Every unsupported keyword found anywhere in the schema is reported at once.
/// </summary>
public sealed partial class JsonSchemaCompiler
{
    /// <summary>Levels of arrays and objects a free-form value may nest.</summary>
    public const int MaxFreeDepth = 4;
    /// <summary>Times one <c>$ref</c> may be entered on a single path (recursive schemas).</summary>
    public const int MaxRefDepth = 3;

    static readonly HashSet<string> Annotations =
    [
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated",
        "readOnly", "writeOnly", "$defs", "definitions", "strict", "discriminator", "nullable",
    ];
    static readonly HashSet<string> Known =
    [
        "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "pattern", "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "anyOf", "oneOf", "allOf", "$ref",
    ];
    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static readonly Node Ws = Node.Optional(Node.Text(" "));
    static readonly Node Comma = Node.Concat(Node.Text(","), Ws);
    static readonly Node Colon = Node.Concat(Node.Text(":"), Ws);

    readonly JsonElement _root;
    readonly SortedSet<string> _unsupported = new(StringComparer.Ordinal);
    readonly Dictionary<string, int> _refsOpen = [];

    JsonSchemaCompiler(JsonElement root) => _root = root;

    /// <summary>The language of the schema in <paramref name="schemaJson"/>; throws <see cref="GrammarException"/>.</summary>
    public static Node Compile(string schemaJson)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(schemaJson); }
        catch (JsonException e) { throw new GrammarException("the JSON schema is not valid JSON: " + e.Message); }
        using (doc) return Compile(doc.RootElement);
    }

    public static Node Compile(JsonElement schema)
    {
        var c = new JsonSchemaCompiler(schema);
        var node = c.Schema(schema, "#");
        if (c._unsupported.Count > 0)
            throw new GrammarException($"unsupported JSON Schema keywords: {string.Join(", ", c._unsupported)}", [.. c._unsupported]);
        return node;
    }

    Node Schema(JsonElement s, string path)
    {
        if (s.ValueKind == JsonValueKind.True) return AnyValue(MaxFreeDepth);
        if (s.ValueKind == JsonValueKind.False) return Node.Nothing;
        if (s.ValueKind != JsonValueKind.Object) throw new GrammarException($"{path}: a schema must be an object or a boolean");
        foreach (var p in s.EnumerateObject())
            if (!Known.Contains(p.Name) && !Annotations.Contains(p.Name)) _unsupported.Add(p.Name);

        if (s.TryGetProperty("$ref", out var r)) return WithOnly(s, path, "$ref", Ref(r, path));
        if (s.TryGetProperty("anyOf", out var any)) return WithOnly(s, path, "anyOf", Options(any, path + "/anyOf"));
        if (s.TryGetProperty("oneOf", out var one)) return WithOnly(s, path, "oneOf", Options(one, path + "/oneOf"));
        if (s.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1) { _unsupported.Add("allOf (with more than one schema)"); return Node.Nothing; }
            return WithOnly(s, path, "allOf", Schema(all[0], path + "/allOf/0"));
        }
        if (s.TryGetProperty("const", out var c)) return Literal(c);
        if (s.TryGetProperty("enum", out var e))
        {
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0) throw new GrammarException($"{path}/enum: must be a non-empty array");
            return Node.Or(e.EnumerateArray().Select(Literal));
        }
        var types = Types(s, path);
        return Node.Or(types.Select(t => Typed(s, t, path)));
    }

    /// <summary>A combinator's node, when nothing but annotations stands beside it.</summary>
    Node WithOnly(JsonElement s, string path, string keyword, Node node)
    {
        foreach (var p in s.EnumerateObject())
            if (p.Name != keyword && !Annotations.Contains(p.Name) && Known.Contains(p.Name))
                _unsupported.Add($"{p.Name} beside {keyword} (at {path})");
        return node;
    }

    Node Options(JsonElement list, string path)
    {
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0) throw new GrammarException($"{path}: must be a non-empty array");
        return Node.Or(list.EnumerateArray().Select((o, i) => Schema(o, $"{path}/{i}")));
    }

    static readonly string[] AllTypes = ["object", "array", "string", "integer", "number", "boolean", "null"];

    /// <summary>The schema's types: its "type" (a name or a list), else those its keywords imply, else all.</summary>
    static IReadOnlyList<string> Types(JsonElement s, string path)
    {
        if (s.TryGetProperty("type", out var t))
        {
            var names = t.ValueKind == JsonValueKind.Array ? t.EnumerateArray().Select(x => x.GetString() ?? "").ToList()
                      : t.ValueKind == JsonValueKind.String ? [t.GetString()!] : [];
            foreach (var n in names)
                if (!AllTypes.Contains(n)) throw new GrammarException($"{path}/type: unknown type '{n}'");
            if (names.Count == 0) throw new GrammarException($"{path}/type: must be a type name or a list of them");
            // "number" already covers the integers.
            if (names.Contains("number")) names.Remove("integer");
            return names;
        }
        if (s.TryGetProperty("properties", out _) || s.TryGetProperty("additionalProperties", out _) || s.TryGetProperty("required", out _)) return ["object"];
        if (s.TryGetProperty("items", out _) || s.TryGetProperty("minItems", out _) || s.TryGetProperty("maxItems", out _)) return ["array"];
        if (s.TryGetProperty("pattern", out _) || s.TryGetProperty("format", out _) || s.TryGetProperty("minLength", out _) || s.TryGetProperty("maxLength", out _)) return ["string"];
        if (s.TryGetProperty("minimum", out _) || s.TryGetProperty("maximum", out _) || s.TryGetProperty("exclusiveMinimum", out _) || s.TryGetProperty("exclusiveMaximum", out _)) return ["number"];
        return ["object", "array", "string", "number", "boolean", "null"];
    }

    Node Typed(JsonElement s, string type, string path) => type switch
    {
        "object" => Object(s, path),
        "array" => Array(s, path),
        "string" => String(s, path),
        "integer" => Integer(s, path),
        "number" => Number(s, path),
        "boolean" => Node.Or(Node.Text("true"), Node.Text("false")),
        _ => Node.Text("null"),
    };

    Node Object(JsonElement s, string path)
    {
        var members = new List<Field>();
        var names = new List<string>();
        var required = new HashSet<string>();
        if (s.TryGetProperty("required", out var req))
            foreach (var n in req.EnumerateArray()) required.Add(n.GetString() ?? "");
        if (s.TryGetProperty("properties", out var props))
            foreach (var p in props.EnumerateObject())
            {
                names.Add(p.Name);
                var member = Node.Concat(Literal(JsonSerializer.Serialize(p.Name, Compact)), Colon, Schema(p.Value, $"{path}/properties/{p.Name}"));
                members.Add(new Field(member, required.Contains(p.Name)));
            }
        foreach (var n in required)
            if (!names.Contains(n)) throw new GrammarException($"{path}: required property '{n}' is not in properties");
        Node? extra = null;
        bool hasExtra = s.TryGetProperty("additionalProperties", out var ap);
        // Without properties an object is free-form; with them, extra members only when the schema asks for them.
        if (hasExtra ? ap.ValueKind != JsonValueKind.False : names.Count == 0)
        {
            var value = hasExtra && ap.ValueKind == JsonValueKind.Object ? Schema(ap, path + "/additionalProperties")
                      : AnyValue(MaxFreeDepth - 1);
            extra = Node.Concat(Node.Text("\""), KeyOtherThan(names), Node.Text("\""), Colon, value);
        }
        return Node.Concat(Node.Text("{"), new Fields(members, Comma, extra), Node.Text("}"));
    }

    Node Array(JsonElement s, string path)
    {
        int min = Count(s, "minItems", path) ?? 0, max = Count(s, "maxItems", path) ?? -1;
        if (max >= 0 && max < min) return Node.Nothing;
        var item = s.TryGetProperty("items", out var items)
            ? items.ValueKind == JsonValueKind.Array ? Tuple() : Schema(items, path + "/items")
            : AnyValue(MaxFreeDepth - 1);
        return Node.Concat(Node.Text("["), new SepList(item, Comma, min, max), Node.Text("]"));

        Node Tuple()
        {
            _unsupported.Add("items (as a list of schemas)");
            return Node.Nothing;
        }
    }

    Node Ref(JsonElement r, string path)
    {
        string target = r.GetString() ?? "";
        if (!target.StartsWith('#')) { _unsupported.Add($"$ref to another document ({target})"); return Node.Nothing; }
        int open = _refsOpen.GetValueOrDefault(target);
        if (open >= MaxRefDepth) return Node.Nothing;   // recursion cut: deeper nesting is not generated
        var schema = Resolve(target, path);
        _refsOpen[target] = open + 1;
        try { return Schema(schema, target); }
        finally { _refsOpen[target] = open; }
    }

    /// <summary>The element a local JSON pointer ("#", "#/$defs/A", "#/definitions/A/properties/b") names.</summary>
    JsonElement Resolve(string pointer, string path)
    {
        var cur = _root;
        foreach (var raw in pointer.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string key = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            if (cur.ValueKind == JsonValueKind.Object && cur.TryGetProperty(key, out var next)) cur = next;
            else if (cur.ValueKind == JsonValueKind.Array && int.TryParse(key, out int i) && i < cur.GetArrayLength()) cur = cur[i];
            else throw new GrammarException($"{path}: $ref '{pointer}' points to nothing");
        }
        return cur;
    }

    /// <summary>Exactly the JSON text of <paramref name="value"/>, written compactly.</summary>
    static Node Literal(JsonElement value) => Literal(JsonSerializer.Serialize(value, Compact));

    static Node Literal(string text) => Node.Text(text);

    static int? Count(JsonElement s, string keyword, string path)
    {
        if (!s.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
            throw new GrammarException($"{path}/{keyword}: must be a non-negative integer");
        if (n > RegexParser.MaxCount) throw new GrammarException($"{path}/{keyword}: counts above {RegexParser.MaxCount} are not supported");
        return n;
    }

    /// <summary>Any JSON value nesting at most <paramref name="depth"/> levels of objects and arrays.</summary>
    static Node AnyValue(int depth)
    {
        var scalars = new List<Node> { JsonString(0, -1), UnboundedNumber, Node.Text("true"), Node.Text("false"), Node.Text("null") };
        if (depth <= 0) return Node.Or([.. scalars, Node.Text("{}"), Node.Text("[]")]);
        var inner = AnyValue(depth - 1);
        var member = Node.Concat(JsonString(0, -1), Colon, inner);
        return Node.Or([
            Node.Concat(Node.Text("{"), new SepList(member, Comma, 0, -1), Node.Text("}")),
            Node.Concat(Node.Text("["), new SepList(inner, Comma, 0, -1), Node.Text("]")),
            .. scalars]);
    }
}
