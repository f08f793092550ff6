using System.CommandLine;
using Quanta.Cli;

namespace Quanta.Tests.Engine;

[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary>Runs the quanta command line in-process and captures stdout and stderr (Console.Error too, for CommandGuard).</summary>
internal static class CliRunner
{
    public static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            int code = await CliCommands.InvokeAsync(args, new InvocationConfiguration { Output = output, Error = error },
                                                     TestContext.Current.CancellationToken);
            return (code, output.ToString(), error.ToString());
        }
        finally { Console.SetError(saved); }
    }
}
