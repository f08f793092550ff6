using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Quanta.Engine;

namespace Quanta.Server.Api;

/// <summary>A finished generation: its tokens in order and the engine's final event.</summary>
internal sealed record Completed(List<TokenGenerated> Tokens, GenerationFinished Finished)
{
    public double SumLogprob => Tokens.Sum(t => float.IsFinite(t.Token.Logprob) ? t.Token.Logprob : 0f);
}

/// <summary>
/// One streamed token; <see cref="Finished"/> is set on the last one only.
/// </summary>
internal sealed record StreamItem(int Index, TokenGenerated Token, GenerationFinished? Finished);

/// <summary>Per-request clock for TGI's timing headers and histograms.</summary>
internal sealed class RequestClock
{
    readonly Stopwatch _sw = Stopwatch.StartNew();
    public TimeSpan Validation { get; private set; }
    public void Validated() => Validation = _sw.Elapsed;
    public TimeSpan Total => _sw.Elapsed;
}

/// <summary>Runs validated requests through the engine; the only place that reads engine events.</summary>
internal sealed class Generator(IEngine engine, ServerMetrics metrics)
{
    ChannelReader<GenerationEvent> Submit(ValidRequest r, CancellationToken ct)
    {
        metrics.InputLength.Observe(r.InputLength);
        metrics.MaxNewTokens.Observe(r.Params.MaxNewTokens);
        return metrics.Window.Track(engine.Submit(new GenerationRequest
        {
            PromptIds = r.PromptIds,
            Params = r.Params,
            PromptLogprobs = r.DecoderInputDetails,
            Cancellation = ct,
        }));
    }

    /// <summary>Generates to the end; with best_of &gt; 1 runs that many samples and returns the most likely first.</summary>
    public async Task<List<Completed>> CompleteAsync(ValidRequest r, CancellationToken ct)
    {
        var runs = Enumerable.Range(0, r.BestOf).Select(_ => CollectAsync(Submit(r, ct), ct)).ToList();
        var done = (await Task.WhenAll(runs)).ToList();
        return done.OrderByDescending(c => c.SumLogprob).ToList();
    }

    static async Task<Completed> CollectAsync(ChannelReader<GenerationEvent> events, CancellationToken ct)
    {
        var tokens = new List<TokenGenerated>();
        await foreach (var ev in events.ReadAllAsync(ct))
        {
            switch (ev)
            {
                case TokenGenerated t: tokens.Add(t); break;
                case GenerationFinished f: return new Completed(tokens, f);
                case GenerationFailed e: throw Failed(e);
            }
        }
        throw Incomplete();
    }

    /// <summary>
    /// Streams tokens as they come. A token that may be the last one (EOS, the length limit, or any token when
    /// stop sequences are set) is held until the next event so the final event carries it, as TGI's does.
    /// </summary>
    public async IAsyncEnumerable<StreamItem> StreamAsync(ValidRequest r, [EnumeratorCancellation] CancellationToken ct)
    {
        var events = Submit(r, ct);
        TokenGenerated? held = null;
        int index = 0;
        await foreach (var ev in events.ReadAllAsync(ct))
        {
            switch (ev)
            {
                case TokenGenerated t:
                    if (held is not null) yield return new StreamItem(index, held, null);
                    held = null;
                    index++;
                    bool mayBeLast = index >= r.Params.MaxNewTokens || r.Params.Stop.Count > 0
                                     || (!r.Params.IgnoreEos && engine.EosIds.Contains(t.Token.Id));
                    if (mayBeLast) held = t;
                    else yield return new StreamItem(index, t, null);
                    break;
                case GenerationFinished f:
                    if (held is not null) { yield return new StreamItem(index, held, f); yield break; }
                    // The engine finished after a token already sent: close with an empty special token.
                    var closing = new TokenGenerated(new TokenInfo(engine.EosIds.FirstOrDefault(), "", 0f, true), [], "");
                    yield return new StreamItem(index + 1, closing, f);
                    yield break;
                case GenerationFailed e:
                    throw Failed(e);
            }
        }
        throw Incomplete();
    }

    public void Succeeded(RequestClock clock, GenerationFinished f)
    {
        metrics.RequestSuccess.Inc();
        metrics.Duration.Observe(clock.Total.TotalSeconds);
        metrics.ValidationDuration.Observe(clock.Validation.TotalSeconds);
        metrics.QueueDuration.Observe(f.QueueTime.TotalSeconds);
        metrics.InferenceDuration.Observe(f.InferenceTime.TotalSeconds);
        if (f.GeneratedTokens > 0) metrics.TimePerToken.Observe(f.InferenceTime.TotalSeconds / f.GeneratedTokens);
        metrics.GeneratedTokens.Observe(f.GeneratedTokens);
    }

    static ApiException Failed(GenerationFailed e) => e.ErrorType == "validation"
        ? ApiException.Validation(e.Error)
        : new(StatusCodes.Status424FailedDependency, string.IsNullOrEmpty(e.ErrorType) ? "generation" : e.ErrorType, e.Error);

    static ApiException Incomplete()
        => new(StatusCodes.Status500InternalServerError, "incomplete_generation", "Incomplete generation");

}
