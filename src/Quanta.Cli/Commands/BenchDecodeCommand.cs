using System.CommandLine;
using Quanta.Bench.Dataset;
using Quanta.Bench.Decode;
using Quanta.Cli.Commands;
using Quanta.Engine;
using Quanta.Grammar;
using Quanta.IO;
using Quanta.Model;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddBenchDecode(Command bench)
    {
        var cmd = new Command("decode", "Decode and prefill speed of a backend on a model, with the memory-bandwidth roofline");
        var modelId = new Option<string>("--model-id") { Description = "Model folder or .bin (no tokenizer needed)", Required = true };
        var batches = new Option<string>("--batch") { Description = "Comma list of decode batch sizes", DefaultValueFactory = _ => "1,8,32,128" };
        var tokens = new Option<int>("--tokens") { Description = "Decode steps per batch size", DefaultValueFactory = _ => 256 }.AtLeast(1);
        var prompt = new Option<int>("--prompt-tokens") { Description = "Tokens of the timed single-sequence prefill", DefaultValueFactory = _ => 2048 }.AtLeast(0);
        var context = new Option<int>("--context") { Description = "Tokens each sequence holds before decode starts", DefaultValueFactory = _ => 16 }.AtLeast(1);
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var hostLogits = new Option<bool>("--host-logits") { Description = "Copy every logits row to the host each step instead of choosing tokens on the device" };
        var noQueue = new Option<bool>("--no-queue") { Description = "Wait for each step before preparing the next (serve queues each decode step while the one before runs)" };
        var temperature = new Option<float>("--temperature") { Description = "Sample with this temperature instead of greedily (with --top-k/--top-p: 1)", DefaultValueFactory = _ => 0f }.AtLeast(0f);
        var topK = new Option<int>("--top-k") { Description = "Sample from the k most likely tokens (0 = off)", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var topP = new Option<float>("--top-p") { Description = "Sample from the smallest set of tokens holding this probability mass (1 = off)", DefaultValueFactory = _ => 1f }.Must(v => v is > 0 and <= 1, "in (0, 1]");
        var profile = new Option<bool>("--profile") { Description = "CUDA: print GPU milliseconds per phase of the steps (runs them without graphs, one at a time)" };
        var grammar = new Option<string?>("--grammar")
        {
            Description = "Constrain every row: 'json' (an array of strings, which never ends within --tokens), 'regex:PATTERN', or a JSON Schema file",
        };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "With --grammar: the vocabulary's tokenizer, as bench serve's --tokenizer (default: the model's)",
        };
        foreach (var o in new Option[] { modelId, batches, tokens, prompt, context, device, hostLogits, noQueue, temperature, topK, topP, profile, grammar, tokenizer })
            cmd.Options.Add(o);
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(() =>
        {
            var bs = pr.GetValue(batches)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var b) && b > 0 ? b : throw new ArgumentException($"--batch: '{s}' is not a positive integer")).ToArray();
            int steps = pr.GetValue(tokens), promptTokens = pr.GetValue(prompt), ctx0 = pr.GetValue(context);
            float t = pr.GetValue(temperature), p = pr.GetValue(topP);
            int k = pr.GetValue(topK);
            var sampling = new SamplingParams { DoSample = t > 0 || k > 0 || p < 1, Temperature = t > 0 ? t : 1f, TopK = k, TopP = p };
            string model = pr.GetValue(modelId)!;
            using var ck = ModelLoader.Open(model);
            var o = new DecodeBenchOptions(bs, steps, promptTokens, ctx0, pr.GetValue(hostLogits), !pr.GetValue(noQueue), sampling)
            {
                Grammar = pr.GetValue(grammar) is { } g ? BenchGrammar(g, pr.GetValue(tokenizer), model, ck.Config) : null,
            };
            using var runner = RunnerFactory.Create(ck.Config, ck.Weights, pr.GetValue(device)!, DecodeBenchOptions.BlockSize, o.KvTokens, Console.Out,
                o.MaxStepTokens, cudaProfile: pr.GetValue(profile));
            DecodeBenchmark.Run(runner, ck.Weights, o, Console.Out, ct);
            return Task.FromResult(0);
        }));
        bench.Subcommands.Add(cmd);
    }

    /// <summary>The grammar of <c>--grammar</c> compiled over the model's vocabulary (the tokenizer from <c>--tokenizer</c>, else the model's).</summary>
    static TokenGrammar BenchGrammar(string value, string? tokenizerPath, string model, LlamaConfig config)
    {
        var spec = value == "json" ? new GrammarSpec(GrammarKind.Json, DecodeBenchmark.EndlessSchema)
            : value.StartsWith("regex:", StringComparison.Ordinal) ? new GrammarSpec(GrammarKind.Regex, value["regex:".Length..])
            : File.Exists(value) ? new GrammarSpec(GrammarKind.Json, File.ReadAllText(value))
            : throw new ArgumentException($"--grammar {value}: not 'json', 'regex:PATTERN' or a JSON Schema file");
        var tok = LocalTokenCounter.Open(tokenizerPath ?? model);
        return new GrammarCache(new TokenVocabulary(tok, config.VocabSize, [tok.EosId])).Get(spec);
    }
}
