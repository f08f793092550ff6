using System.Text.Json;

namespace Quanta.Templates;

/// <summary>Where a model's chat template text comes from: tokenizer_config.json's chat_template or chat_template.jinja.</summary>
public static class ChatTemplateSource
{
    /// <summary>
    /// The <c>chat_template</c> of a tokenizer_config.json object: a string, or a list of <c>{name, template}</c> from
    /// which <paramref name="name"/> (else "default", else the first) is taken. Null when the key is absent or null.
    /// </summary>
    public static string? FromTokenizerConfig(JsonElement config, string? name)
    {
        if (config.ValueKind != JsonValueKind.Object || !config.TryGetProperty("chat_template", out var e) || e.ValueKind == JsonValueKind.Null)
            return null;
        if (e.ValueKind == JsonValueKind.String) return e.GetString();
        if (e.ValueKind == JsonValueKind.Array)
        {
            var named = e.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Object).ToList();
            JsonElement Find(string n) => named.FirstOrDefault(x => x.TryGetProperty("name", out var v) && v.ValueEquals(n));
            var pick = name is not null ? Find(name) : default;
            if (pick.ValueKind == JsonValueKind.Undefined) pick = Find("default");
            if (pick.ValueKind == JsonValueKind.Undefined && named.Count > 0) pick = named[0];
            if (pick.ValueKind == JsonValueKind.Object && pick.TryGetProperty("template", out var tpl) && tpl.ValueKind == JsonValueKind.String)
                return tpl.GetString();
        }
        throw new InvalidDataException("chat_template must be a string or a list of {name, template}");
    }
}
