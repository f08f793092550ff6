using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quanta.Server.Api;

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
    /// <param name="logs">Where the request log goes instead of the console (tests).</param>
    /// <exception cref="ArgumentException">a limit contradicts another one or the model.</exception>
    public static async Task<QuantaServer> StartAsync(ServerOptions options, ServedModel model, CancellationToken ct = default,
                                                      ILoggerProvider? logs = null)
    {
        var state = new ServerState(options, model);
        var builder = WebApplication.CreateSlimBuilder();
        ConfigureLogging(builder.Logging, options, logs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = DrainTimeout);
        builder.WebHost.UseUrls($"http://{HostForUrl(options.Hostname)}:{options.Port}");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.PayloadLimit;
            k.Limits.MaxRequestHeadersTotalSize = RequestGuard.KestrelHeaderBytes;
            k.Limits.MaxRequestLineSize = RequestGuard.KestrelRequestLineBytes;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinRequestBodyRate, options.RequestBodyGracePeriod);
        });
        var app = builder.Build();
        var guard = new RequestGuard(state, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Quanta.Server.Requests"));
        app.Use((ctx, next) => guard.InvokeAsync(ctx, next));
        Map(app, state);
        app.Lifetime.ApplicationStopping.Register(state.StartDraining);
        await app.StartAsync(ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new QuantaServer(app, state, address.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "127.0.0.1"));
    }

    /// <summary>
    /// The request log at --log-level as text lines or JSON objects on stdout; ASP.NET's own categories only from
    /// warnings up (the request log says what its per-request lines would).
    /// </summary>
    static void ConfigureLogging(ILoggingBuilder logging, ServerOptions o, ILoggerProvider? logs)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(o.LogLevel);
        logging.AddFilter("Microsoft", (LogLevel)Math.Max((int)o.LogLevel, (int)LogLevel.Warning));
        if (logs is not null) logging.AddProvider(logs);
        else if (o.LogFormat == LogFormat.Json)
            logging.AddJsonConsole(c => { c.UseUtcTimestamp = true; c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; });
        else
            logging.AddSimpleConsole(c => { c.SingleLine = true; c.UseUtcTimestamp = true; c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ "; });
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
        app.MapMethods("/health", [HttpMethods.Get, HttpMethods.Head], () => s.Model.Engine.Healthy && !s.Draining
            ? Results.Ok()
            : throw new ApiException(StatusCodes.Status503ServiceUnavailable, "healthcheck", "unhealthy"));
        app.MapGet("/info", () => Results.Json(InfoResponse.From(s), Json.Options));
        app.MapGet("/metrics", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await s.Metrics.Registry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
        });
        TgiEndpoints.Map(app, s);
        OpenAiEndpoints.Map(app, s);
    }

    static string HostForUrl(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
}
