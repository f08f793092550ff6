using Microsoft.Extensions.Logging;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Server;

/// <summary>
/// The HTTP side of <c>quanta serve</c> (TGI's router flags): address, request limits, authentication, logging.
/// The engine's knobs live in <see cref="EngineOptions"/>, which the server reads back through <see cref="IEngine.Options"/>.
/// </summary>
public sealed record ServerOptions
{
    public string Hostname { get; init; } = "127.0.0.1";
    /// <summary>0 = an ephemeral port (tests).</summary>
    public int Port { get; init; } = 3000;
    public int MaxConcurrentRequests { get; init; } = 128;
    public int MaxBestOf { get; init; } = 2;
    public int MaxStopSequences { get; init; } = 4;
    public int MaxTopNTokens { get; init; } = 5;
    /// <summary>null = max_total_tokens - 1.</summary>
    public int? MaxInputTokens { get; init; }
    /// <summary>null = min(max_position_embeddings, max_batch_total_tokens).</summary>
    public int? MaxTotalTokens { get; init; }
    public int ValidationWorkers { get; init; } = 2;
    public int MaxClientBatchSize { get; init; } = 4;
    /// <summary>null = no authentication.</summary>
    public string? ApiKey { get; init; }
    /// <summary>"auto" (from the model), "llama2" or "chatml".</summary>
    public string ChatTemplate { get; init; } = "auto";
    /// <summary>The weights' dtype as /info reports it.</summary>
    public string Dtype { get; init; } = "float32";
    /// <summary>Largest request body in bytes (TGI's --payload-limit); a larger one gets 413 before it is read.</summary>
    public long PayloadLimit { get; init; } = 2_000_000;
    /// <summary>A body slower than this (bytes/s) after <see cref="RequestBodyGracePeriod"/> gets 408.</summary>
    public double MinRequestBodyRate { get; init; } = 240;
    public TimeSpan RequestBodyGracePeriod { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>The request log and errors: one line of text, or one JSON object, per entry.</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;
    public LogLevel LogLevel { get; init; } = LogLevel.Information;
    /// <summary>Serve the playground and dashboard pages (false: --no-web, their routes 404).</summary>
    public bool Web { get; init; } = true;

    /// <summary>max_total_tokens and max_input_tokens with the defaults above applied.</summary>
    public (int Total, int Input) ResolveTokens(int maxPositionEmbeddings, int maxBatchTotalTokens)
    {
        int total = MaxTotalTokens ?? Math.Min(maxPositionEmbeddings, maxBatchTotalTokens);
        return (total, MaxInputTokens ?? total - 1);
    }
}

/// <summary>How log entries are written: <c>text</c> (one line each) or <c>json</c> (one object per line).</summary>
public enum LogFormat { Text, Json }

/// <summary>What the server serves: the engine plus the model facts the API reports.</summary>
public sealed class ServedModel
{
    public required IEngine Engine { get; init; }
    public required ITokenizer Tokenizer { get; init; }
    public required LlamaConfig Config { get; init; }
    public required string ModelId { get; init; }
    public string DeviceName { get; init; } = "cpu";
    /// <summary>GPU memory for the dashboard, or null where the backend cannot tell cheaply (CPU).</summary>
    public Func<Web.DeviceMemory?>? DeviceMemory { get; init; }
    /// <summary>Disposed after the engine when the server stops (runner, loaded model).</summary>
    public List<IDisposable> Owned { get; } = [];

    /// <summary>A loaded checkpoint served by <paramref name="engine"/> over <paramref name="runner"/>; the server disposes the runner and the model.</summary>
    public static ServedModel Over(LoadedModel model, IModelRunner runner, IEngine engine)
    {
        var served = new ServedModel
        {
            Engine = engine, Tokenizer = model.Tokenizer, Config = model.Config, ModelId = model.Name, DeviceName = runner.DeviceName,
            DeviceMemory = runner.DeviceMemory is { } m ? () => new Web.DeviceMemory(m.UsedBytes, m.TotalBytes) : null,
        };
        served.Owned.Add(runner);
        served.Owned.Add(model);
        return served;
    }
}

/// <summary>The limits after defaults are resolved against the model and KV budget.</summary>
internal sealed record Limits(int MaxInputTokens, int MaxTotalTokens, int MaxBestOf, int MaxStopSequences, int MaxTopNTokens)
{
    public static Limits Resolve(ServerOptions o, ServedModel m)
    {
        int batchTotal = m.Engine.MaxBatchTotalTokens;
        var (total, input) = o.ResolveTokens(m.Config.MaxPositionEmbeddings, batchTotal);
        if (input < 1) throw new ArgumentException($"--max-input-tokens must be positive, not {input}");
        if (input >= total)
            throw new ArgumentException($"--max-input-tokens ({input}) must be < --max-total-tokens ({total})");
        if (total > batchTotal)
            throw new ArgumentException($"--max-total-tokens ({total}) must be <= --max-batch-total-tokens ({batchTotal})");
        int prefill = m.Engine.Options.MaxBatchPrefillTokens;
        if (prefill < input)
            throw new ArgumentException($"--max-batch-prefill-tokens ({prefill}) must be >= --max-input-tokens ({input})");
        if (o.PayloadLimit < 1) throw new ArgumentException("--payload-limit must be at least 1 byte");
        if (o.MaxClientBatchSize < 1) throw new ArgumentException("--max-client-batch-size must be at least 1");
        if (o.MaxConcurrentRequests < 1) throw new ArgumentException("--max-concurrent-requests must be at least 1");
        if (o.MaxBestOf < 1) throw new ArgumentException("--max-best-of must be at least 1");
        return new Limits(input, total, o.MaxBestOf, o.MaxStopSequences, o.MaxTopNTokens);
    }
}
