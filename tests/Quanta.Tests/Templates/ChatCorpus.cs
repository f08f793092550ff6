using System.Text.Json;
using Quanta.Templates.Jinja;

namespace Quanta.Tests.Templates;

/// <summary>../shared/chat-templates: 20 templates x 10 conversations x add_generation_prompt, with transformers' renderings.</summary>
public static class ChatCorpus
{
    public static readonly DateTime PinnedNow = new(2024, 7, 26, 12, 0, 0);

    static readonly Lazy<Corpus?> Data = new(Load);

    public sealed record Case(string Template, string Conversation, bool AddGenerationPrompt, string? Output, string? Error, string? ErrorType);
    public sealed record TemplateInfo(string Name, string Path, string? Bos, string? Eos);
    public sealed record Conversation(string Id, JsonElement Messages, JsonElement? Tools);
    public sealed record Corpus(List<Case> Cases, Dictionary<string, TemplateInfo> Templates, Dictionary<string, Conversation> Conversations);

    public static string? Dir => TestPaths.Shared is { } s && Directory.Exists(Path.Combine(s, "chat-templates")) ? Path.Combine(s, "chat-templates") : null;

    public static Corpus Get()
    {
        TestPaths.SharedPath("chat-templates", "expected.json");
        return Data.Value!;
    }

    public static IEnumerable<Case> CasesOrEmpty() => Data.Value?.Cases ?? [];

    static Corpus? Load()
    {
        if (Dir is not { } dir || !File.Exists(Path.Combine(dir, "expected.json"))) return null;
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var cases = expected.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("template").GetString()!, c.GetProperty("conversation").GetString()!, c.GetProperty("add_generation_prompt").GetBoolean(),
            c.TryGetProperty("output", out var o) ? o.GetString() : null,
            c.TryGetProperty("error", out var e) ? e.GetString() : null,
            c.TryGetProperty("error_type", out var t) ? t.GetString() : null)).ToList();
        var templates = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "templates.json"))).RootElement.EnumerateArray()
            .Select(t => new TemplateInfo(t.GetProperty("name").GetString()!, Path.Combine(dir, t.GetProperty("file").GetString()!),
                t.GetProperty("bos_token").GetString(), t.GetProperty("eos_token").GetString()))
            .ToDictionary(t => t.Name);
        var conversations = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "conversations.json"))).RootElement.EnumerateArray()
            .Select(c => new Conversation(c.GetProperty("id").GetString()!, c.GetProperty("messages").Clone(),
                c.TryGetProperty("tools", out var tl) && tl.ValueKind == JsonValueKind.Array && tl.GetArrayLength() > 0 ? tl.Clone() : null))
            .ToDictionary(c => c.Id);
        return new Corpus(cases, templates, conversations);
    }

    /// <summary>The variables render.py passes.</summary>
    public static Dictionary<string, object?> Variables(TemplateInfo t, Conversation c, bool addGenerationPrompt)
    {
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = PyJson.FromJson(c.Messages),
            ["tools"] = c.Tools is { } tools ? PyJson.FromJson(tools) : null,
            ["documents"] = null,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["date_string"] = "26 Jul 2024",
        };
        if (t.Bos is not null) vars["bos_token"] = t.Bos;
        if (t.Eos is not null) vars["eos_token"] = t.Eos;
        return vars;
    }
}
