using System.Text.Json;
using System.Text.Json.Nodes;
using Quanta.Grammar;
using Quanta.Server.Api.Chat;

namespace Quanta.Server.Api.Tools;

/// <summary>
/// What a chat request's <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c> ask for: the tools the
/// template sees, the grammar that forces a call (<c>required</c> or a named function), and the parser that reads
/// calls from the output (null: the output is content).
/// </summary>
internal sealed record ToolPlan(JsonElement? TemplateTools, IToolCallParser? Parser, GrammarSpec? Grammar, bool Parallel)
{
    public static readonly ToolPlan NoTools = new(null, null, null, true);

    /// <summary>Reads and checks the request's tool fields; a bad shape, unknown name or conflict is a 400.</summary>
    public static ToolPlan From(ChatRequest req, ChatTemplate template)
    {
        var tools = Tools(req.Tools);
        bool parallel = req.ParallelToolCalls ?? true;
        var choice = req.ToolChoice is { ValueKind: not JsonValueKind.Null } c ? c : (JsonElement?)null;
        string mode = choice switch
        {
            null => "auto",
            { ValueKind: JsonValueKind.String } s when s.GetString() is "none" or "auto" or "required" => s.GetString()!,
            { ValueKind: JsonValueKind.Object } => "function",
            _ => throw ApiException.Validation(ChoiceShape),
        };
        if (tools.Count == 0)
        {
            if (mode is "required" or "function") throw ApiException.Validation($"`tool_choice` {Describe(choice!.Value)} needs `tools`");
            return NoTools;
        }
        if (mode == "none") return NoTools;
        var format = ToolFormats.For(template);
        if (mode == "auto") return new ToolPlan(req.Tools, format, null, parallel);
        var formatIds = format ?? new HermesToolParser();   // call ids in the template's style where it has one

        if (GrammarParams.FromResponseFormat(req.ResponseFormat) is not null)
            throw ApiException.Validation($"`tool_choice` {Describe(choice!.Value)} cannot be combined with `response_format`: both constrain the output");
        if (mode == "required")
            return new ToolPlan(req.Tools, new RequiredCallsParser(formatIds), RequiredGrammar(tools, parallel), parallel);
        string name = NamedFunction(choice!.Value);
        var tool = tools.FirstOrDefault(t => t.Name == name)
            ?? throw ApiException.Validation($"`tool_choice` names the function '{name}', which is not in `tools` ({string.Join(", ", tools.Select(t => t.Name))})");
        var schema = tool.Parameters is { } p ? new GrammarSpec(GrammarKind.Json, p.GetRawText()) : GrammarSpec.AnyJsonObject;
        return new ToolPlan(req.Tools, new NamedCallParser(name, formatIds), schema, parallel);
    }

    const string ChoiceShape = "`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}";

    sealed record Tool(string Name, JsonElement? Parameters);

    static List<Tool> Tools(JsonElement? value)
    {
        if (value is not { } tools || tools.ValueKind == JsonValueKind.Null) return [];
        const string Shape = "`tools[]` must be {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}";
        if (tools.ValueKind != JsonValueKind.Array) throw ApiException.Validation(Shape);
        var list = new List<Tool>();
        foreach (var t in tools.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object
                || !f.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String || n.GetString() is not { Length: > 0 } name)
                throw ApiException.Validation(Shape);
            if (t.TryGetProperty("type", out var type) && (type.ValueKind != JsonValueKind.String || type.GetString() != "function"))
                throw ApiException.Validation($"`tools[].type` must be \"function\". Given: {type.GetRawText()}");
            JsonElement? parameters = f.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null ? p : null;
            if (parameters is { ValueKind: not (JsonValueKind.Object or JsonValueKind.True) })
                throw ApiException.Validation($"`tools[].function.parameters` of '{name}' must be a JSON schema object");
            list.Add(new Tool(name, parameters));
        }
        return list;
    }

    static string NamedFunction(JsonElement choice)
    {
        if (choice.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "function"
            && choice.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object
            && f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
            return n.GetString()!;
        throw ApiException.Validation(ChoiceShape);
    }

    static string Describe(JsonElement choice) => choice.ValueKind == JsonValueKind.String ? $"\"{choice.GetString()}\"" : "naming a function";

    /// <summary>
    /// <c>[{"name": ..., "parameters": ...}, ...]</c> with 1..n calls (exactly one without parallel calls); one anyOf
    /// branch per tool ties the name to its parameters. Each tool's schema moves under <c>$defs/tN</c>, its local
    /// <c>$ref</c>s rewritten to point there.
    /// </summary>
    static GrammarSpec RequiredGrammar(List<Tool> tools, bool parallel)
    {
        var defs = new JsonObject();
        var branches = new JsonArray();
        for (int i = 0; i < tools.Count; i++)
        {
            string def = $"t{i}";
            defs[def] = tools[i].Parameters is { } p ? Rebase(JsonNode.Parse(p.GetRawText())!, "#/$defs/" + def) : new JsonObject { ["type"] = "object" };
            branches.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["name"] = new JsonObject { ["const"] = tools[i].Name }, ["parameters"] = new JsonObject { ["$ref"] = "#/$defs/" + def } },
                ["required"] = new JsonArray("name", "parameters"),
                ["additionalProperties"] = false,
            });
        }
        var schema = new JsonObject { ["type"] = "array", ["minItems"] = 1, ["items"] = new JsonObject { ["anyOf"] = branches }, ["$defs"] = defs };
        if (!parallel) schema["maxItems"] = 1;
        return new GrammarSpec(GrammarKind.Json, schema.ToJsonString());
    }

    /// <summary>Rewrites every local <c>$ref</c> ("#", "#/...") under <paramref name="node"/> to start at <paramref name="root"/>.</summary>
    static JsonNode Rebase(JsonNode node, string root)
    {
        if (node is JsonObject o)
        {
            foreach (var (key, child) in o.ToList())
            {
                if (key == "$ref" && child is JsonValue v && v.TryGetValue<string>(out var r) && r.StartsWith('#')) o[key] = root + r[1..];
                else if (child is not null) Rebase(child, root);
            }
        }
        else if (node is JsonArray a)
            foreach (var child in a) if (child is not null) Rebase(child, root);
        return node;
    }
}

/// <summary>Which call format a chat template teaches its model, read from the template's text.</summary>
internal static class ToolFormats
{
    /// <summary>The parser for <paramref name="template"/>'s call format; null where it shows none.</summary>
    public static IToolCallParser? For(ChatTemplate template) => template is JinjaChatTemplate j ? For(j.Source) : null;

    public static IToolCallParser? For(string source)
    {
        if (source.Contains("<tool_call>", StringComparison.Ordinal)) return new HermesToolParser();
        if (source.Contains("[TOOL_CALLS]", StringComparison.Ordinal)) return new MistralToolParser();
        if (source.Contains("<|python_tag|>", StringComparison.Ordinal)
            || (source.Contains("<|start_header_id|>", StringComparison.Ordinal) && source.Contains("\"parameters\"", StringComparison.Ordinal)))
            return new Llama3JsonToolParser();
        return null;
    }
}
