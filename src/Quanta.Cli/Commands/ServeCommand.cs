using System.CommandLine;
using Quanta.Cli.Commands;
using Quanta.Engine;
using Quanta.IO;
using Microsoft.Extensions.Logging;
using Quanta.Server;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddServe(RootCommand root)
    {
        var cmd = new Command("serve", "Serve a model over TGI- and OpenAI-compatible HTTP (continuous batching, paged KV cache)");
        var modelId = new Option<string?>("--model-id") { Description = "Model folder or llama2.c .bin (default: built-in stories260K)" };
        var hostname = new Option<string>("--hostname") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0 = any free port)", DefaultValueFactory = _ => 3000 }.InRange(0, 65535);
        var maxConcurrent = new Option<int>("--max-concurrent-requests") { Description = "Requests in flight before 429", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var quantize = new Option<string?>("--quantize") { Description = "Expected weight quantization: gptq (read from the checkpoint)" };
        var trustRemoteCode = new Option<bool>("--trust-remote-code") { Description = "Accepted for TGI compatibility (no remote code is run)" };
        var maxBatchTotal = new Option<int?>("--max-batch-total-tokens") { Description = "KV cache size in tokens (default: from memory)" }.AtLeast(1);
        var sharded = new Option<bool>("--sharded") { Description = "Tensor parallelism (only false is supported)" };
        var maxInputLength = new Option<int?>("--max-input-length") { Description = "Legacy name of --max-input-tokens" }.AtLeast(1);
        var maxInput = new Option<int?>("--max-input-tokens") { Description = "Longest prompt in tokens (default: max-total-tokens - 1)" }.AtLeast(1);
        var maxTotal = new Option<int?>("--max-total-tokens") { Description = "Prompt + new tokens per request (default: model context, capped by the KV cache)" }.AtLeast(2);
        var maxPrefill = new Option<int?>("--max-batch-prefill-tokens") { Description = $"Prompt tokens per step (default: max({EngineOptions.DefaultMaxBatchPrefillTokens}, max-input-tokens + 50))" }.AtLeast(1);
        var maxStepTokens = new Option<int>("--max-num-batched-tokens")
        {
            Description = $"Most tokens a step computes while sequences decode; prompt chunks take what the decode rows leave (0 = no bound beyond --max-batch-prefill-tokens)",
        }.AtLeast(0);
        var maxStop = new Option<int>("--max-stop-sequences") { Description = "Most stop sequences per request", DefaultValueFactory = _ => 4 }.AtLeast(0);
        var maxBestOf = new Option<int>("--max-best-of") { Description = "Largest best_of", DefaultValueFactory = _ => 2 }.AtLeast(1);
        var maxTopN = new Option<int>("--max-top-n-tokens") { Description = "Largest top_n_tokens", DefaultValueFactory = _ => 5 }.AtLeast(0);
        var ratio = new Option<double>("--waiting-served-ratio") { Description = "Admit waiting requests when waiting >= ratio * running", DefaultValueFactory = _ => 0.3 }.AtLeast(0.0);
        var maxWaiting = new Option<int>("--max-waiting-tokens") { Description = "Decode steps before waiting requests are admitted anyway", DefaultValueFactory = _ => 20 }.AtLeast(0);
        var maxBatchSize = new Option<int>("--max-batch-size") { Description = "Most sequences in the running batch", DefaultValueFactory = _ => 256 }.AtLeast(1);
        var workers = new Option<int>("--validation-workers") { Description = "Accepted for TGI compatibility (tokenization runs on the request threads)", DefaultValueFactory = _ => 2 }.AtLeast(1);
        var dtype = new Option<string?>("--dtype") { Description = "float16 | bfloat16 | float32 (reported; the CPU computes in float32)" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on every route but /health (env QUANTA_API_KEY)" };
        var blockSize = new Option<int>("--block-size") { Description = "KV cache block size in tokens", DefaultValueFactory = _ => 16 }.InRange(1, 1024);
        var chatTemplate = new Option<string>("--chat-template") { Description = "auto (the model's Jinja template) | FILE | llama2 | chatml", DefaultValueFactory = _ => "auto" };
        var noPrefixCache = new Option<bool>("--disable-prefix-caching") { Description = "Do not share KV blocks between requests with a common prefix" };
        var noWeb = new Option<bool>("--no-web") { Description = "Do not serve the playground (/) and dashboard (/dashboard) pages" };
        var cudaFraction = new Option<double>("--cuda-memory-fraction") { Description = "CUDA: share of the GPU memory left after warm-up that becomes KV cache", DefaultValueFactory = _ => 0.9 }.Must(v => v is > 0 and <= 1, "in (0, 1]");
        var payloadLimit = new Option<long>("--payload-limit") { Description = "Largest request body in bytes (larger: 413)", DefaultValueFactory = _ => 2_000_000 }.AtLeast(1L);
        var logFormat = new Option<string>("--log-format") { Description = "Request log: text | json", DefaultValueFactory = _ => "text" };
        var logLevel = new Option<string>("--log-level") { Description = "trace | debug | info | warn | error | off", DefaultValueFactory = _ => "info" };
        var maxClientBatch = new Option<int>("--max-client-batch-size") { Description = "Most prompts in one /v1/completions request", DefaultValueFactory = _ => 4 }.AtLeast(1);
        Option[] all = [modelId, hostname, port, maxConcurrent, quantize, trustRemoteCode, maxBatchTotal, sharded, maxInputLength,
            maxInput, maxTotal, maxPrefill, maxStepTokens, maxStop, maxBestOf, maxTopN, ratio, maxWaiting, maxBatchSize, workers, dtype, device,
            apiKey, blockSize, chatTemplate, noPrefixCache, cudaFraction, payloadLimit, logFormat, logLevel, maxClientBatch, noWeb];
        foreach (var o in all) cmd.Options.Add(o);

        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(async () =>
        {
            if (pr.GetValue(sharded)) throw new NotSupportedException("--sharded true: tensor parallelism is not supported");
            var args = new ServeArgs
            {
                ModelId = pr.GetValue(modelId),
                Quantize = pr.GetValue(quantize),
                Device = pr.GetValue(device)!,
                BlockSize = pr.GetValue(blockSize),
                MaxBatchTotalTokens = pr.GetValue(maxBatchTotal),
                MaxBatchPrefillTokens = pr.GetValue(maxPrefill),
                MaxNumBatchedTokens = pr.GetValue(maxStepTokens),
                MaxBatchSize = pr.GetValue(maxBatchSize),
                WaitingServedRatio = pr.GetValue(ratio),
                MaxWaitingTokens = pr.GetValue(maxWaiting),
                PrefixCaching = !pr.GetValue(noPrefixCache),
                CudaMemoryFraction = pr.GetValue(cudaFraction),
                Server = new ServerOptions
                {
                    Hostname = pr.GetValue(hostname)!,
                    Port = pr.GetValue(port),
                    MaxConcurrentRequests = pr.GetValue(maxConcurrent),
                    MaxInputTokens = pr.GetValue(maxInput) ?? pr.GetValue(maxInputLength),
                    MaxTotalTokens = pr.GetValue(maxTotal),
                    MaxStopSequences = pr.GetValue(maxStop),
                    MaxBestOf = pr.GetValue(maxBestOf),
                    MaxTopNTokens = pr.GetValue(maxTopN),
                    ValidationWorkers = pr.GetValue(workers),
                    ApiKey = pr.GetValue(apiKey) ?? NullIfEmpty(Environment.GetEnvironmentVariable("QUANTA_API_KEY")),
                    ChatTemplate = pr.GetValue(chatTemplate)!,
                    Dtype = pr.GetValue(dtype) ?? "",
                    PayloadLimit = pr.GetValue(payloadLimit),
                    MaxClientBatchSize = pr.GetValue(maxClientBatch),
                    LogFormat = ServeFlags.LogFormat(pr.GetValue(logFormat)!),
                    LogLevel = ServeFlags.LogLevel(pr.GetValue(logLevel)!),
                    Web = !pr.GetValue(noWeb),
                },
            };
            var server = await ServeSetup.StartAsync(args, Console.Error, ct);
            Console.Error.WriteLine($"listening on {server.Address}");
            await server.WaitForShutdownSignalAsync();
            Console.Error.WriteLine("shutting down: draining in-flight requests");
            await server.StopAsync();
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}

/// <summary>Flags of <c>quanta serve</c> that shape the backend and engine; the HTTP ones are in <see cref="Server"/>.</summary>
internal sealed record ServeArgs
{
    public string? ModelId { get; init; }
    public string? Quantize { get; init; }
    public string Device { get; init; } = "auto";
    public int BlockSize { get; init; } = 16;
    public int? MaxBatchTotalTokens { get; init; }
    public int? MaxBatchPrefillTokens { get; init; }
    /// <summary>0: no bound beyond the prefill budget (<see cref="EngineOptions.StepTokenBudget"/>).</summary>
    public int MaxNumBatchedTokens { get; init; }
    public int MaxBatchSize { get; init; } = 256;
    public double WaitingServedRatio { get; init; } = 0.3;
    public int MaxWaitingTokens { get; init; } = 20;
    public bool PrefixCaching { get; init; } = true;
    public double CudaMemoryFraction { get; init; } = 0.9;
    public ServerOptions Server { get; init; } = new();
}

/// <summary>The parsing of serve's logging flags (a bad value is one line naming the flag).</summary>
internal static class ServeFlags
{
    public static LogFormat LogFormat(string value) => value.ToLowerInvariant() switch
    {
        "text" => Server.LogFormat.Text,
        "json" => Server.LogFormat.Json,
        _ => throw new ArgumentException($"--log-format must be text or json, not '{value}'"),
    };

    public static LogLevel LogLevel(string value) => value.ToLowerInvariant() switch
    {
        "trace" => Microsoft.Extensions.Logging.LogLevel.Trace,
        "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
        "info" or "information" => Microsoft.Extensions.Logging.LogLevel.Information,
        "warn" or "warning" => Microsoft.Extensions.Logging.LogLevel.Warning,
        "error" => Microsoft.Extensions.Logging.LogLevel.Error,
        "off" or "none" => Microsoft.Extensions.Logging.LogLevel.None,
        _ => throw new ArgumentException($"--log-level must be trace, debug, info, warn, error or off, not '{value}'"),
    };
}

/// <summary>Loads the model, builds backend and engine, and starts the HTTP server (also used in-process by tests).</summary>
internal static class ServeSetup
{
    /// <summary>
    /// The most KV the engine can fill: every sequence it may run (--max-batch-size, and no more than the requests
    /// admitted times their best_of) at the longest a request may grow (--max-total-tokens, else the model's context).
    /// </summary>
    internal static KvDemand KvDemand(ServeArgs a, int context)
    {
        long sequences = Math.Min(a.MaxBatchSize, (long)a.Server.MaxConcurrentRequests * Math.Max(1, a.Server.MaxBestOf));
        return new KvDemand((int)Math.Max(1, sequences), Math.Max(context, a.Server.MaxTotalTokens ?? context));
    }

    public static async Task<QuantaServer> StartAsync(ServeArgs a, TextWriter log, CancellationToken ct)
    {
        if (a.Quantize is not (null or "gptq"))
            throw new ArgumentException($"--quantize {a.Quantize}: only gptq checkpoints are supported (make one with `quanta quantize`)");
        if (a.Server.Dtype is not ("" or "float16" or "bfloat16" or "float32"))
            throw new ArgumentException($"--dtype must be float16, bfloat16 or float32, not '{a.Server.Dtype}'");
        if (a.BlockSize is < 1 or > 1024) throw new ArgumentException($"--block-size must be in 1..1024, not {a.BlockSize}");
        DeviceChoice.Check(a.Device);
        var model = ModelLoader.Load(a.ModelId);
        IModelRunner? runner = null;
        IEngine? engine = null;
        try
        {
            if (a.Quantize == "gptq" && model.Config.Quantization is null)
                log.WriteLine($"warning: --quantize gptq but {model.Path} is not a GPTQ checkpoint; serving its weights as stored");
            runner = RunnerFactory.Create(model, a.Device, a.BlockSize, a.MaxBatchTotalTokens, log,
                                          a.MaxBatchPrefillTokens, a.CudaMemoryFraction, demand: KvDemand(a, model.Config.MaxPositionEmbeddings),
                                          warmGraphs: true);
            var (_, input) = a.Server.ResolveTokens(model.Config.MaxPositionEmbeddings, runner.NumBlocks * runner.BlockSize);
            int prefill = a.MaxBatchPrefillTokens ?? Math.Max(EngineOptions.DefaultMaxBatchPrefillTokens, input + 50);
            engine = new LlmEngine(runner, model.Tokenizer, new EngineOptions
            {
                MaxBatchPrefillTokens = prefill,
                MaxNumBatchedTokens = a.MaxNumBatchedTokens,
                WaitingServedRatio = a.WaitingServedRatio,
                MaxWaitingTokens = a.MaxWaitingTokens,
                MaxRunningSequences = a.MaxBatchSize,
                PrefixCaching = a.PrefixCaching,
            });
            var served = ServedModel.Over(model, runner, engine);
            var options = a.Server with
            {
                Dtype = a.Server.Dtype is "" ? (runner.DeviceName.StartsWith("cuda") ? "float16" : "float32") : a.Server.Dtype,
            };
            var server = await QuantaServer.StartAsync(options, served, ct);
            var (maxIn, maxTot) = server.TokenLimits;
            log.WriteLine($"model {model.Name} on {runner.DeviceName}: max_batch_total_tokens={server.MaxBatchTotalTokens} " +
                          $"max_input_tokens={maxIn} max_total_tokens={maxTot} max_batch_prefill_tokens={prefill} " +
                          $"max_num_batched_tokens={engine.Options.StepTokenBudget}");
            return server;
        }
        catch
        {
            if (engine is not null) await engine.DisposeAsync();
            runner?.Dispose();
            model.Dispose();
            throw;
        }
    }
}
