using System.Threading.Channels;
using Quanta.Grammar;

namespace Quanta.Engine;

/// <summary>How tokens are chosen and when generation stops (TGI's parameters after validation).</summary>
public sealed record SamplingParams
{
    /// <summary>
    /// Temperatures below this choose greedily, as vLLM does: softmax(logits / T) is then the argmax in float32 but
    /// for near-ties, and logits / T overflows to infinity for T near float's smallest values.
    /// </summary>
    public const float MinSamplingTemperature = 1e-5f;

    readonly bool _doSample;

    /// <summary>Whether the token is drawn (false: greedy); false whenever <see cref="Temperature"/> is below <see cref="MinSamplingTemperature"/>.</summary>
    public bool DoSample { get => _doSample && !(Temperature < MinSamplingTemperature); init => _doSample = value; }
    public float Temperature { get; init; } = 1f;
    public int TopK { get; init; }                   // 0 = off
    public float TopP { get; init; } = 1f;           // 1 = off
    public float TypicalP { get; init; } = 1f;       // 1 = off
    public float RepetitionPenalty { get; init; } = 1f;
    public float FrequencyPenalty { get; init; }
    public float PresencePenalty { get; init; }
    public ulong? Seed { get; init; }                // null = random, reported back
    public int MaxNewTokens { get; init; } = 100;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool IgnoreEos { get; init; }
    public int TopNTokens { get; init; }             // alternatives reported per token
    /// <summary>A JSON Schema or regex the output must follow; null = free text.</summary>
    public GrammarSpec? Grammar { get; init; }
}

public enum FinishReason { Length, EosToken, StopSequence, Cancelled }

public static class FinishReasonNames
{
    /// <summary>TGI's finish_reason: "length", "eos_token", "stop_sequence" ("cancelled" never reaches a client).</summary>
    public static string TgiName(this FinishReason r) => r switch
    {
        FinishReason.Length => "length",
        FinishReason.EosToken => "eos_token",
        FinishReason.StopSequence => "stop_sequence",
        _ => "cancelled",
    };
}

/// <summary>One token as reported to clients (TGI's Token).</summary>
public sealed record TokenInfo(int Id, string Text, float Logprob, bool Special);

/// <summary>A tokenized request entering the engine.</summary>
public sealed class GenerationRequest
{
    public required int[] PromptIds { get; init; }
    public required SamplingParams Params { get; init; }
    /// <summary>Return logprobs of the prompt tokens (TGI decoder_input_details).</summary>
    public bool PromptLogprobs { get; init; }
    public CancellationToken Cancellation { get; init; }
    public DateTime ArrivalUtc { get; init; } = DateTime.UtcNow;
}

public abstract record GenerationEvent;

/// <summary>A generated token; <see cref="TextDelta"/> is the UTF-8-complete text it adds.</summary>
public sealed record TokenGenerated(TokenInfo Token, IReadOnlyList<TokenInfo> TopTokens, string TextDelta) : GenerationEvent
{
    /// <summary>
    /// Characters of the text released so far (the concatenated deltas) that no stop sequence can claim, safe to
    /// print as final: up to a matched stop, less the last longest-stop-minus-one characters.
    /// </summary>
    public int SafeTextLength { get; init; }

    /// <summary>
    /// Set on the last token of a generation: the engine's reason for ending it there (the length limit, EOS, a stop
    /// sequence). Its <see cref="GenerationFinished"/> follows; a cancelled generation ends without such a token.
    /// </summary>
    public FinishReason? FinishReason { get; init; }

    /// <summary>This token ends the generation (see <see cref="FinishReason"/>).</summary>
    public bool IsLast => FinishReason is not null;
}

public sealed record GenerationFinished(
    FinishReason Reason,
    int GeneratedTokens,
    ulong Seed,
    string GeneratedText,                  // stop sequence excluded
    IReadOnlyList<TokenInfo> Prefill,      // prompt tokens (logprob NaN for the first / when not asked)
    TimeSpan QueueTime,                    // arrival -> first scheduled
    TimeSpan InferenceTime,                // first scheduled -> finished
    string Text)                           // all text released, stop sequence kept (TGI's generated_text)
    : GenerationEvent;

public sealed record GenerationFailed(string Error, string ErrorType) : GenerationEvent;

/// <summary>Numbers the server shows in /metrics and /info.</summary>
public sealed record EngineStats(
    int Running, int Waiting, int BatchMaxTokens,
    int KvBlocksTotal, int KvBlocksUsed, int BlockSize,
    long PrefixCacheQueries, long PrefixCacheHits, long Preemptions);

/// <summary>The engine as the HTTP layer sees it: requests in, events out, through channels.</summary>
public interface IEngine : IAsyncDisposable
{
    /// <summary>Queues a request; its events end with GenerationFinished or GenerationFailed.</summary>
    ChannelReader<GenerationEvent> Submit(GenerationRequest request);
    EngineStats Stats { get; }
    bool Healthy { get; }
    int MaxBatchTotalTokens { get; }
    /// <summary>The scheduling options the engine runs with (shown in /info).</summary>
    EngineOptions Options { get; }
}
