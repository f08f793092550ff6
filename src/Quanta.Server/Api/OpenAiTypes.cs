using System.Text.Json;
using System.Text.Json.Serialization;

namespace Quanta.Server.Api;

// OpenAI-compatible wire types (snake_case through the serializer options).

internal sealed record StreamOptions(bool IncludeUsage);

internal record OpenAiSampling
{
    public string? Model { get; init; }
    public int? MaxTokens { get; init; }
    public int? MaxCompletionTokens { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public ulong? Seed { get; init; }
    public List<string>? Stop { get; init; }
    public bool Stream { get; init; }
    public StreamOptions? StreamOptions { get; init; }
    public int? N { get; init; }
    public float? FrequencyPenalty { get; init; }
    public float? PresencePenalty { get; init; }
    public float? RepetitionPenalty { get; init; }
    public bool IgnoreEos { get; init; }
    public int? MinTokens { get; init; }
    /// <summary>{"type": "text" | "json_object" | "json_schema", ...} (see <see cref="GrammarParams"/>).</summary>
    public JsonElement? ResponseFormat { get; init; }
}

/// <summary>One prompt of /v1/completions: text, or token ids used as they are.</summary>
internal sealed record PromptInput(string? Text, int[]? Ids);

internal sealed record CompletionRequest : OpenAiSampling
{
    /// <summary>A string, a list of strings, a list of token ids, or a list of lists of token ids.</summary>
    [JsonConverter(typeof(PromptListConverter))]
    public required List<PromptInput> Prompt { get; init; }
    public bool Echo { get; init; }
    /// <summary>Alternatives reported per token (0-5); null = no logprobs.</summary>
    public int? Logprobs { get; init; }
}

internal sealed record ChatRequest : OpenAiSampling
{
    /// <summary>OpenAI messages, kept whole (tool_calls, tool_call_id, name...) for the chat template.</summary>
    public required List<JsonElement> Messages { get; init; }
    public JsonElement? Tools { get; init; }
    public JsonElement? ToolChoice { get; init; }
    public bool? ParallelToolCalls { get; init; }
    /// <summary>Default: true, unless continue_final_message.</summary>
    public bool? AddGenerationPrompt { get; init; }
    public bool ContinueFinalMessage { get; init; }
    public Dictionary<string, JsonElement>? ChatTemplateKwargs { get; init; }
    public bool Logprobs { get; init; }
    public int? TopLogprobs { get; init; }
}

internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>Completions' logprobs: per token its text, logprob, alternatives (text -> logprob) and character offset.</summary>
internal sealed record CompletionLogprobs(
    List<string> Tokens, List<float?> TokenLogprobs, List<Dictionary<string, float?>>? TopLogprobs, List<int> TextOffset);

internal sealed record CompletionChoice(int Index, string Text, CompletionLogprobs? Logprobs, string? FinishReason);

internal sealed record CompletionResponse(
    string Id, string Object, long Created, string Model, string SystemFingerprint,
    List<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

/// <summary>Chat's logprobs: one entry per token of the content.</summary>
internal sealed record ChatLogprobs(List<ChatTokenLogprob> Content);

internal sealed record ChatTokenLogprob(string Token, float? Logprob, int[] Bytes, List<ChatTopLogprob> TopLogprobs);

internal sealed record ChatTopLogprob(string Token, float? Logprob, int[] Bytes);

/// <summary>The answer: its content (null when it is only tool calls) and the calls read from it.</summary>
internal sealed record AssistantMessage(
    string Role, string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<Tools.ToolCallWire>? ToolCalls = null);

internal sealed record ChatChoice(int Index, AssistantMessage Message, ChatLogprobs? Logprobs, string FinishReason);

internal sealed record ChatResponse(
    string Id, string Object, long Created, string Model, string SystemFingerprint, List<ChatChoice> Choices, Usage Usage);

/// <summary>A streamed delta: the role in a choice's first chunk only, the content or tool calls in the others.</summary>
internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<Tools.ToolCallDelta>? ToolCalls = null);

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, ChatLogprobs? Logprobs, string? FinishReason);

internal sealed record ChatChunk(
    string Id, string Object, long Created, string Model, string SystemFingerprint,
    List<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

internal sealed record ModelCard(string Id, string Object, long Created, string OwnedBy);

internal sealed record ModelList(string Object, List<ModelCard> Data);

/// <summary>Reads OpenAI's four prompt forms: "x", ["x", "y"], [1, 2], [[1, 2], [3]].</summary>
internal sealed class PromptListConverter : JsonConverter<List<PromptInput>>
{
    public override List<PromptInput> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String) return [new PromptInput(reader.GetString()!, null)];
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException(Expected);
        var prompts = new List<PromptInput>();
        List<int>? ids = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.String when ids is null: prompts.Add(new PromptInput(reader.GetString()!, null)); break;
                case JsonTokenType.Number when prompts.Count == 0: (ids ??= []).Add(Id(ref reader)); break;
                case JsonTokenType.StartArray when ids is null: prompts.Add(new PromptInput(null, ReadIds(ref reader))); break;
                default: throw new JsonException(Expected);
            }
        }
        if (ids is not null) prompts.Add(new PromptInput(null, [.. ids]));
        return prompts;
    }

    const string Expected = "expected a string, an array of strings, an array of token ids or an array of arrays of token ids";

    static int[] ReadIds(ref Utf8JsonReader reader)
    {
        var ids = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number) throw new JsonException(Expected);
            ids.Add(Id(ref reader));
        }
        return [.. ids];
    }

    static int Id(ref Utf8JsonReader reader) => reader.TryGetInt32(out int id) && id >= 0 ? id : throw new JsonException("token ids must be integers >= 0");

    public override void Write(Utf8JsonWriter writer, List<PromptInput> value, JsonSerializerOptions options)
        => throw new NotSupportedException("prompts are only read");
}
