using Quanta.Bench.Client;
using Quanta.Bench.Dataset;
using Quanta.Bench.Metrics;
using Quanta.Bench.Report;

namespace Quanta.Bench;

/// <summary>Settings of <c>quanta bench serve</c>.</summary>
public sealed record ServeBenchOptions
{
    public required Uri BaseUrl { get; init; }
    public BackendKind Backend { get; init; } = BackendKind.Tgi;
    /// <summary>Model name sent to OpenAI backends; null = the first of GET /v1/models.</summary>
    public string? Model { get; init; }
    /// <summary>A ShareGPT JSON path, or "random".</summary>
    public required string Dataset { get; init; }
    public int NumPrompts { get; init; } = 100;
    public int Seed { get; init; }
    public int InputLen { get; init; } = 1024;
    /// <summary>Fixed output length; null = the reply's token count (ShareGPT) or 128 (random).</summary>
    public int? OutputLen { get; init; }
    /// <summary>Local tokenizer path; null = the server's /tokenize.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>One run per arrival pattern (a sweep of intervals, or a single rate / all at once).</summary>
    public required IReadOnlyList<Arrival> Arrivals { get; init; }
    public int? MaxConcurrency { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    public bool IgnoreEos { get; init; } = true;
    /// <summary>Lower ShareGPT output lengths to what the server's max_total_tokens leaves instead of skipping those prompts.</summary>
    public bool FitToServer { get; init; }
}

/// <summary>Receives progress while the benchmark runs (a progress bar in the CLI).</summary>
public interface IBenchProgress
{
    void Status(string message);
    void RunStarted(string label, int requests);
    void RequestDone(RequestOutcome outcome);
}

/// <summary>Samples the dataset, checks the server with one request, then runs every arrival pattern.</summary>
public static class ServeBenchmark
{
    /// <summary>Output tokens per request for random prompts and prompt-only datasets without --output-len.</summary>
    public const int DefaultOutputLen = 128;

    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    }) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };

    /// <returns>The report; runs stopped by <paramref name="ct"/> are included and marked interrupted.</returns>
    public static async Task<BenchReport> RunAsync(ServeBenchOptions o, HttpClient http, IBenchProgress? progress, CancellationToken ct)
    {
        var baseUrl = o.BaseUrl.AbsoluteUri.EndsWith('/') ? o.BaseUrl : new Uri(o.BaseUrl.AbsoluteUri + "/");
        var started = DateTime.UtcNow;
        progress?.Status("counting tokens");
        ITokenCounter counter = o.Tokenizer is null
            ? new ServerTokenCounter(http, baseUrl, o.Backend)
            : new LocalTokenCounter(LocalTokenCounter.Open(o.Tokenizer));
        var info = await ServerInfo.GetAsync(http, baseUrl, o.Backend, ct);
        int maxPrompt = Math.Min(ShareGptDataset.MaxPromptLen, info.MaxInputTokens ?? int.MaxValue);
        int maxTotal = Math.Min(ShareGptDataset.MaxTotalLen, info.MaxTotalTokens ?? int.MaxValue);
        List<BenchPrompt> prompts;
        var notes = new List<string>();
        int? outputLen = o.OutputLen;
        if (o.Dataset == "random")
        {
            int outLen = o.OutputLen ?? DefaultOutputLen;
            if (info.MaxTotalTokens is { } t && o.InputLen + outLen > t)
                throw new ArgumentException($"--input-len {o.InputLen} + --output-len {outLen} exceeds the server's max total tokens {t}");
            prompts = await RandomDataset.CreateAsync(o.NumPrompts, o.InputLen, outLen, o.Seed, counter, ct);
            outputLen = outLen;
        }
        else
        {
            var entries = ShareGptDataset.Load(o.Dataset);
            if (outputLen is null && entries.All(e => e.Reply is null))
            {
                outputLen = Math.Max(1, Math.Min(DefaultOutputLen, maxTotal / 2));
                notes.Add($"the dataset has prompts only (no replies): each request generates {outputLen} tokens (--output-len sets it)");
            }
            var sample = await ShareGptDataset.SampleAsync(entries, o.NumPrompts, o.Seed, outputLen, counter, ct, maxPrompt, maxTotal, o.FitToServer);
            prompts = sample.Prompts;
            if (sample.TooLong > 0 || sample.OutputsLowered > 0 || sample.PromptsCut > 0)
                notes.Add($"limits {maxPrompt} prompt tokens, {maxTotal} in all{(info.MaxTotalTokens is null ? "" : " (from the server's /info)")}: " +
                          (o.FitToServer
                              ? $"{sample.PromptsCut} prompts cut to {ShareGptDataset.CutLength(maxPrompt, maxTotal)} tokens at most, " +
                                $"{sample.OutputsLowered} output lengths lowered to fit, {sample.TooLong} prompts skipped"
                              : $"{sample.TooLong} prompts skipped as too long (--fit-to-server cuts them to fit instead)"));
        }
        if (prompts.Count == 0)
            throw new InvalidDataException($"dataset {o.Dataset}: no prompt passes the length filter ({ShareGptDataset.MinLen}..{maxPrompt} prompt tokens, " +
                                           $"total <= {maxTotal}){(o.FitToServer || o.Dataset == "random" ? "" : "; --fit-to-server cuts prompts and outputs to fit")}");

        var model = o.Model ?? info.Model;
        var sender = new RequestSender(http, baseUrl, o.Backend, model, o.Timeout, o.IgnoreEos);
        progress?.Status("test request");
        await ProbeAsync(sender, prompts[0], ct);

        var runs = new List<RunMetrics>();
        foreach (var arrival in o.Arrivals)
        {
            if (ct.IsCancellationRequested) break;
            progress?.RunStarted(arrival.Label, prompts.Count);
            var run = await BenchRunner.RunAsync(prompts, sender.SendAsync, arrival, o.MaxConcurrency, progress is null ? null : progress.RequestDone, ct);
            runs.Add(MetricsCalculator.Compute(run));
        }
        return new BenchReport
        {
            Backend = BackendName(o.Backend), BaseUrl = o.BaseUrl.AbsoluteUri, Model = model,
            Dataset = o.Dataset, NumPrompts = prompts.Count, Seed = o.Seed, StartedUtc = started,
            OutputLen = outputLen, IgnoreEos = o.IgnoreEos, FitToServer = o.FitToServer,
            MaxPromptLen = maxPrompt, MaxTotalLen = maxTotal, Notes = notes, Runs = runs,
        };
    }

    public static string BackendName(BackendKind b) => b switch { BackendKind.Tgi => "tgi", BackendKind.OpenAi => "openai", _ => "openai-chat" };

    /// <summary>One short request first, as vLLM does, so a wrong URL or backend fails with one clear line.</summary>
    static async Task ProbeAsync(RequestSender sender, BenchPrompt p, CancellationToken ct)
    {
        var r = await sender.SendAsync(p with { OutputLen = Math.Min(p.OutputLen, 2) }, ct);
        ct.ThrowIfCancellationRequested();
        string? problem = r.Failure switch
        {
            FailureKind.None => null,
            FailureKind.ConnectionRefused => $"cannot reach the server at {sender.Endpoint}: {r.Error}",
            FailureKind.HttpStatus => $"POST {sender.Endpoint} returned {r.Error} (check --backend and --base-url)",
            _ => $"test request to {sender.Endpoint} failed ({r.FailureKey}): {r.Error}",
        };
        if (problem is not null) throw new InvalidOperationException(problem);
    }
}
