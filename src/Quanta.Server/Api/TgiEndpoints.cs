using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Quanta.Engine;
using Quanta.Model;
using Quanta.Tokenization;

namespace Quanta.Server.Api;

/// <summary>TGI's routes: /generate, /generate_stream, /, /tokenize.</summary>
internal static class TgiEndpoints
{
    public static void Map(WebApplication app, ServerState s)
    {
        app.MapPost("/generate", (HttpContext ctx) => Generate(ctx, s, wrapInArray: false)).WithMetadata(GenerationRoute.Marker);
        app.MapPost("/generate_stream", async (HttpContext ctx) =>
        {
            var body = await Json.ReadBodyAsync<GenerateRequest>(ctx.Request, ctx.RequestAborted);
            await Stream(ctx, s, body);
        }).WithMetadata(GenerationRoute.Marker);
        app.MapPost("/", async (HttpContext ctx) =>
        {
            var body = await Json.ReadBodyAsync<GenerateRequest>(ctx.Request, ctx.RequestAborted);
            if (body.Stream) await Stream(ctx, s, body);
            else await Generate(ctx, s, wrapInArray: true, body);
        }).WithMetadata(GenerationRoute.Marker);
        app.MapPost("/tokenize", async (HttpContext ctx) =>
        {
            var body = await Json.ReadBodyAsync<GenerateRequest>(ctx.Request, ctx.RequestAborted);
            return Results.Json(Tokenize(s, body), Json.Options);
        });
    }

    static async Task Generate(HttpContext ctx, ServerState s, bool wrapInArray, GenerateRequest? body = null)
    {
        var record = RequestRecord.Of(ctx);
        using var slot = s.Acquire();
        body ??= await Json.ReadBodyAsync<GenerateRequest>(ctx.Request, ctx.RequestAborted);
        var r = s.Validator.Validate(body.Inputs, body.Parameters, stream: false);
        record.Validated(r.InputLength);
        var results = await s.Generator.CompleteAsync(r, ctx.RequestAborted);
        var best = results[0];
        var f = best.Finished;
        s.Generator.Succeeded(record, f);
        record.GeneratedTokens = f.GeneratedTokens;

        var text = r.ReturnFullText ? r.Inputs + f.Text : f.Text;
        DetailsDto? details = null;
        if (r.Details)
        {
            var others = results.Skip(1).Select(c => new BestOfSequenceDto(
                c.Finished.Text, c.Finished.Reason.TgiName(), c.Finished.GeneratedTokens,
                Seed(r, c.Finished), Prefill(r, c.Finished), Tokens(c), TopTokens(r, c))).ToList();
            details = new DetailsDto(f.Reason.TgiName(), f.GeneratedTokens, Seed(r, f),
                Prefill(r, f), Tokens(best), r.BestOf > 1 ? others : null, TopTokens(r, best));
        }
        SetTimingHeaders(ctx.Response, s, record, r, f);
        var response = new GenerateResponse(text, details);
        await Results.Json(wrapInArray ? new[] { response } : (object)response, Json.Options).ExecuteAsync(ctx);
    }

    /// <summary>
    /// TGI's /generate_stream: a body that parses always gets a 200 event stream; a validation error or an overload
    /// (no free slot) is its one event, {"error", "error_type"}. Draining and an unhealthy engine stay HTTP 503.
    /// </summary>
    static async Task Stream(HttpContext ctx, ServerState s, GenerateRequest body)
    {
        var record = RequestRecord.Of(ctx);
        ctx.Response.Headers["x-compute-type"] = s.ComputeType;
        ServerState.Slot? slot = null;
        ValidRequest r;
        try
        {
            slot = s.Acquire();
            r = s.Validator.Validate(body.Inputs, body.Parameters, stream: true);
        }
        catch (ApiException e) when (e.ErrorType is "validation" or "overloaded")
        {
            slot?.Dispose();
            record.Fail(e.ErrorType, e.Message);
            await Sse.Start(ctx.Response, "data:").WriteAsync(new ErrorResponse(e.Message, e.ErrorType), ctx.RequestAborted);
            return;
        }
        using var _ = slot;
        record.Validated(r.InputLength);
        var sse = Sse.Start(ctx.Response, "data:");
        try
        {
            await foreach (var item in s.Generator.StreamAsync(r, ctx.RequestAborted))
            {
                var t = item.Token;
                var tops = r.Params.TopNTokens > 0 ? t.TopTokens.Select(ToDto).ToList() : null;
                var f = item.Finished;
                StreamResponse ev = f is null
                    ? new StreamResponse(item.Index, ToDto(t.Token), tops, null, null)
                    : new StreamResponse(item.Index, ToDto(t.Token), tops,
                        r.ReturnFullText ? r.Inputs + f.Text : f.Text,
                        r.Details ? new StreamDetailsDto(f.Reason.TgiName(), f.GeneratedTokens, Seed(r, f), r.InputLength) : null);
                if (f is not null) s.Generator.Succeeded(record, f);
                record.GeneratedTokens = item.Index;
                await sse.WriteAsync(ev, ctx.RequestAborted);
            }
        }
        catch (ApiException e)
        {
            record.Fail(e.ErrorType, e.Message);
            await sse.WriteAsync(new ErrorResponse(e.Message, e.ErrorType), ctx.RequestAborted);
        }
    }

