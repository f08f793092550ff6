using System.Text.Json;
using Quanta.Grammar;

namespace Quanta.Server.Api;

/// <summary>
/// Request fields that constrain the output, read into a <see cref="GrammarSpec"/>: TGI's <c>grammar</c>
/// (<c>{"type":"json"|"json_object","value":schema}</c>, <c>{"type":"regex","value":"..."}</c>) and OpenAI's
/// <c>response_format</c> (<c>text</c>, <c>json_object</c>, <c>json_schema</c>). A schema may be given as an object or as
/// a string holding its JSON. Shape errors and schemas that do not compile are 422s.
/// </summary>
internal static class GrammarParams
{
    /// <summary>TGI's <c>grammar</c> parameter; null when absent.</summary>
    public static GrammarSpec? FromTgi(JsonElement? grammar)
    {
        if (grammar is not { } g || g.ValueKind == JsonValueKind.Null) return null;
        if (g.ValueKind != JsonValueKind.Object || !g.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw ApiException.Validation("`grammar` must be an object with a `type` (\"json\" or \"regex\") and a `value`");
        bool hasValue = g.TryGetProperty("value", out var value) && value.ValueKind != JsonValueKind.Null;
        string t = type.GetString()!;
        if (t == "json_object" && !hasValue) return GrammarSpec.AnyJsonObject;
        if (t is "json" or "json_object" or "json_schema")
            return hasValue ? Schema(value, "grammar.value") : throw ApiException.Validation("`grammar.value` must hold a JSON schema");
        if (t == "regex")
            return hasValue && value.ValueKind == JsonValueKind.String ? new GrammarSpec(GrammarKind.Regex, value.GetString()!)
                : throw ApiException.Validation("`grammar.value` must be a regex string");
        throw ApiException.Validation($"`grammar.type` must be \"json\" or \"regex\". Given: \"{t}\"");
    }

    /// <summary>OpenAI's <c>response_format</c>; null for absent or <c>text</c>.</summary>
    public static GrammarSpec? FromResponseFormat(JsonElement? format)
    {
        if (format is not { } f || f.ValueKind == JsonValueKind.Null) return null;
        if (f.ValueKind != JsonValueKind.Object || !f.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw ApiException.Validation("`response_format` must be an object with a `type`");
        switch (type.GetString())
        {
            case "text": return null;
            case "json_object":
                // TGI's form carries a schema in `value`; OpenAI's means any object.
                return f.TryGetProperty("value", out var v) && v.ValueKind != JsonValueKind.Null ? Schema(v, "response_format.value") : GrammarSpec.AnyJsonObject;
            case "json_schema":
                if (f.TryGetProperty("json_schema", out var js) && js.ValueKind == JsonValueKind.Object)
                    return js.TryGetProperty("schema", out var s) ? Schema(s, "response_format.json_schema.schema") : GrammarSpec.AnyJsonObject;
                if (f.TryGetProperty("value", out var tv)) return Schema(tv, "response_format.value");
                throw ApiException.Validation("`response_format.json_schema` must be an object with a `schema`");
            case "regex":
                return FromTgi(f);
            case var t:
                throw ApiException.Validation($"`response_format.type` must be \"text\", \"json_object\" or \"json_schema\". Given: \"{t}\"");
        }
    }

    /// <summary><paramref name="spec"/> when it compiles; else a 422 naming what is wrong or unsupported.</summary>
    public static GrammarSpec? Checked(GrammarSpec? spec)
    {
        if (spec is null) return null;
        try { GrammarCache.Compile(spec); }
        catch (GrammarException e) { throw ApiException.Validation(e.Message); }
        return spec;
    }

    static GrammarSpec Schema(JsonElement value, string field)
    {
        if (value.ValueKind == JsonValueKind.String) return new GrammarSpec(GrammarKind.Json, value.GetString()!);
        if (value.ValueKind is JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False)
            return new GrammarSpec(GrammarKind.Json, value.GetRawText());
        throw ApiException.Validation($"`{field}` must be a JSON schema (an object, or a string holding one)");
    }
}
