using System.Text.Json;
using Quanta.Templates.Jinja;

namespace Quanta.Templates;

/// <summary>What one chat-template render receives (the variables transformers' apply_chat_template passes).</summary>
public sealed record ChatRenderInput
{
    /// <summary>The conversation: a JSON array of OpenAI-style messages.</summary>
    public required JsonElement Messages { get; init; }
    /// <summary>A JSON array of tool (function) schemas, or null: the template's <c>tools</c> is then None.</summary>
    public JsonElement? Tools { get; init; }
    public bool AddGenerationPrompt { get; init; } = true;
    /// <summary>Cut the output right after the final message's content, so generation continues it.</summary>
    public bool ContinueFinalMessage { get; init; }
    /// <summary>Passed as <c>bos_token</c>/<c>eos_token</c> when not null.</summary>
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    /// <summary>What <c>strftime_now</c> formats (default: the local time at render).</summary>
    public DateTime? Now { get; init; }
    /// <summary>Passed as <c>date_string</c> (e.g. "26 Jul 2024") when not null.</summary>
    public string? DateString { get; init; }
    /// <summary>Extra template variables (OpenAI <c>chat_template_kwargs</c>); they override the ones above.</summary>
    public IReadOnlyDictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>A model's chat template, parsed once and rendered per request as transformers renders it.</summary>
public sealed class ChatTemplateRenderer
{
    readonly JinjaTemplate template;

    /// <summary>Parses <paramref name="source"/>; a syntax error throws <see cref="JinjaException"/>.</summary>
    public ChatTemplateRenderer(string source)
    {
        Source = source;
        template = JinjaTemplate.Parse(source);
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>Renders the conversation; a template error (e.g. <c>raise_exception</c>) throws <see cref="JinjaException"/>.</summary>
    public string Render(ChatRenderInput input, RenderLimits? limits = null)
    {
        if (input.ContinueFinalMessage && input.AddGenerationPrompt)
            throw new ArgumentException("continue_final_message and add_generation_prompt are not compatible: set add_generation_prompt to false to continue the final message");
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = PyJson.FromJson(input.Messages),
            ["tools"] = input.Tools is { } tools ? PyJson.FromJson(tools) : null,
            ["documents"] = null,
            ["add_generation_prompt"] = input.AddGenerationPrompt,
        };
        if (input.BosToken is not null) vars["bos_token"] = input.BosToken;
        if (input.EosToken is not null) vars["eos_token"] = input.EosToken;
        if (input.DateString is not null) vars["date_string"] = input.DateString;
        if (input.Extra is not null)
            foreach (var kv in input.Extra) vars[kv.Key] = PyJson.FromJson(kv.Value);
        string text = template.Render(vars, input.Now, limits);
        return input.ContinueFinalMessage ? CutAfterFinalMessage(text, input.Messages) : text;
    }

    /// <summary>transformers' continue_final_message: keep the text up to the end of the final message's content.</summary>
    static string CutAfterFinalMessage(string rendered, JsonElement messages)
    {
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw new ArgumentException("continue_final_message needs at least one message");
        var content = messages[messages.GetArrayLength() - 1].TryGetProperty("content", out var c) ? c : default;
        string? final = content.ValueKind switch
        {
            JsonValueKind.String => content.GetString(),
            JsonValueKind.Array => content.EnumerateArray().Reverse()
                .Select(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null)
                .FirstOrDefault(t => t is not null),
            _ => null,
        };
        if (final is null) throw new ArgumentException("continue_final_message is set but the final message has no text to continue");
        string stripped = PyStr.Strip(final, null, true, true);
        int at = rendered.LastIndexOf(stripped, StringComparison.Ordinal);
        if (at < 0) throw new ArgumentException("continue_final_message is set but the final message does not appear in the chat after applying the chat template");
        int keep = PyStr.Strip(final, null, true, false).Length;
        // transformers keeps the message's trailing whitespace when the template kept it, else cuts after the stripped text.
        bool spacingKept = rendered.Substring(at, Math.Min(keep, rendered.Length - at)) == final;
        return rendered[..(at + (spacingKept ? keep : stripped.Length))];
    }
}
