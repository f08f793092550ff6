using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Quanta.Server.Api;

/// <summary>
/// OpenAI-compatible routes: /v1/models, /v1/models/{id}, /v1/completions, /v1/chat/completions. Requests become an
/// <see cref="OpenAiJob"/> (prompts, TGI parameters, n) that <see cref="OpenAiReply"/> runs; errors take OpenAI's shape.
/// </summary>
internal static class OpenAiEndpoints
{
    public static void Map(WebApplication app, ServerState s)
    {
        app.MapGet("/v1/models", () => Results.Json(new ModelList("list", [Card(s)]), Json.Options));
        app.MapGet("/v1/models/{id}", (string id) => id == s.Model.ModelId
            ? Results.Json(Card(s), Json.Options)
            : throw new ApiException(StatusCodes.Status404NotFound, "model_not_found", $"The model '{id}' does not exist"));

        app.MapPost("/v1/completions", async (HttpContext ctx) =>
        {
            var req = await Json.ReadBodyAsync<CompletionRequest>(ctx.Request, ctx.RequestAborted);
            if (req.Prompt.Count == 0) throw ApiException.Validation("`prompt` cannot be empty");
            int maxPrompts = s.Options.MaxClientBatchSize;
            if (req.Prompt.Count > maxPrompts)
                throw ApiException.Validation($"`prompt` must hold at most {maxPrompts} prompts (--max-client-batch-size). Given: {req.Prompt.Count}");
            int top = req.Logprobs ?? 0;
            CheckTop("logprobs", top, s);
            var prompts = req.Prompt.Select(x => x.Ids is { } ids
                ? new JobPrompt(s.Model.Tokenizer.Decode(ids), ids)
                : new JobPrompt(x.Text!, null)).ToList();
            var p = ToParameters(req, []) with { ReturnFullText = req.Echo, TopNTokens = top };
            await OpenAiReply.RunAsync(ctx, s, new OpenAiJob(Chat: false, prompts, p, req, req.Logprobs is not null, Tools.ToolPlan.NoTools));
        }).WithMetadata(GenerationRoute.Marker);

        app.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            var req = await Json.ReadBodyAsync<ChatRequest>(ctx.Request, ctx.RequestAborted);
            int top = req.TopLogprobs ?? 0;
            CheckTop("top_logprobs", top, s);
            if (top > 0 && !req.Logprobs) throw ApiException.Validation("`top_logprobs` needs `logprobs` set to true");
            var chat = Chat.ChatRoute.Prepare(req, s);
            var p = ToParameters(req, chat.Stops) with { TopNTokens = top };
            if (chat.Tools.Grammar is { } forced) p = p with { GrammarSpec = forced };
            await OpenAiReply.RunAsync(ctx, s, new OpenAiJob(Chat: true, [new JobPrompt(chat.Text, chat.Ids)], p, req, req.Logprobs, chat.Tools));
        }).WithMetadata(GenerationRoute.Marker);
    }

    static ModelCard Card(ServerState s) => new(s.Model.ModelId, "model", s.Started, "quanta");

    static void CheckTop(string name, int top, ServerState s)
    {
        if (top < 0 || top > s.Limits.MaxTopNTokens)
            throw ApiException.Validation($"`{name}` must be >= 0 and <= {s.Limits.MaxTopNTokens}. Given: {top}");
    }

    /// <summary>
    /// OpenAI semantics on TGI parameters, checked by the same validator: temperature 0 is greedy, no temperature
    /// samples at 1, top_p 1 is off.
    /// </summary>
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
            TopP = q.TopP == 1f ? null : q.TopP,
            TopK = q.TopK,
            Seed = q.Seed,
            MaxNewTokens = maxTokens,
            Stop = q.Stop ?? [],
            TemplateStops = extraStops,
            FrequencyPenalty = q.FrequencyPenalty,
            PresencePenalty = q.PresencePenalty,
            RepetitionPenalty = q.RepetitionPenalty,
            IgnoreEos = ignoreEos,
            GrammarSpec = GrammarParams.FromResponseFormat(q.ResponseFormat),
            Details = false,
        };
    }
}
