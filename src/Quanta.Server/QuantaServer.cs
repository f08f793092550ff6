using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quanta.Server.Api;
using Quanta.Server.Web;

namespace Quanta.Server;

/// <summary>The HTTP server of <c>quanta serve</c>: TGI and OpenAI routes on Kestrel in front of an <see cref="Quanta.Engine.IEngine"/>.</summary>
public sealed class QuantaServer : IAsyncDisposable
{
    public const string Version = "0.1.0";
    static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(10);

    readonly WebApplication _app;
    readonly ServerState _state;
    int _stopped;

    QuantaServer(WebApplication app, ServerState state, string address)
    {
        _app = app;
        _state = state;
        Address = address;
    }

    /// <summary>The bound address, e.g. http://127.0.0.1:3000.</summary>
    public string Address { get; }

    /// <summary>KV tokens the engine can hold (shown in /info).</summary>
    public int MaxBatchTotalTokens => _state.Model.Engine.MaxBatchTotalTokens;

    /// <summary>Limits after defaults: (max_input_tokens, max_total_tokens).</summary>
    public (int MaxInputTokens, int MaxTotalTokens) TokenLimits => (_state.Limits.MaxInputTokens, _state.Limits.MaxTotalTokens);

    /// <summary>Binds Kestrel (options.Port 0 = ephemeral) and starts serving <paramref name="model"/>.</summary>
    /// <exception cref="ArgumentException">a limit contradicts another one or the model.</exception>
    public static async Task<QuantaServer> StartAsync(ServerOptions options, ServedModel model, CancellationToken ct = default)
    {
        var state = new ServerState(options, model);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = DrainTimeout);
        builder.WebHost.UseUrls($"http://{HostForUrl(options.Hostname)}:{options.Port}");
        var app = builder.Build();
        app.Use((ctx, next) => Guard(ctx, next, state));
        Map(app, state);
        app.Lifetime.ApplicationStopping.Register(state.StartDraining);
        await app.StartAsync(ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new QuantaServer(app, state, address.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "127.0.0.1"));
    }

    /// <summary>Completes when the host is asked to stop (SIGTERM, Ctrl+C).</summary>
    public Task WaitForShutdownSignalAsync()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _app.Lifetime.ApplicationStopping.Register(() => tcs.TrySetResult());
        return tcs.Task;
    }

    /// <summary>Drains: refuses new requests, lets in-flight ones finish (up to 10 minutes), then stops Kestrel and the engine.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        _state.StartDraining();
        var deadline = DateTime.UtcNow + DrainTimeout;
        while (_state.InFlight > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _state.Model.Engine.DisposeAsync();
        foreach (var d in _state.Model.Owned) d.Dispose();
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    static void Map(WebApplication app, ServerState s)
    {
        app.MapGet("/health", () => s.Model.Engine.Healthy && !s.Draining
            ? Results.Ok()
            : Results.Json(new ErrorResponse("unhealthy", "healthcheck"), Json.Options, statusCode: 503));
        app.MapGet("/info", () => Results.Json(InfoResponse.From(s), Json.Options));
        app.MapGet("/metrics", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await s.Metrics.Registry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
        });
        TgiEndpoints.Map(app, s);
        OpenAiEndpoints.Map(app, s);
        WebRoutes.Map(app, s);
    }

    /// <summary>API key check, then TGI-shaped errors for whatever a handler throws; one request never harms another.</summary>
    static async Task Guard(HttpContext ctx, Func<Task> next, ServerState s)
    {
        if (s.Options.ApiKey is { } key && ctx.Request.Path != "/health" && !WebRoutes.IsPublic(s.Options, ctx.Request)
            && !Authorized(ctx.Request, key))
        {
            await Write(ctx, 401, new ErrorResponse("Unauthorized", "authentication"));
            return;
        }
        try { await next(); }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            s.Metrics.Failure("cancelled");
        }
        catch (ApiException e)
        {
            s.Metrics.Failure(e.ErrorType);
            if (!ctx.Response.HasStarted) await Write(ctx, e.Status, new ErrorResponse(e.Message, e.ErrorType));
        }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            s.Metrics.Failure("generation");
            await Write(ctx, 500, new ErrorResponse($"{e.GetType().Name}: {e.Message}", "generation"));
        }
    }

    static bool Authorized(HttpRequest req, string key)
    {
        var header = req.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[7..].Trim()), Encoding.UTF8.GetBytes(key));
    }

    static Task Write(HttpContext ctx, int status, ErrorResponse error)
    {
        ctx.Response.Clear();
        return Results.Json(error, Json.Options, statusCode: status).ExecuteAsync(ctx);
    }

    static string HostForUrl(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
}
