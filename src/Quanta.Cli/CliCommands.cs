using System.CommandLine;

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
    }

    static partial void AddGenerate(RootCommand root);
    static partial void AddServe(RootCommand root);
    static partial void AddBench(RootCommand root);
    static partial void AddQuantize(RootCommand root);
    static partial void AddModel(RootCommand root);
    static partial void AddTemplate(RootCommand root);
}
