using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Quanta.Engine;
using Quanta.Server.Api.Tools;

namespace Quanta.Server.Api;

/// <summary>One prompt of a job: its text (echo, x-compute-characters) and its ids when they are given or templated.</summary>
internal sealed record JobPrompt(string Text, int[]? Ids);

/// <summary>An OpenAI request after parsing: prompts, TGI parameters, n, and what to report.</summary>
/// <param name="Tools">what a chat request's tool fields ask for (<see cref="ToolPlan.NoTools"/> for completions).</param>
internal sealed record OpenAiJob(bool Chat, List<JobPrompt> Prompts, GenerateParameters Params, OpenAiSampling Request, bool Logprobs, ToolPlan Tools)
{
    public int N => Request.N ?? 1;
}

/// <summary>
/// Runs an <see cref="OpenAiJob"/>: one generation per choice (n per prompt, choice index = prompt * n + sample),
/// answered as one response or as chunks of every choice interleaved on one event stream.
/// </summary>
internal static class OpenAiReply
{
    public static async Task RunAsync(HttpContext ctx, ServerState s, OpenAiJob job)
    {
        var record = RequestRecord.Of(ctx);
        using var slot = s.Acquire();
        int n = job.N;
        if (n < 1 || n > s.Limits.MaxBestOf)
            throw ApiException.Validation($"`n` must be > 0 and <= {s.Limits.MaxBestOf} (--max-best-of). Given: {n}");
        var choices = new List<ValidRequest>();
        int promptTokens = 0;
        foreach (var prompt in job.Prompts)
        {
            var r = s.Validator.Validate(prompt.Text, job.Params, job.Request.Stream, prompt.Ids);
            promptTokens += r.InputLength;
            // Each choice is its own generation: with a seed, choice j samples with seed + j.
            for (int j = 0; j < n; j++)
                choices.Add(j == 0 || r.Params.Seed is null ? r : r with { Params = r.Params with { Seed = r.Params.Seed + (ulong)j } });
        }
        record.Validated(promptTokens);
        var reply = new Reply(job, s, promptTokens);
        if (job.Request.Stream) await StreamAsync(ctx, s, reply, choices, record);
        else await CompleteAsync(ctx, s, reply, choices, record);
    }

    static async Task CompleteAsync(HttpContext ctx, ServerState s, Reply reply, List<ValidRequest> choices, RequestRecord record)
    {
        var done = await Task.WhenAll(choices.Select(r => s.Generator.CompleteAsync(r, ctx.RequestAborted)));
        int completion = 0;
        for (int i = 0; i < done.Length; i++)
        {
            s.Generator.Succeeded(record, done[i][0].Finished);
            completion += done[i][0].Finished.GeneratedTokens;
        }
        record.GeneratedTokens = completion;
        TgiEndpoints.SetTimingHeaders(ctx.Response, s, record, choices[0], done[0][0].Finished);
        var usage = reply.Usage(completion);
        object body = reply.Job.Chat
            ? new ChatResponse(reply.Id, "chat.completion", reply.Created, s.Model.ModelId, reply.Fingerprint,
                done.Select((c, i) => ChatChoice(reply, i, c[0])).ToList(), usage)
            : new CompletionResponse(reply.Id, "text_completion", reply.Created, s.Model.ModelId, reply.Fingerprint,
                done.Select((c, i) => Completion(reply, choices[i], i, c[0])).ToList(), usage);
        await Results.Json(body, Json.Options).ExecuteAsync(ctx);
    }

    static ChatChoice ChatChoice(Reply reply, int index, Completed c)
    {
        var (message, finish) = ToolAnswer.Message(reply.Job.Tools, c.Finished.GeneratedText, Reason(c.Finished.Reason));
        return new ChatChoice(index, message, reply.ChatLogprobs(c.Tokens), finish);
    }

    static CompletionChoice Completion(Reply reply, ValidRequest r, int index, Completed c)
    {
        var f = c.Finished;
        string prefix = r.ReturnFullText ? r.Inputs : "";
        return new CompletionChoice(index, prefix + f.GeneratedText, reply.CompletionLogprobs(c.Tokens, prefix.Length), Reason(f.Reason));
    }

    /// <summary>
    /// The event stream: each choice's first chunk (the role, or the echoed prompt), then its tokens as they come, the
    /// text up to what no stop sequence can still claim; with stream_options.include_usage a last chunk with no choices.
    /// </summary>
    static async Task StreamAsync(HttpContext ctx, ServerState s, Reply reply, List<ValidRequest> choices, RequestRecord record)
    {
        ctx.Response.Headers["x-compute-type"] = s.ComputeType;
        var sse = Sse.Start(ctx.Response, "data: ");
        var ct = ctx.RequestAborted;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var merged = Channel.CreateUnbounded<(int Choice, StreamItem Item)>(new() { SingleReader = true });
        var text = choices.Select(_ => new StringBuilder()).ToArray();
        var sent = new int[choices.Count];
        // Chat with a call format to read: each choice's text passes through its tool-call detector.
        var tools = choices.Select((_, i) => reply.Job.Tools.Parser is null ? null : new ToolStream(reply.Job.Tools, reply, i)).ToArray();
        int completion = 0;
        try
        {
            for (int i = 0; i < choices.Count; i++)
            {
                string first = reply.Job.Chat ? "" : choices[i].ReturnFullText ? choices[i].Inputs : "";
                // A choice that may answer with tool calls opens with the role alone: its content stays null unless text comes.
                if (reply.Job.Chat || first.Length > 0) await sse.WriteAsync(reply.Chunk(i, tools[i] is null ? first : null, role: true, null, null), ct);
            }
            var pumps = Task.WhenAll(choices.Select((r, i) => PumpAsync(s, r, i, merged.Writer, stop.Token)));
            _ = pumps.ContinueWith(t => merged.Writer.TryComplete(t.Exception?.InnerException), TaskScheduler.Default);
            await foreach (var (i, item) in merged.Reader.ReadAllAsync(ct))
            {
                var t = item.Token;
                text[i].Append(t.TextDelta);
                int safe = Math.Min(t.SafeTextLength, text[i].Length);
                string delta = safe > sent[i] ? text[i].ToString(sent[i], safe - sent[i]) : "";
                int offset = sent[i];
                sent[i] = Math.Max(sent[i], safe);
                var f = item.Finished;
                if (f is not null)
                {
                    s.Generator.Succeeded(record, f);
                    completion += f.GeneratedTokens;
                }
                record.GeneratedTokens = (record.GeneratedTokens ?? 0) + 1;
                string? finish = f is null ? null : Reason(f.Reason);
                if (tools[i] is { } detector) await detector.WriteAsync(sse, delta, t, finish, ct);
                else await sse.WriteAsync(reply.Chunk(i, delta, role: false, [t], finish, offset), ct);
            }
            if (reply.Job.Request.StreamOptions?.IncludeUsage == true) await sse.WriteAsync(reply.UsageChunk(completion), ct);
        }
        catch (ApiException e)
        {
            await stop.CancelAsync();
            record.Fail(e.ErrorType, e.Message);
            await sse.WriteAsync(ErrorReply.OpenAi(e.Status, e.ErrorType, e.Message), ct);
        }
        await sse.WriteRawAsync("[DONE]", ct);
    }

    static async Task PumpAsync(ServerState s, ValidRequest r, int choice, ChannelWriter<(int, StreamItem)> merged, CancellationToken ct)
    {
        await foreach (var item in s.Generator.StreamAsync(r, ct)) await merged.WriteAsync((choice, item), ct);
    }

    static string Reason(FinishReason r) => r == FinishReason.Length ? "length" : "stop";
}
