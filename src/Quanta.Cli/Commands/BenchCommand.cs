using System.CommandLine;
using System.Globalization;
using Quanta.Bench;
using Quanta.Bench.Client;
using Quanta.Bench.Report;
using Quanta.Cli.Commands;
using Spectre.Console;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    /// <summary>The cuda area adds <c>bench decode</c> to the same <c>bench</c> command in its own file.</summary>
    static partial void AddBenchDecode(Command bench);
    static partial void AddBenchKernels(Command bench);

    static partial void AddBench(RootCommand root)
    {
        var bench = new Command("bench", "Benchmarks: serving (serve), run comparison (compare), model decode (decode), GPU kernels (kernels)");
        bench.Subcommands.Add(BenchServeCommand.Create());
        bench.Subcommands.Add(BenchServeCommand.CreateCompare());
        AddBenchDecode(bench);
        AddBenchKernels(bench);
        root.Subcommands.Add(bench);
    }
}

/// <summary><c>quanta bench serve</c> and <c>quanta bench compare</c>.</summary>
internal static class BenchServeCommand
{
    public static Command Create()
    {
        var cmd = new Command("serve", "Measure a running TGI/OpenAI-compatible server with ShareGPT or random prompts");
        var baseUrl = new Option<string>("--base-url") { Description = "Server address", DefaultValueFactory = _ => "http://127.0.0.1:3000" };
        var backend = new Option<string>("--backend") { Description = "API: tgi (/generate_stream), openai (/v1/completions), openai-chat (/v1/chat/completions)", DefaultValueFactory = _ => "tgi" };
        var model = new Option<string?>("--model") { Description = "Model name for OpenAI backends (default: the server's first in /v1/models)" };
        var dataset = new Option<string>("--dataset") { Description = "ShareGPT JSON file, or 'random'", Required = true };
        var numPrompts = new Option<int>("--num-prompts") { Description = "Requests per run", DefaultValueFactory = _ => 100 }.AtLeast(1);
        var seed = new Option<int>("--seed") { Description = "Sampling and Poisson seed", DefaultValueFactory = _ => 0 };
        var inputLen = new Option<int>("--input-len") { Description = "Prompt tokens for --dataset random", DefaultValueFactory = _ => 1024 }.AtLeast(1);
        var outputLen = new Option<int?>("--output-len") { Description = "Tokens to generate per request (default: the ShareGPT reply's length; 128 for random)" }.AtLeast(1);
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Model folder or tokenizer file for token counts (default: the server's POST /tokenize)" };
        var interval = new Option<string?>("--request-interval") { Description = "Seconds between sends; a comma list runs a sweep (e.g. 1,0.5,0.25,0.05,0.02)" };
        var rate = new Option<string?>("--request-rate") { Description = "Poisson arrivals at this many requests/s (seeded); a comma list runs a sweep; default: all at once" };
        var maxConc = new Option<int?>("--max-concurrency") { Description = "Most requests in flight at once" }.AtLeast(1);
        var timeout = new Option<double>("--timeout") { Description = "Seconds before a request counts as timed out", DefaultValueFactory = _ => 600 }.Must(v => v > 0, "> 0 seconds");
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Ask the server to ignore EOS so every request generates --output-len tokens (TGI itself has no such parameter)", DefaultValueFactory = _ => true };
        var output = new Option<string?>("--output") { Description = "Folder for results.json, results.md and chart.png" };
        var fit = new Option<bool>("--fit-to-server") { Description = "ShareGPT: cut prompts over the server's max_input_tokens at a word (to half its max_total_tokens) and lower outputs to what is left, instead of skipping them as vLLM does" };
        foreach (var o in new Option[] { baseUrl, backend, model, dataset, numPrompts, seed, inputLen, outputLen, tokenizer, interval, rate, maxConc, timeout, ignoreEos, output, fit })
            cmd.Options.Add(o);

        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(async () =>
        {
            var opts = new ServeBenchOptions
            {
                BaseUrl = ParseUrl(pr.GetValue(baseUrl)!),
                Backend = ParseBackend(pr.GetValue(backend)!),
                Model = pr.GetValue(model),
                Dataset = pr.GetValue(dataset)!,
                NumPrompts = pr.GetValue(numPrompts),
                Seed = pr.GetValue(seed),
                InputLen = pr.GetValue(inputLen),
                OutputLen = pr.GetValue(outputLen),
                Tokenizer = pr.GetValue(tokenizer),
                Arrivals = ParseArrivals(pr.GetValue(interval), pr.GetValue(rate), pr.GetValue(seed)),
                MaxConcurrency = pr.GetValue(maxConc),
                Timeout = TimeSpan.FromSeconds(pr.GetValue(timeout)),
                IgnoreEos = pr.GetValue(ignoreEos),
                FitToServer = pr.GetValue(fit),
            };
            if (opts.Dataset != "random" && !File.Exists(opts.Dataset))
                throw new FileNotFoundException($"--dataset {opts.Dataset}: file not found (a ShareGPT JSON file, or 'random')");
            using var http = ServeBenchmark.CreateHttpClient();
            // System.CommandLine 2.0.0 leaves Ctrl-C unhandled by default: the first press stops the run
            // and prints what was measured; a second press ends the process.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            ConsoleCancelEventHandler onCtrlC = (_, e) => { e.Cancel = !stop.IsCancellationRequested; stop.Cancel(); };
            Console.CancelKeyPress += onCtrlC;
            BenchReport report;
            try { report = await SpectreProgress.RunAsync(p => ServeBenchmark.RunAsync(opts, http, p, stop.Token)); }
            finally { Console.CancelKeyPress -= onCtrlC; }
            bool interrupted = stop.IsCancellationRequested || report.Runs.Any(r => r.Interrupted);
            Print(report, interrupted);
            if (pr.GetValue(output) is { } dir)
            {
                report.WriteAll(dir);
                Console.WriteLine($"wrote {Path.Combine(dir, "results.json")}, results.md, chart.png");
            }
            return interrupted ? 130 : 0;
        }));
        return cmd;
    }

