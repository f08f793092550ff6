using Quanta.Model;

namespace Quanta.Cli.Commands;

/// <summary>Runs a command body; any failure becomes one line on stderr and a non-zero exit, never a stack trace.</summary>
internal static class CommandGuard
{
    public static async Task<int> Run(Func<Task<int>> body)
    {
        try { return await body(); }
        catch (OperationCanceledException) { Console.Error.WriteLine("error: cancelled"); return 130; }
        catch (ModelLoadException e) { return Fail(e.Message); }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or FormatException
                                      or UnauthorizedAccessException or NotSupportedException or InvalidOperationException)
        { return Fail(e.Message); }
        catch (Exception e) when (Environment.GetEnvironmentVariable("QUANTA_TRACE") is null)
        { return Fail($"{e.GetType().Name}: {e.Message}"); }
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message.ReplaceLineEndings(" "));
        return 1;
    }
}
