using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Quanta.Engine;

namespace Quanta.Server.Api;

/// <summary>OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions.</summary>
internal static class OpenAiEndpoints
{
    public static void Map(WebApplication app, ServerState s)
    {
        app.MapGet("/v1/models", () => Results.Json(
            new ModelList("list", [new ModelCard(s.Model.ModelId, "model", Created(), "quanta")]), Json.Options));

        app.MapPost("/v1/completions", async (HttpContext ctx) =>
        {
            var req = await Json.ReadBodyAsync<CompletionRequest>(ctx.Request, ctx.RequestAborted);
            if (req.Prompt.Count != 1) throw ApiException.Validation($"`prompt` must be one string. Given: {req.Prompt.Count}");
            var p = ToParameters(req, []) with { ReturnFullText = req.Echo };
            await Run(ctx, s, req, req.Prompt[0], p, promptIds: null, chat: false);
        });

        app.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            var req = await Json.ReadBodyAsync<ChatRequest>(ctx.Request, ctx.RequestAborted);
            var chat = Chat.ChatRoute.Prepare(req, s);
            var p = ToParameters(req, chat.Stops);
            await Run(ctx, s, req, chat.Text, p, chat.Ids, chat: true);
        });
    }

    static async Task Run(HttpContext ctx, ServerState s, OpenAiSampling req, string inputs, GenerateParameters p, int[]? promptIds, bool chat)
    {
        var clock = new RequestClock();
        s.Metrics.RequestCount.Inc();
        using var slot = s.Acquire();
        if (req.N is { } n && n != 1) throw ApiException.Validation($"`n` must be 1. Given: {n}");
        var r = s.Validator.Validate(inputs, p, req.Stream, promptIds);
        clock.Validated();
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        long created = Created();
        string model = s.Model.ModelId, fingerprint = "quanta-" + QuantaServer.Version;
        if (!req.Stream)
        {
            var f = (await s.Generator.CompleteAsync(r, ctx.RequestAborted))[0].Finished;
            s.Generator.Succeeded(clock, f);
            TgiEndpoints.SetTimingHeaders(ctx.Response, s, clock, r, f);
            var usage = new Usage(r.InputLength, f.GeneratedTokens, r.InputLength + f.GeneratedTokens);
            string text = r.ReturnFullText ? r.Inputs + f.GeneratedText : f.GeneratedText;
            object body = chat
                ? new ChatResponse(id, "chat.completion", created, model, fingerprint,
                    [new ChatChoice(0, new AssistantMessage("assistant", text), null, Reason(f.Reason))], usage)
                : new CompletionResponse(id, "text_completion", created, model, fingerprint,
                    [new CompletionChoice(0, text, null, Reason(f.Reason))], usage);
            await Results.Json(body, Json.Options).ExecuteAsync(ctx);
            return;
        }

        ctx.Response.Headers["x-compute-type"] = s.ComputeType;
        var sse = Sse.Start(ctx.Response, "data: ");
        try
        {
            if (r.ReturnFullText) await WriteChunk(r.Inputs, null, null);
            await foreach (var item in s.Generator.StreamAsync(r, ctx.RequestAborted))
            {
                var f = item.Finished;
                Usage? usage = f is null ? null : new Usage(r.InputLength, f.GeneratedTokens, r.InputLength + f.GeneratedTokens);
                await WriteChunk(item.Token.TextDelta, f is null ? null : Reason(f.Reason), usage);
                if (f is not null) s.Generator.Succeeded(clock, f);
            }
        }
        catch (ApiException e)
        {
            s.Metrics.Failure(e.ErrorType);
            await sse.WriteAsync(new ErrorResponse(e.Message, e.ErrorType), ctx.RequestAborted);
        }
        await sse.WriteRawAsync("[DONE]", ctx.RequestAborted);

        Task WriteChunk(string delta, string? finish, Usage? usage) => chat
            ? sse.WriteAsync(new ChatChunk(id, "chat.completion.chunk", created, model, fingerprint,
                [new ChatChunkChoice(0, new ChatDelta("assistant", delta), null, finish)], usage), ctx.RequestAborted)
            : sse.WriteAsync(new CompletionResponse(id, "text_completion", created, model, fingerprint,
                [new CompletionChoice(0, delta, null, finish)], usage), ctx.RequestAborted);
    }

    /// <summary>OpenAI semantics on TGI parameters: temperature 0 is greedy, no temperature samples at 1, top_p 1 is off.</summary>
    static GenerateParameters ToParameters(OpenAiSampling q, IReadOnlyList<string> extraStops)
    {
        int? maxTokens = q.MaxTokens ?? q.MaxCompletionTokens;
        bool ignoreEos = q.IgnoreEos;
        if (q.MinTokens is > 0 and var min)
        {
            if (maxTokens is not { } max || min < max)
                throw ApiException.Validation("`min_tokens` is only supported equal to `max_tokens` (it then ignores EOS)");
            ignoreEos = true;
        }
        bool greedy = q.Temperature == 0f;
        return new GenerateParameters
        {
            DoSample = !greedy,
            Temperature = greedy ? null : q.Temperature,
            TopP = q.TopP is >= 1f ? null : q.TopP,
            TopK = q.TopK,
            Seed = q.Seed,
            MaxNewTokens = maxTokens,
            Stop = q.Stop ?? [],
            TemplateStops = extraStops,
            FrequencyPenalty = q.FrequencyPenalty,
            RepetitionPenalty = q.RepetitionPenalty,
            IgnoreEos = ignoreEos,
            Details = false,
        };
    }

    static string Reason(FinishReason r) => r == FinishReason.Length ? "length" : "stop";

    static long Created() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
