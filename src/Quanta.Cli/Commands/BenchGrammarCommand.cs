using System.CommandLine;
using Quanta.Bench;
using Quanta.Bench.Dataset;
using Quanta.Cli.Commands;

namespace Quanta.Cli;

/// <summary><c>quanta bench grammar</c>: constrained decoding's CPU cost on a tokenizer's vocabulary.</summary>
internal static class BenchGrammarCommand
{
    public static Command Create()
    {
        var cmd = new Command("grammar", "Constrained decoding on the CPU: schema compilation time and the mask cost per row and step");
        var tokenizer = new Option<string>("--tokenizer") { Description = "The vocabulary: tokenizer.json, tokenizer.model, a model folder or a checkpoint", Required = true };
        var schema = new Option<string?>("--schema") { Description = "JSON Schema file (default: a built-in 20-property object)" };
        var rows = new Option<int>("--rows") { Description = "Outputs generated side by side", DefaultValueFactory = _ => 32 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per output", DefaultValueFactory = _ => 256 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        foreach (var o in new Option[] { tokenizer, schema, rows, maxTokens, seed }) cmd.Options.Add(o);
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(() =>
        {
            var tok = LocalTokenCounter.Open(pr.GetValue(tokenizer)!);
            string? schemaText = pr.GetValue(schema) is { } f ? File.ReadAllText(f) : null;
            if (pr.GetValue(rows) < 1 || pr.GetValue(maxTokens) < 1) throw new ArgumentException("--rows and --max-tokens must be positive");
            var r = GrammarBenchmark.Run(tok, tok.VocabSize, new GrammarBenchOptions
            {
                Schema = schemaText, Rows = pr.GetValue(rows), MaxTokens = pr.GetValue(maxTokens), Seed = pr.GetValue(seed),
            });
            Console.WriteLine($"vocabulary: {r.Vocab} tokens, trie built in {r.VocabularyMs:F1} ms");
            Console.WriteLine($"schema compiled in {r.CompileMs:F2} ms, the process's first compile {r.FirstCompileMs:F1} ms ({(schemaText is null ? "built-in 20-property object" : pr.GetValue(schema))}); first mask {r.FirstMaskMs:F2} ms");
            Console.WriteLine($"{pr.GetValue(rows)} rows, {r.MeanTokens:F0} tokens per output on average, {r.Completed} of {pr.GetValue(rows)} complete; {r.States} automaton states");
            Console.WriteLine($"mask cost per row and step: cold {r.ColdUsPerRowStep:F1} us (masks built on first use), warm {r.WarmUsPerRowStep:F1} us (p99 {r.WarmP99Us:F1} us)");
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
