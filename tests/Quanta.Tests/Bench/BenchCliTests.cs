using System.Diagnostics;

namespace Quanta.Tests.Bench;

/// <summary>Runs the real CLI in a child process: bad input must give one line on stderr and a non-zero exit.</summary>
public class BenchCliTests
{
    internal static async Task<(int Code, string Out, string Err)> Quanta(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "quanta.dll");
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (p.ExitCode, await stdout, await stderr);
    }

    static void AssertOneLineError((int Code, string Out, string Err) r, params string[] expected)
    {
        Assert.NotEqual(0, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "stderr: " + r.Err);
        Assert.StartsWith("error: ", lines[0]);
        foreach (var e in expected) Assert.Contains(e, lines[0]);
    }

    [Fact]
    public async Task MissingDataset() =>
        AssertOneLineError(await Quanta("bench", "serve", "--dataset", "/nonexistent/sharegpt.json"), "/nonexistent/sharegpt.json", "not found");

    [Fact]
    public async Task DatasetOfWrongShape()
    {
        var f = Path.GetTempFileName();
        File.WriteAllText(f, """{"conversations": []}""");
        try { AssertOneLineError(await Quanta("bench", "serve", "--dataset", f, "--output-len", "4"), f, "expected a JSON array"); }
        finally { File.Delete(f); }
    }

    [Fact]
    public async Task UnreachableServer() =>
        AssertOneLineError(await Quanta("bench", "serve", "--dataset", "random", "--input-len", "8", "--num-prompts", "2",
            "--base-url", FakeTgiServer.ClosedPortUrl().AbsoluteUri), "cannot reach the server");

    [Fact]
    public async Task BadFlags()
    {
        AssertOneLineError(await Quanta("bench", "serve", "--dataset", "random", "--backend", "grpc"), "--backend", "grpc");
        AssertOneLineError(await Quanta("bench", "serve", "--dataset", "random", "--request-interval", "1,x"), "--request-interval", "'x'");
        AssertOneLineError(await Quanta("bench", "compare", "/nonexistent/a.json", "/nonexistent/b.json"), "/nonexistent/a.json");
    }
}
