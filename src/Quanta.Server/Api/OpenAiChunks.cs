using Quanta.Engine;

namespace Quanta.Server.Api;

/// <summary>The fixed parts of one OpenAI reply (id, created, model) and the bodies built from them: chunks, usage, logprobs.</summary>
internal sealed class Reply(OpenAiJob job, ServerState s, int promptTokens)
{
    public OpenAiJob Job => job;
    public string Id { get; } = (job.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    public string Fingerprint => "quanta-" + QuantaServer.Version;

    /// <summary>Prompt tokens count once per prompt, whatever n; completion tokens are every choice's.</summary>
    public Usage Usage(int completionTokens) => new(promptTokens, completionTokens, promptTokens + completionTokens);

    /// <summary>One choice's chunk: the role (chat) or echoed prompt first, then text with its tokens' logprobs.</summary>
    public object Chunk(int choice, string? text, bool role, IReadOnlyList<TokenGenerated>? tokens, string? finish, int offset = 0)
        => job.Chat
            ? new ChatChunk(Id, "chat.completion.chunk", Created, s.Model.ModelId, Fingerprint,
                [new ChatChunkChoice(choice, new ChatDelta(role ? "assistant" : null, text), tokens is null ? null : ChatLogprobs(tokens), finish)], null)
            : new CompletionResponse(Id, "text_completion", Created, s.Model.ModelId, Fingerprint,
                [new CompletionChoice(choice, text ?? "", tokens is null ? null : CompletionLogprobs(tokens, offset), finish)], null);

    /// <summary>A chat chunk carrying tool calls (see <see cref="Tools.ToolStream"/>).</summary>
    public ChatChunk ToolChunk(int choice, List<Tools.ToolCallDelta> calls, IReadOnlyList<TokenGenerated>? tokens)
        => new(Id, "chat.completion.chunk", Created, s.Model.ModelId, Fingerprint,
            [new ChatChunkChoice(choice, new ChatDelta(null, null, calls), tokens is null ? null : ChatLogprobs(tokens), null)], null);

    /// <summary>stream_options.include_usage: the last chunk, with no choices.</summary>
    public object UsageChunk(int completionTokens) => job.Chat
        ? new ChatChunk(Id, "chat.completion.chunk", Created, s.Model.ModelId, Fingerprint, [], Usage(completionTokens))
        : new CompletionResponse(Id, "text_completion", Created, s.Model.ModelId, Fingerprint, [], Usage(completionTokens));

    /// <summary>Chat's logprobs.content: each generated token (special ones left out) with its alternatives.</summary>
    public ChatLogprobs? ChatLogprobs(IReadOnlyList<TokenGenerated> tokens)
    {
        if (!job.Logprobs) return null;
        var content = new List<ChatTokenLogprob>();
        foreach (var t in tokens)
        {
            if (t.Token.Special) continue;
            var tops = t.TopTokens.Where(x => x.Id >= 0).Select(x => new ChatTopLogprob(x.Text, Json.Finite(x.Logprob), Bytes(x.Id))).ToList();
            content.Add(new ChatTokenLogprob(t.Token.Text, Json.Finite(t.Token.Logprob), Bytes(t.Token.Id), tops));
        }
        return new ChatLogprobs(content);
    }

    /// <summary>Completions' logprobs: tokens, their logprobs, alternatives and where each starts in the text (after <paramref name="offset"/>).</summary>
    public CompletionLogprobs? CompletionLogprobs(IReadOnlyList<TokenGenerated> tokens, int offset)
    {
        if (!job.Logprobs) return null;
        var result = new CompletionLogprobs([], [], job.Params.TopNTokens > 0 ? [] : null, []);
        foreach (var t in tokens)
        {
            if (t.Token.Special) continue;
            result.Tokens.Add(t.Token.Text);
            result.TokenLogprobs.Add(Json.Finite(t.Token.Logprob));
            result.TextOffset.Add(offset);
            offset += t.TextDelta.Length;
            if (result.TopLogprobs is { } tops)
            {
                var alternatives = new Dictionary<string, float?>();
                foreach (var x in t.TopTokens) if (x.Id >= 0) alternatives.TryAdd(x.Text, Json.Finite(x.Logprob));
                tops.Add(alternatives);
            }
        }
        return result;
    }

    int[] Bytes(int id)
    {
        var bytes = s.Model.Tokenizer.TokenBytes(id);
        var ints = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) ints[i] = bytes[i];
        return ints;
    }
}
