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

/// <summary>Runs validated requests through the engine; the only place that reads engine events.</summary>
internal sealed class Generator(IEngine engine, ServerMetrics metrics)
{
    ChannelReader<GenerationEvent> Submit(ValidRequest r, CancellationToken ct)
    {
        metrics.InputLength.Observe(r.InputLength);
        metrics.MaxNewTokens.Observe(r.Params.MaxNewTokens);
        return engine.Submit(new GenerationRequest
        {
            PromptIds = r.PromptIds,
            Params = r.Params,
            PromptLogprobs = r.DecoderInputDetails,
            Cancellation = ct,
        });
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
    /// Streams tokens as they come. The engine marks the last token (<see cref="TokenGenerated.IsLast"/>); it goes out
    /// with the <see cref="GenerationFinished"/> that follows it in the same step, so the final event carries it, as TGI's does.
    /// </summary>
    public async IAsyncEnumerable<StreamItem> StreamAsync(ValidRequest r, [EnumeratorCancellation] CancellationToken ct)
    {
        TokenGenerated? last = null;
        int index = 0;
        await foreach (var ev in Submit(r, ct).ReadAllAsync(ct))
        {
            switch (ev)
            {
                case TokenGenerated { IsLast: true } t:
                    last = t;
                    break;
                case TokenGenerated t:
                    yield return new StreamItem(++index, t, null);
                    break;
                case GenerationFinished f when last is not null:
                    yield return new StreamItem(++index, last, f);
                    yield break;
                case GenerationFinished:
                    ct.ThrowIfCancellationRequested();   // cancelled: the client is gone
                    throw Incomplete();
                case GenerationFailed e:
                    throw Failed(e);
            }
        }
        throw Incomplete();
    }

    /// <summary>Records a finished generation in the request's record and the histograms (the guard counts the success).</summary>
    public void Succeeded(RequestRecord record, GenerationFinished f)
    {
        record.Succeeded = true;
        record.QueueTime = f.QueueTime;
        metrics.Duration.Observe(record.Total.TotalSeconds);
        metrics.ValidationDuration.Observe(record.Validation.TotalSeconds);
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
