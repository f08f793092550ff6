using System.Text.Json;
using System.Text.Json.Nodes;

namespace Quanta.Server.Api.Chat;

/// <summary>
/// One chat request's input to a chat template: the messages (as sent, validated), the tools the template sees
/// (none when <c>tool_choice</c> is "none"), and the template switches.
/// </summary>
internal sealed record ChatPrompt(
    JsonElement Messages,
    JsonElement? Tools,
    bool AddGenerationPrompt,
    bool ContinueFinalMessage,
    IReadOnlyDictionary<string, JsonElement>? Kwargs)
{
    static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary>Validates the request's messages and builds what the template receives.</summary>
    public static ChatPrompt From(ChatRequest req, JsonElement? tools)
    {
        if (req.Messages.Count == 0) throw ApiException.Validation("`messages` cannot be empty");
        var list = new JsonArray();
        for (int i = 0; i < req.Messages.Count; i++) list.Add(Normalize(req.Messages[i], i));
        var messages = JsonSerializer.SerializeToElement(list);
        bool continueFinal = req.ContinueFinalMessage;
        bool agp = req.AddGenerationPrompt ?? !continueFinal;
        if (continueFinal && agp)
            throw ApiException.Validation("`continue_final_message` and `add_generation_prompt` cannot both be true");
        return new ChatPrompt(messages, tools, agp, continueFinal, req.ChatTemplateKwargs);
    }

    /// <summary>
    /// Checks one message; an assistant's <c>tool_calls[].function.arguments</c> JSON string becomes an object, as
    /// vLLM passes it, since templates print it with <c>tojson</c>.
    /// </summary>
    static JsonNode Normalize(JsonElement m, int index)
    {
        if (m.ValueKind != JsonValueKind.Object) throw ApiException.Validation($"`messages[{index}]` must be an object");
        if (!m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
            throw ApiException.Validation($"`messages[{index}].role` must be a string");
        if (!Roles.Contains(role.GetString()!))
            throw ApiException.Validation($"`messages[{index}]`: unknown role '{role.GetString()}' (system, developer, user, assistant or tool)");
        if (m.TryGetProperty("content", out var content) && content.ValueKind is not (JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Null))
            throw ApiException.Validation($"`messages[{index}].content` must be a string, an array of parts or null");
        var node = JsonNode.Parse(m.GetRawText())!.AsObject();
        if (node["tool_calls"] is JsonArray calls)
            foreach (var call in calls)
                if (call?["function"] is JsonObject fn && fn["arguments"] is JsonValue v && v.TryGetValue<string>(out var text))
                {
                    try { if (JsonNode.Parse(text) is JsonObject args) fn["arguments"] = args; }
                    catch (JsonException) { }
                }
        return node;
    }

    /// <summary>The messages as (role, text) for the built-in llama2/chatml formats.</summary>
    public IReadOnlyList<ChatMessage> PlainMessages() => Messages.EnumerateArray().Select(m => new ChatMessage(
        m.GetProperty("role").GetString()!, m.TryGetProperty("content", out var c) ? ContentText(c) : "")).ToList();

    static string ContentText(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.Null) return "";
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        return string.Concat(content.EnumerateArray().Select(part =>
            part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()
                : throw ApiException.Validation("`messages[].content` parts must be {\"type\": \"text\", \"text\": \"...\"}")));
    }
}
