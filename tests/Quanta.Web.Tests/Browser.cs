using Microsoft.Playwright;
using Quanta.Cli;
using Quanta.Server;
using Quanta.Tests;

namespace Quanta.Web.Tests;

/// <summary>
/// Debian's Chromium driven by Playwright (its bundled Node driver, no browser download) and one `quanta serve`
/// over the built-in stories260K model, shared by the browser tests. Without a Chromium the tests skip.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    /// <summary>QUANTA_CHROMIUM, else Debian's path.</summary>
    public static string ChromiumPath => Environment.GetEnvironmentVariable("QUANTA_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    IPlaywright? _playwright;
    IBrowser? _browser;
    ServerClient? _server;

    internal ServerClient Server => _server ?? throw new InvalidOperationException("server not started");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath)) return;
        // Expect() waits 5 s by default: too short for a first answer on a loaded 2-core machine.
        Assertions.SetDefaultExpectTimeout(20_000);
        _server = await StartServerAsync(new ServerOptions());
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = ChromiumPath, Headless = true });
    }

    /// <summary>`quanta serve --device cpu` over stories260K on an ephemeral port.</summary>
    internal static async Task<ServerClient> StartServerAsync(ServerOptions options)
    {
        var args = new ServeArgs { Device = "cpu", MaxBatchTotalTokens = 8192, Server = options with { Port = 0 } };
        return new ServerClient(await ServeSetup.StartAsync(args, TextWriter.Null, CancellationToken.None), TimeSpan.FromSeconds(60));
    }

    /// <summary>A fresh page at <paramref name="width"/> x <paramref name="height"/>; skips the test when no Chromium is installed.</summary>
    public async Task<IPage> NewPageAsync(int width = 1280, int height = 800)
    {
        if (_browser is null)
            Assert.Skip($"no Chromium at {ChromiumPath}: install Debian's `chromium` (.ci/run does) or set QUANTA_CHROMIUM");
        var context = await _browser.NewContextAsync(new() { ViewportSize = new() { Width = width, Height = height }, BaseURL = Server.Server.Address });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(20_000);
        return page;
    }

    /// <summary>Where screenshots go: docs/screenshots when QUANTA_SCREENSHOTS=docs (to refresh the committed ones), else the test output.</summary>
    public static string ScreenshotPath(string name)
    {
        var dir = Environment.GetEnvironmentVariable("QUANTA_SCREENSHOTS") == "docs"
            ? Path.Combine(TestPaths.RepoRoot, "docs", "screenshots")
            : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }

    public async ValueTask DisposeAsync()
    {
        // Closing the browser ends its Chromium processes; disposing Playwright ends the Node driver.
        if (_browser is not null) await _browser.CloseAsync();
        _playwright?.Dispose();
        if (_server is not null) await _server.DisposeAsync();
    }
}
