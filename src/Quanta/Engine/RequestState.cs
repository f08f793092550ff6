using System.Threading.Channels;

namespace Quanta.Engine;

/// <summary>Engine-side state of one request: its sequence, sampler, detokenizer and event channel.</summary>
internal sealed class RequestState(GenerationRequest request, Sequence seq, SamplerState sampler, TextStreamer streamer,
                                   Channel<GenerationEvent> events, IReadOnlyList<TokenInfo> prefill)
{
    public GenerationRequest Request { get; } = request;
    public Sequence Seq { get; } = seq;
    public SamplerState Sampler { get; } = sampler;
    public TextStreamer Streamer { get; } = streamer;
    public Channel<GenerationEvent> Events { get; } = events;
    /// <summary>[prompt] prompt tokens: a TokenInfo[] whose logprobs are filled in during prefill when asked, else <see cref="PromptTokens"/>.</summary>
    public IReadOnlyList<TokenInfo> Prefill { get; } = prefill;
    /// <summary>The prefill tokens to fill in with logprobs (only when the request asked for them).</summary>
    public TokenInfo[] PrefillLogprobs => (TokenInfo[])Prefill;
    public DateTime? FirstScheduledUtc { get; set; }
    /// <summary>Output rows of this step's logits: first row and count.</summary>
    public int LogitRow, LogitRows;
    /// <summary>This step's rows are every chunk position's logits, for prompt logprobs.</summary>
    public bool PromptLogitRows;
}
