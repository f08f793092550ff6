using System.Text.Json;

namespace Quanta.Cli.Commands;

/// <summary>Reads the template render command's inputs, with one-line errors for bad files.</summary>
internal static class TemplateFiles
{
    public static JsonElement ReadJson(string path, string option)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{option} {path}: file not found");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new InvalidDataException($"{option} {path}: not valid JSON ({e.Message})"); }
    }

    /// <summary>A .jinja file as is, or the chat_template of a tokenizer_config.json (the default one of a named list).</summary>
    public static string ReadTemplate(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--template {path}: file not found");
        if (!path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return File.ReadAllText(path);
        var config = ReadJson(path, "--template");
        return Quanta.Templates.ChatTemplateSource.FromTokenizerConfig(config, null)
            ?? throw new InvalidDataException($"--template {path}: no chat_template in it");
    }

    public static (JsonElement Messages, JsonElement? Tools) ReadMessages(string path)
    {
        var json = ReadJson(path, "--messages");
        if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("messages", out var m))
            return (m, json.TryGetProperty("tools", out var t) && t.ValueKind == JsonValueKind.Array ? t : null);
        if (json.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"--messages {path}: expected a JSON list of messages");
        return (json, null);
    }
}
