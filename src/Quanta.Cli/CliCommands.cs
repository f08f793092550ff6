using System.CommandLine;
using System.CommandLine.Invocation;

namespace Quanta.Cli;

/// <summary>Registers every subcommand; each area implements its partial method in Commands/.</summary>
internal static partial class CliCommands
{
    public static void AddAll(RootCommand root)
    {
        AddGenerate(root);     // Commands/GenerateCommand.cs
        AddServe(root);        // Commands/ServeCommand.cs
        AddBench(root);        // Commands/BenchCommand.cs (bench serve, bench compare, bench decode)
        AddQuantize(root);     // Commands/QuantizeCommand.cs (quantize, perplexity)
        AddModel(root);        // Commands/ModelCommand.cs (model synth)
        AddTemplate(root);     // Commands/TemplateCommand.cs (template render)
        Commands.OptionChecks.ParseAllNumbers(root);
    }

    /// <summary>
    /// Parses and runs a command line. Parse errors (a bad number, a value out of range, an unknown option) are
    /// printed as one <c>error:</c> line each, without the help text, and exit with 1 before the command starts.
    /// </summary>
    public static Task<int> InvokeAsync(string[] args, InvocationConfiguration? config = null, CancellationToken ct = default)
    {
        var root = new RootCommand("Quanta: text-generation inference for quantized Llama-family models");
        AddAll(root);
        var parsed = root.Parse(args);
        if (parsed.Action is not ParseErrorAction) return parsed.InvokeAsync(config, ct);
        var error = config?.Error ?? Console.Error;
        foreach (var e in parsed.Errors) error.WriteLine("error: " + e.Message.ReplaceLineEndings(" "));
        return Task.FromResult(1);
    }

    static partial void AddGenerate(RootCommand root);
    static partial void AddServe(RootCommand root);
    static partial void AddBench(RootCommand root);
    static partial void AddQuantize(RootCommand root);
    static partial void AddModel(RootCommand root);
    static partial void AddTemplate(RootCommand root);
}
