using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Quanta.Tests.Bench;

/// <summary>
/// A TGI look-alike on 127.0.0.1:0 with known timings: the first token after <c>firstDelay</c>, then one
/// token every <c>gap</c>. The prompt picks a behaviour: "status500" answers 500, "error-mid" streams two
/// tokens then an error event, "abort-mid" streams two tokens then drops the connection, "hang" never answers,
/// "status429" answers 429 and "overload-event" streams TGI's one overload event.
/// POST /tokenize counts whitespace-separated words plus one BOS. /v1/completions and /v1/chat/completions
/// stream OpenAI chunks with the same timing (a role-only chunk first for chat), a usage chunk, then [DONE].
/// </summary>
internal sealed class FakeTgiServer : IAsyncDisposable
{
    readonly WebApplication _app;
    int _inFlight;
    public int MaxInFlight;
    public int Requests;
    public Uri BaseUrl { get; }

    FakeTgiServer(WebApplication app, Uri url) { _app = app; BaseUrl = url; }

    /// <param name="openAi">false: no /v1 routes (they answer 404).</param>
    public static async Task<FakeTgiServer> StartAsync(TimeSpan firstDelay, TimeSpan gap, bool openAi = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeTgiServer? self = null;
        app.MapPost("/generate_stream", (HttpContext ctx) => self!.Generate(ctx, firstDelay, gap));
        app.MapPost("/tokenize", async (HttpContext ctx) =>
        {
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
            var root = doc.RootElement;
            var text = (root.TryGetProperty("inputs", out var t) ? t : root.GetProperty("prompt")).GetString()!;
            int n = 1 + text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            return Results.Json(Enumerable.Range(0, n).Select(i => new { id = i, text = "t" }));
        });
        if (openAi)
        {
            app.MapPost("/v1/completions", (HttpContext ctx) => OpenAi(ctx, firstDelay, gap, chat: false));
            app.MapPost("/v1/chat/completions", (HttpContext ctx) => OpenAi(ctx, firstDelay, gap, chat: true));
        }
        app.MapGet("/info", () => Results.Json(new { model_id = "fake-tgi" }));
        await app.StartAsync();
        var addr = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new FakeTgiServer(app, new Uri(addr + "/"));
        return self;
    }

    async Task Generate(HttpContext ctx, TimeSpan firstDelay, TimeSpan gap)
    {
        Interlocked.Increment(ref Requests);
        int now = Interlocked.Increment(ref _inFlight);
        lock (this) MaxInFlight = Math.Max(MaxInFlight, now);
        try
        {
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
            var prompt = doc.RootElement.GetProperty("inputs").GetString()!;
            int n = doc.RootElement.GetProperty("parameters").GetProperty("max_new_tokens").GetInt32();
            if (prompt.Contains("status500")) { ctx.Response.StatusCode = 500; await ctx.Response.WriteAsync("{\"error\":\"overloaded\"}"); return; }
            if (prompt.Contains("status429")) { ctx.Response.StatusCode = 429; await ctx.Response.WriteAsync("{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}"); return; }
            if (prompt.Contains("overload-event"))
            {
                ctx.Response.ContentType = "text/event-stream";
                await Event(ctx, new { error = "Model is overloaded", error_type = "overloaded" });
                return;
            }
            if (prompt.Contains("hang")) { await Task.Delay(TimeSpan.FromSeconds(30), ctx.RequestAborted); return; }
            ctx.Response.ContentType = "text/event-stream";
            for (int i = 0; i < n; i++)
            {
                await Task.Delay(i == 0 ? firstDelay : gap, ctx.RequestAborted);
                if (i == 2 && prompt.Contains("error-mid")) { await Event(ctx, new { error = "boom", error_type = "generation" }); return; }
                if (i == 2 && prompt.Contains("abort-mid")) { ctx.Abort(); return; }
                bool last = i == n - 1;
                await Event(ctx, new
                {
                    index = i + 1,
                    token = new { id = 7, text = " w", logprob = -0.5, special = false },
                    generated_text = last ? string.Concat(Enumerable.Repeat(" w", n)) : null,
                    details = last ? new { finish_reason = "length", generated_tokens = n, seed = (ulong?)null } : null,
                });
            }
        }
        finally { Interlocked.Decrement(ref _inFlight); }
    }

    static async Task OpenAi(HttpContext ctx, TimeSpan firstDelay, TimeSpan gap, bool chat)
    {
        using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
        int n = doc.RootElement.GetProperty("max_tokens").GetInt32();
        ctx.Response.ContentType = "text/event-stream";
        if (chat) await Event(ctx, new { choices = new[] { new { index = 0, delta = new { role = "assistant", content = "" } } } });
        for (int i = 0; i < n; i++)
        {
            await Task.Delay(i == 0 ? firstDelay : gap, ctx.RequestAborted);
            object choice = chat ? new { index = 0, delta = new { content = " w" } } : new { index = 0, text = " w" };
            await Event(ctx, new { choices = new[] { choice } });
        }
        await Event(ctx, new { choices = Array.Empty<object>(), usage = new { prompt_tokens = 3, completion_tokens = n + 100 } });
        await ctx.Response.WriteAsync("data: [DONE]\n\n");
    }

    static async Task Event(HttpContext ctx, object payload)
    {
        await ctx.Response.WriteAsync("data:" + JsonSerializer.Serialize(payload) + "\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    /// <summary>A loopback URL nothing listens on (a port just released).</summary>
    public static Uri ClosedPortUrl()
    {
        var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
