using System.Text.Json;
using Quanta.Server.Api.Tools;

namespace Quanta.Server.Api.Chat;

/// <summary>
/// A chat request turned into prompt tokens: the ids, their text, the template's extra stop strings, and what its
/// tool fields ask for.
/// </summary>
internal sealed record PreparedChat(int[] Ids, string Text, IReadOnlyList<string> Stops, ToolPlan Tools);

/// <summary>The chat-template step of <c>/v1/chat/completions</c>.</summary>
internal static class ChatRoute
{
    public static PreparedChat Prepare(ChatRequest req, ServerState s)
    {
        // System.Text.Json checks a string's UTF-8 only when it is read: invalid text is the client's error.
        try { return PrepareValid(req, s); }
        catch (InvalidOperationException e) when (e.Message.Contains("UTF-8", StringComparison.OrdinalIgnoreCase) || e.InnerException is System.Text.DecoderFallbackException)
        { throw ApiException.Validation("`messages` must be valid UTF-8 text"); }
    }

    static PreparedChat PrepareValid(ChatRequest req, ServerState s)
    {
        // A huge message is refused from its length before it is copied, rendered or tokenized.
        foreach (var m in req.Messages)
            if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
                s.Validator.CheckLength(c.GetString()!);
        var tools = ToolPlan.From(req, s.Chat);
        var prompt = ChatPrompt.From(req, tools.TemplateTools);
        var tok = s.Model.Tokenizer;
        if (s.Chat is JinjaChatTemplate jinja)
        {
            string text = jinja.Render(prompt, tok);
            s.Validator.CheckLength(text);
            return new PreparedChat(JinjaChatTemplate.EncodeRendered(text, tok), text, jinja.Stops, tools);
        }
        s.Validator.CheckLength(string.Concat(prompt.PlainMessages().Select(m => m.Content)));
        var ids = s.Chat.Encode(prompt, tok);
        return new PreparedChat(ids, tok.Decode(ids, skipSpecial: false), s.Chat.Stops, tools);
    }
}
