using System.Threading.Channels;
using Quanta.Grammar;

namespace Quanta.Engine;

/// <summary>How tokens are chosen and when generation stops (TGI's parameters after validation).</summary>
public sealed record SamplingParams
{
    public bool DoSample { get; init; }              // false = greedy (unless Temperature > 0 given by CLI)
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

    /// <summary>When the engine emitted the token (<see cref="System.Diagnostics.Stopwatch"/> ticks), for latency stats read later.</summary>
    public long Timestamp { get; init; } = System.Diagnostics.Stopwatch.GetTimestamp();
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
    /// <summary>Token ids that end a generation (EosToken): the config's EOS ids and the tokenizer's.</summary>
    IReadOnlySet<int> EosIds { get; }
}
