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
    public float? RepetitionPenalty { get; init; }
    public bool IgnoreEos { get; init; }
    public int? MinTokens { get; init; }
}

internal sealed record CompletionRequest : OpenAiSampling
{
    public required List<string> Prompt { get; init; }
    public bool Echo { get; init; }
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
}

internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

internal sealed record CompletionChoice(int Index, string Text, object? Logprobs, string? FinishReason);

internal sealed record CompletionResponse(
    string Id, string Object, long Created, string Model, string SystemFingerprint,
    List<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

internal sealed record AssistantMessage(string Role, string Content);

internal sealed record ChatChoice(int Index, AssistantMessage Message, object? Logprobs, string FinishReason);

internal sealed record ChatResponse(
    string Id, string Object, long Created, string Model, string SystemFingerprint, List<ChatChoice> Choices, Usage Usage);

internal sealed record ChatDelta(string Role, string Content);

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, object? Logprobs, string? FinishReason);

internal sealed record ChatChunk(
    string Id, string Object, long Created, string Model, string SystemFingerprint,
    List<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

internal sealed record ModelCard(string Id, string Object, long Created, string OwnedBy);

internal sealed record ModelList(string Object, List<ModelCard> Data);
