using System.Diagnostics;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>
/// The official `openai` Node client (npm, installed once into ~/.cache/quanta-tests/node or $QUANTA_NODE_CACHE)
/// against a test server: tool calls whole and streamed through its stream helper, a named tool_choice, and
/// response_format. Skips only when node or npm is not installed.
/// </summary>
public class OpenAiNodeClientTests
{
    const string Package = "openai@7.55.0";

    static string CacheDir => Environment.GetEnvironmentVariable("QUANTA_NODE_CACHE") is { Length: > 0 } dir ? dir
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "quanta-tests", "node");

    static async Task<(int Code, string Output)> Run(string file, string args, string dir, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file, args) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        try { await p.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw; }
        return (p.ExitCode, (await stdout) + (await stderr));
    }

    static async Task<bool> Exists(string tool)
    {
        try { return (await Run(tool, "--version", Path.GetTempPath())).Code == 0; }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    /// <summary>The node_modules folder holding the pinned client, installed on first use.</summary>
    static async Task<string> ClientModules()
    {
        if (!await Exists("node") || !await Exists("npm")) Assert.Skip("node and npm are needed for the official openai Node client test");
        var dir = CacheDir;
        var modules = Path.Combine(dir, "node_modules");
        if (File.Exists(Path.Combine(modules, "openai", "package.json"))
            && File.ReadAllText(Path.Combine(modules, "openai", "package.json")).Contains($"\"version\": \"{Package.Split('@')[1]}\""))
            return modules;
        Directory.CreateDirectory(dir);
        if (!File.Exists(Path.Combine(dir, "package.json"))) File.WriteAllText(Path.Combine(dir, "package.json"), """{"private": true}""");
        var (code, output) = await Run("npm", $"install --no-audit --no-fund {Package}", dir);
        Assert.True(code == 0, $"npm install {Package} failed:\n{output}");
        return modules;
    }

    [Fact]
    public async Task Official_node_client_reads_tool_calls_streams_and_json_schema_output()
    {
        var modules = await ClientModules();
        await using var s = await ToolServers.StartAsync(ToolServers.Hermes);
        var script = Path.Combine(TestPaths.RepoRoot, "tests", "Quanta.Tests", "Server", "Node", "openai-client.cjs");
        var (code, output) = await Run("node", $"\"{script}\" {s.Server.Address}/v1", TestPaths.RepoRoot, new Dictionary<string, string> { ["NODE_PATH"] = modules });
        Assert.True(code == 0, output);
        Assert.Equal("ok", output.Trim());
    }
}
