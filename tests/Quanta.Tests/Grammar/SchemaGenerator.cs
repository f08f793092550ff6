using System.Text.Json.Nodes;

namespace Quanta.Tests.Grammar;

/// <summary>
/// Random JSON Schemas from a seed, covering the supported keywords: objects (properties, required,
/// additionalProperties false / schema / absent), arrays (items, minItems, maxItems), strings (enum, const, pattern,
/// minLength/maxLength, formats), integers and numbers with bounds, booleans, null, type lists, anyOf, oneOf (over
/// disjoint types, so one branch matches), $ref into $defs (recursive too).
/// </summary>
internal sealed class SchemaGenerator(int seed)
{
    readonly Random _rng = new(seed);
    readonly JsonObject _defs = [];
    static readonly string[] Names = ["id", "name", "age", "tags", "city", "score", "ok", "items", "note", "when", "a", "b_c", "ключ", "x y"];
    static readonly string[] Patterns = ["[a-z]{1,8}", "\\d{3}-\\d{4}", "(yes|no|maybe)", "[A-Z][a-z]*", "\\w+@\\w+\\.com", "[\"\\\\/]{1,3}", "é+[^a-z\\s]?"];
    static readonly string[] Formats = ["date", "date-time", "time", "uuid", "email"];

    public JsonObject Next()
    {
        _defs.Clear();
        var root = (JsonObject)Schema(0);
        if (_defs.Count > 0) root["$defs"] = _defs.DeepClone();
        return root;
    }

    int Pick(int n) => _rng.Next(n);
    bool Chance(double p) => _rng.NextDouble() < p;

    JsonNode Schema(int depth)
    {
        int kind = depth >= 3 ? 2 + Pick(6) : Pick(12);
        return kind switch
        {
            0 or 1 or 8 => Object(depth),
            9 => Array(depth),
            2 => String(),
            3 => Integer(),
            4 => Number(),
            5 => Chance(0.5) ? new JsonObject { ["type"] = "boolean" } : new JsonObject { ["type"] = "null" },
            6 => Chance(0.5) ? new JsonObject { ["enum"] = new JsonArray("red", 2, null, true, "é\"x") } : new JsonObject { ["const"] = "fixed" },
            7 => new JsonObject { ["type"] = new JsonArray("integer", "null"), ["minimum"] = -5, ["maximum"] = 500 },
            10 => Union(depth),
            _ => Ref(depth),
        };
    }

    JsonObject Object(int depth)
    {
        var props = new JsonObject();
        var required = new JsonArray();
        int n = Pick(5);
        foreach (var name in Names.OrderBy(_ => _rng.Next()).Take(n))
        {
            props[name] = Schema(depth + 1);
            if (Chance(0.6)) required.Add(name);
        }
        var o = new JsonObject { ["type"] = "object", ["properties"] = props };
        if (required.Count > 0) o["required"] = required;
        switch (Pick(3))
        {
            case 0: o["additionalProperties"] = false; break;
            case 1: if (depth < 2) o["additionalProperties"] = Chance(0.5) ? Integer() : new JsonObject { ["type"] = "boolean" }; break;
        }
        return o;
    }

    JsonObject Array(int depth)
    {
        var o = new JsonObject { ["type"] = "array", ["items"] = Schema(depth + 1) };
        int min = Pick(3);
        if (Chance(0.5)) o["minItems"] = min;
        if (Chance(0.7)) o["maxItems"] = min + Pick(3);
        return o;
    }

    JsonObject String()
    {
        var o = new JsonObject { ["type"] = "string" };
        switch (Pick(5))
        {
            case 0: o["pattern"] = Patterns[Pick(Patterns.Length)]; break;
            case 1: o["format"] = Formats[Pick(Formats.Length)]; break;
            case 2: o["enum"] = new JsonArray("alpha", "beta", "γάμμα"); break;
            default:
                int min = Pick(4);
                if (Chance(0.5)) o["minLength"] = min;
                if (Chance(0.8)) o["maxLength"] = min + Pick(12);
                break;
        }
        return o;
    }

    JsonObject Integer()
    {
        var o = new JsonObject { ["type"] = "integer" };
        int lo = _rng.Next(-1000, 1000);
        if (Chance(0.5)) o[Chance(0.5) ? "minimum" : "exclusiveMinimum"] = lo;
        if (Chance(0.5)) o[Chance(0.5) ? "maximum" : "exclusiveMaximum"] = lo + _rng.Next(2, 3000);
        return o;
    }

    JsonObject Number()
    {
        var o = new JsonObject { ["type"] = "number" };
        double lo = Math.Round(_rng.NextDouble() * 200 - 100, 2);
        if (Chance(0.5)) o[Chance(0.5) ? "minimum" : "exclusiveMinimum"] = lo;
        if (Chance(0.5)) o[Chance(0.5) ? "maximum" : "exclusiveMaximum"] = lo + 0.5 + Math.Round(_rng.NextDouble() * 50, 2);
        return o;
    }

    JsonObject Union(int depth)
    {
        if (Chance(0.5)) return new JsonObject { ["anyOf"] = new JsonArray(Schema(depth + 1), Schema(depth + 1)) };
        // oneOf over different types: exactly one branch can match.
        var branches = new JsonNode[] { String(), Integer(), new JsonObject { ["type"] = "boolean" }, new JsonObject { ["type"] = "null" }, Object(depth + 1) };
        var picked = branches.OrderBy(_ => _rng.Next()).Take(2 + Pick(2)).ToArray();
        return new JsonObject { ["oneOf"] = new JsonArray(picked) };
    }

    JsonObject Ref(int depth)
    {
        if (Chance(0.3))
        {
            // A recursive list node.
            _defs["node"] ??= new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["v"] = new JsonObject { ["type"] = "integer" }, ["next"] = new JsonObject { ["$ref"] = "#/$defs/node" } },
                ["required"] = new JsonArray("v"),
            };
            return new JsonObject { ["$ref"] = "#/$defs/node" };
        }
        string name = "d" + _defs.Count;
        _defs[name] = null;   // reserves the name for the definitions made inside
        _defs[name] = Schema(depth + 1);
        return new JsonObject { ["$ref"] = "#/$defs/" + name };
    }
}