    internal static void SetTimingHeaders(HttpResponse res, ServerState s, RequestRecord record, ValidRequest r, GenerationFinished f)
    {
        static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        var h = res.Headers;
        h["x-compute-type"] = s.ComputeType;
        h["x-compute-time"] = Ms(record.Total);
        h["x-compute-characters"] = r.Inputs.Length.ToString(CultureInfo.InvariantCulture);
        h["x-total-time"] = Ms(record.Total);
        h["x-validation-time"] = Ms(record.Validation);
        h["x-queue-time"] = Ms(f.QueueTime);
        h["x-inference-time"] = Ms(f.InferenceTime);
        h["x-time-per-token"] = Ms(f.GeneratedTokens > 0 ? f.InferenceTime / f.GeneratedTokens : TimeSpan.Zero);
        h["x-prompt-tokens"] = r.InputLength.ToString(CultureInfo.InvariantCulture);
        h["x-generated-tokens"] = f.GeneratedTokens.ToString(CultureInfo.InvariantCulture);
        h["x-total-tokens"] = (r.InputLength + f.GeneratedTokens).ToString(CultureInfo.InvariantCulture);
    }

    static ulong? Seed(ValidRequest r, GenerationFinished f) => r.Params.DoSample ? f.Seed : null;

    static List<PrefillTokenDto> Prefill(ValidRequest r, GenerationFinished f)
        => r.DecoderInputDetails ? f.Prefill.Select(t => new PrefillTokenDto(t.Id, t.Text, Json.Finite(t.Logprob))).ToList() : [];

    static List<TokenDto> Tokens(Completed c) => c.Tokens.Select(t => ToDto(t.Token)).ToList();

    static List<List<TokenDto>>? TopTokens(ValidRequest r, Completed c)
        => r.Params.TopNTokens > 0 ? c.Tokens.Select(t => t.TopTokens.Select(ToDto).ToList()).ToList() : null;

    internal static TokenDto ToDto(TokenInfo t) => new(t.Id, t.Text, Json.Finite(t.Logprob), t.Special);

    /// <summary>/tokenize answers for prompts that could fit max_input_tokens (its work and its reply stay bounded).</summary>
    static List<SimpleTokenDto> Tokenize(ServerState s, GenerateRequest body)
    {
        s.Validator.CheckLength(body.Inputs);
        return Tokenize(s.Model.Tokenizer, body.Inputs);
    }

    /// <summary>
    /// TGI's /tokenize: ids with character offsets into the input (the BOS token spans nothing). A token ends
    /// where the decode of the ids up to it ends, clamped to the input; one streaming pass gives each of those lengths.
    /// </summary>
    internal static List<SimpleTokenDto> Tokenize(ITokenizer tok, string inputs)
    {
        var ids = tok.Encode(inputs, addBos: true);
        var list = new List<SimpleTokenDto>(ids.Length);
        var decoder = new StreamingDecoder(tok);
        int decoded = 0, start = 0;   // decoded: complete characters of the ids so far
        for (int i = 0; i < ids.Length; i++)
        {
            decoded += decoder.Push(ids[i]).Length;
            int stop = Math.Clamp(decoded + decoder.PendingLength, start, inputs.Length);
            if (tok.IsSpecial(ids[i])) stop = start;
            list.Add(new SimpleTokenDto(ids[i], inputs[start..stop], start, stop));
            start = stop;
        }
        return list;
    }
}
