using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Quanta.Tests.Bench;

/// <summary>Runs the real CLI in a child process: bad input must give one line on stderr and a non-zero exit.</summary>
public class BenchCliTests
{
    static ProcessStartInfo Start(string[] args)
    {
        var dll = typeof(Quanta.Cli.BenchServeCommand).Assembly.Location;   // the CLI assembly, whatever its file name
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    internal static async Task<(int Code, string Out, string Err)> RunCli(params string[] args)
    {
        using var p = Process.Start(Start(args))!;
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
        AssertOneLineError(await RunCli("bench", "serve", "--dataset", "/nonexistent/sharegpt.json"), "/nonexistent/sharegpt.json", "not found");

    [Fact]
    public async Task DatasetOfWrongShape()
    {
        var f = Path.GetTempFileName();
        File.WriteAllText(f, """{"conversations": []}""");
        try { AssertOneLineError(await RunCli("bench", "serve", "--dataset", f, "--output-len", "4"), f, "expected a JSON array"); }
        finally { File.Delete(f); }
    }

    [Fact]
    public async Task UnreachableServer() =>
        AssertOneLineError(await RunCli("bench", "serve", "--dataset", "random", "--input-len", "8", "--num-prompts", "2",
            "--base-url", FakeTgiServer.ClosedPortUrl().AbsoluteUri), "cannot reach the server");

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);

    /// <summary>True when this process ignores SIGINT (a background job): children inherit that, so Ctrl-C cannot be tested.</summary>
    static bool SigIntIgnored() =>
        File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:")) is { } line
        && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 2) != 0;

    [Fact]
    public async Task CtrlC_PrintsWhatWasMeasured()
    {
        if (!OperatingSystem.IsLinux() || SigIntIgnored()) Assert.Skip("needs Linux with SIGINT not ignored");
        await using var server = await FakeTgiServer.StartAsync(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20));
        using var p = Process.Start(Start(["bench", "serve", "--dataset", "random", "--input-len", "8", "--output-len", "10",
            "--num-prompts", "200", "--request-interval", "0.05", "--base-url", server.BaseUrl.AbsoluteUri]))!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref server.Requests) < 6 && DateTime.UtcNow < deadline) await Task.Delay(20, TestContext.Current.CancellationToken);
        Assert.Equal(0, kill(p.Id, 2));
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        string output = await stdout;
        Assert.True(p.ExitCode == 130, $"exit {p.ExitCode}; stderr: {await stderr}");
        Assert.Contains("interrupted: results so far", output);
        Assert.Contains("| 0.05 (interrupted) |", output);
        Assert.True(server.Requests < 100);                                  // it stopped sending
    }

    [Fact]
    public void ArrivalLists_SweepIntervalsOrRates()
    {
        Assert.Equal([0.5, 0.02], Quanta.Cli.BenchServeCommand.ParseArrivals("0.5, 0.02", null, 3).Select(a => a.Interval!.Value));
        var rates = Quanta.Cli.BenchServeCommand.ParseArrivals(null, "2,8", 3);
        Assert.Equal([2.0, 8.0], rates.Select(a => a.Rate!.Value));
        Assert.All(rates, a => Assert.Equal(3, a.Seed));
        Assert.Equal([Quanta.Bench.Arrival.AllAtOnce], Quanta.Cli.BenchServeCommand.ParseArrivals(null, null, 0));
        Assert.Contains("not both", Assert.Throws<ArgumentException>(() => Quanta.Cli.BenchServeCommand.ParseArrivals("1", "2", 0)).Message);
        Assert.Contains("'0'", Assert.Throws<ArgumentException>(() => Quanta.Cli.BenchServeCommand.ParseArrivals(null, "0", 0)).Message);
    }

    [Fact]
    public async Task BadFlags()
    {
        AssertOneLineError(await RunCli("bench", "serve", "--dataset", "random", "--backend", "grpc"), "--backend", "grpc");
        AssertOneLineError(await RunCli("bench", "serve", "--dataset", "random", "--request-interval", "1,x"), "--request-interval", "'x'");
        AssertOneLineError(await RunCli("bench", "compare", "/nonexistent/a.json", "/nonexistent/b.json"), "/nonexistent/a.json");
    }
}
