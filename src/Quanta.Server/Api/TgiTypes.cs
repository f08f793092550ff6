using System.Text.Json.Serialization;

namespace Quanta.Server.Api;

// Wire types of TGI's router (field names are snake_case through the serializer options).

internal sealed record GenerateParameters
{
    public int? BestOf { get; init; }
    public float? Temperature { get; init; }
    public float? RepetitionPenalty { get; init; }
    public float? FrequencyPenalty { get; init; }
    public int? TopK { get; init; }
    public float? TopP { get; init; }
    public float? TypicalP { get; init; }
    public bool DoSample { get; init; }
    public int? MaxNewTokens { get; init; }
    public bool? ReturnFullText { get; init; }
    public List<string> Stop { get; init; } = [];
    public int? Truncate { get; init; }
    public bool Watermark { get; init; }
    public ulong? Seed { get; init; }
    public bool Details { get; init; }
    public bool DecoderInputDetails { get; init; }
    public int? TopNTokens { get; init; }
    // Quanta extensions (the OpenAI routes map onto these as well).
    public bool IgnoreEos { get; init; }
    public float? PresencePenalty { get; init; }
    /// <summary>Stop strings the chat template adds (not counted against max_stop_sequences).</summary>
    [JsonIgnore] public IReadOnlyList<string> TemplateStops { get; init; } = [];
}

internal sealed record GenerateRequest
{
    public required string Inputs { get; init; }
    public GenerateParameters Parameters { get; init; } = new();
    /// <summary>Only read by POST / (TGI's CompatGenerateRequest).</summary>
    public bool Stream { get; init; }
}

internal sealed record TokenDto(int Id, string Text, float? Logprob, bool Special);

internal sealed record PrefillTokenDto(int Id, string Text, float? Logprob);

internal sealed record SimpleTokenDto(int Id, string Text, int Start, int Stop);

internal sealed record BestOfSequenceDto(
    string GeneratedText, string FinishReason, int GeneratedTokens, ulong? Seed,
    List<PrefillTokenDto> Prefill, List<TokenDto> Tokens,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<List<TokenDto>>? TopTokens);

internal sealed record DetailsDto(
    string FinishReason, int GeneratedTokens, ulong? Seed,
    List<PrefillTokenDto> Prefill, List<TokenDto> Tokens,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<BestOfSequenceDto>? BestOfSequences,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<List<TokenDto>>? TopTokens);

internal sealed record GenerateResponse(
    string GeneratedText,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DetailsDto? Details);

internal sealed record StreamDetailsDto(string FinishReason, int GeneratedTokens, ulong? Seed, int InputLength);

internal sealed record StreamResponse(
    int Index, TokenDto Token,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<TokenDto>? TopTokens,
    string? GeneratedText, StreamDetailsDto? Details);

internal sealed record ErrorResponse(string Error, string ErrorType);