    public static Command CreateCompare()
    {
        var cmd = new Command("compare", "Print two bench serve results.json side by side with ratios (B/A)");
        var a = new Argument<string>("A") { Description = "First results.json" };
        var b = new Argument<string>("B") { Description = "Second results.json" };
        cmd.Arguments.Add(a);
        cmd.Arguments.Add(b);
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(() =>
        {
            string pa = pr.GetValue(a)!, pb = pr.GetValue(b)!;
            Console.Write(Compare.Render(BenchReport.Load(pa), pa, BenchReport.Load(pb), pb));
            return Task.FromResult(0);
        }));
        return cmd;
    }

    static void Print(BenchReport report, bool interrupted)
    {
        if (interrupted) Console.WriteLine("interrupted: results so far");
        Console.WriteLine($"backend {report.Backend}, {report.BaseUrl}, model {report.Model ?? "-"}, {report.NumPrompts} prompts");
        foreach (var note in report.Notes) Console.WriteLine("note: " + note);
        Console.WriteLine();
        Console.Write(MarkdownReport.SweepTable(report.Runs));
        Console.WriteLine();
        Console.Write(MarkdownReport.Details(report.Runs));
        foreach (var kv in report.Runs.SelectMany(r => r.FailureExamples).DistinctBy(kv => kv.Key))
            Console.WriteLine($"failure {kv.Key}: {kv.Value}");
    }

    static Uri ParseUrl(string s) =>
        Uri.TryCreate(s, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" ? u
            : throw new ArgumentException($"--base-url '{s}' is not an http(s) URL");

    static BackendKind ParseBackend(string s) => s switch
    {
        "tgi" => BackendKind.Tgi,
        "openai" => BackendKind.OpenAi,
        "openai-chat" => BackendKind.OpenAiChat,
        _ => throw new ArgumentException($"--backend must be tgi, openai or openai-chat, not '{s}'"),
    };

    internal static List<Arrival> ParseArrivals(string? intervals, string? rates, int seed)
    {
        if (intervals is not null && rates is not null) throw new ArgumentException("give --request-interval or --request-rate, not both");
        if (rates is not null)
            return [.. Numbers("--request-rate", rates, "requests/s > 0", v => v > 0).Select(r => new Arrival(Rate: r, Seed: seed))];
        if (intervals is not null)
            return [.. Numbers("--request-interval", intervals, "seconds >= 0", v => v >= 0).Select(i => new Arrival(Interval: i, Seed: seed))];
        return [Arrival.AllAtOnce];
    }

    static IEnumerable<double> Numbers(string flag, string list, string what, Func<double, bool> valid)
    {
        foreach (var part in list.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || !valid(v))
                throw new ArgumentException($"{flag}: '{part}' is not a number of {what}");
            yield return v;
        }
    }
}

/// <summary>Spectre.Console progress bar on stderr (only when stderr is a terminal): one bar per run, failures in its title.</summary>
internal sealed class SpectreProgress(ProgressContext ctx) : IBenchProgress
{
    ProgressTask? _status, _run;
    string _label = "";
    int _failed;

    public static Task<T> RunAsync<T>(Func<IBenchProgress?, Task<T>> body)
    {
        if (Console.IsErrorRedirected) return body(null);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(ctx => body(new SpectreProgress(ctx)));
    }

    public void Status(string message)
    {
        _status ??= ctx.AddTask(message, maxValue: 1);
        _status.Description = message;
    }

    public void RunStarted(string label, int requests)
    {
        if (_status is not null) { _status.Value = _status.MaxValue; _status.StopTask(); }
        _run?.StopTask();
        _label = $"run {label}";
        _failed = 0;
        _run = ctx.AddTask(_label, maxValue: requests);
    }

    public void RequestDone(RequestOutcome outcome)
    {
        if (_run is null) return;
        if (!outcome.Success && outcome.Failure != FailureKind.Cancelled)
            _run.Description = $"{_label} ({Interlocked.Increment(ref _failed)} failed)";
        _run.Increment(1);
    }
}
