using Quanta.Server.Api;

namespace Quanta.Server;

/// <summary>Everything the route handlers share; immutable but for the in-flight count and the drain flag.</summary>
internal sealed class ServerState
{
    public ServerOptions Options { get; }
    public ServedModel Model { get; }
    public Limits Limits { get; }
    public Validator Validator { get; }
    public Generator Generator { get; }
    public ServerMetrics Metrics { get; }
    public ChatTemplate Chat { get; }
    public string ComputeType { get; }
    /// <summary>Unix seconds when the server started (the model card's <c>created</c>).</summary>
    public long Started { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    int _inFlight;
    volatile bool _draining;

    public ServerState(ServerOptions options, ServedModel model)
    {
        Options = options;
        Model = model;
        Limits = Limits.Resolve(options, model);
        Validator = new Validator(Limits, model.Tokenizer);
        Metrics = new ServerMetrics(model.Engine, () => InFlight);
        Generator = new Generator(model.Engine, Metrics);
        Chat = ChatTemplate.Select(options.ChatTemplate, model.Config.ChatTemplate);
        ComputeType = model.DeviceName.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) ? "gpu+optimized" : "cpu+optimized";
    }

    public bool Draining => _draining;
    public void StartDraining() => _draining = true;
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Takes one of --max-concurrent-requests slots; 429 when none is free, 503 while draining.</summary>
    public Slot Acquire()
    {
        if (_draining) throw ApiException.Unavailable();
        if (!Model.Engine.Healthy) throw new ApiException(503, "generation", "The engine cannot generate (see /health)");
        if (Interlocked.Increment(ref _inFlight) > Options.MaxConcurrentRequests)
        {
            Interlocked.Decrement(ref _inFlight);
            throw ApiException.Overloaded();
        }
        return new Slot(this);
    }

    internal sealed class Slot(ServerState state) : IDisposable
    {
        int _released;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) Interlocked.Decrement(ref state._inFlight);
        }
    }
}
