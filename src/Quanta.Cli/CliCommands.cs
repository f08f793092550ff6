using System.CommandLine;

namespace Quanta.Cli;

/// <summary>Registers every subcommand; each lives in its own file under Commands/.</summary>
internal static class CliCommands
{
    public static void AddAll(RootCommand root)
    {
        // Each area adds its command here: generate, serve, bench, quantize, perplexity, model.
    }
}
