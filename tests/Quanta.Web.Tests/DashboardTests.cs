using System.Net.Http.Json;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Quanta.Server;
using static Microsoft.Playwright.Assertions;

namespace Quanta.Web.Tests;

/// <summary>The dashboard under load, both pages' accessibility and screenshots, and the API key flow.</summary>
[Collection(nameof(BrowserCollection))]
public sealed class DashboardTests(Browser b)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<long> NumberAsync(IPage page, string selector) => long.Parse(await page.TextContentAsync(selector) ?? "0");

    [Fact]
    public async Task The_dashboard_numbers_move_while_a_bounded_load_runs()
    {
        var page = await b.NewPageAsync();
        await page.GotoAsync("/dashboard");
        await Expect(page.Locator("#live")).ToContainTextAsync("live");
        long requests0 = await NumberAsync(page, "#requests-total"), tokens0 = await NumberAsync(page, "#v-tokens");

        // Two clients send one request after another, 480 tokens each, until the page has shown two token counts
        // between the start and the end and a request in flight; at most 200 requests and 30 s, so the load is
        // bounded on any machine and long enough for the page's once-a-second poll on a fast one.
        const int MaxRequests = 200;
        var seenTokens = new SortedSet<long>();
        bool seenInFlight = false;
        int started = 0, completed = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.CancelAfter(TimeSpan.FromSeconds(30));
        async Task Client()
        {
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref started) <= MaxRequests)
            {
                using var res = await b.Server.Client.PostAsJsonAsync("/v1/completions",
                    new { prompt = $"Once upon a time {started}", max_tokens = 480, ignore_eos = true, temperature = 0 }, Ct);
                res.EnsureSuccessStatusCode();
                Interlocked.Increment(ref completed);
            }
        }
        var load = Task.WhenAll(Client(), Client());
        while (!load.IsCompleted)
        {
            long tokens = await NumberAsync(page, "#v-tokens");
            if (tokens > tokens0) seenTokens.Add(tokens);
            seenInFlight |= await NumberAsync(page, "#v-inflight") > 0;
            if (seenTokens.Count >= 2 && seenInFlight) stop.Cancel();
            await Task.Delay(100, Ct);
        }
        await load;
        int requests = completed;
        await Expect(page.Locator("#requests-total")).ToHaveTextAsync((requests0 + requests).ToString());
        await Expect(page.Locator("#v-tokens")).ToHaveTextAsync((tokens0 + requests * 480).ToString());
        Assert.True(seenTokens.Count >= 2, $"token counts seen during the load: {string.Join(",", seenTokens)}");
        Assert.True(seenInFlight, "in-flight requests never shown above 0");
        await Expect(page.Locator("#v-ttft-p50")).Not.ToHaveTextAsync("–");
        await Expect(page.Locator("#v-itl-p99")).Not.ToHaveTextAsync("–");
        await Expect(page.Locator("#v-gpu")).ToHaveTextAsync("n/a");
        await Expect(page.Locator("#v-kv-total")).ToHaveTextAsync("512");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("dashboard-desktop.png") });
        await page.SetViewportSizeAsync(390, 844);
        await page.WaitForTimeoutAsync(1100);   // one more poll redraws the charts at the new width
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("dashboard-phone.png") });
    }

    [Theory]
    [InlineData("/", 1280, 800, "playground-desktop.png")]
    [InlineData("/", 390, 844, "playground-phone.png")]
    [InlineData("/dashboard", 1280, 800, null)]
    [InlineData("/dashboard", 390, 844, null)]
    public async Task Pages_have_no_serious_accessibility_violations(string path, int width, int height, string? screenshot)
    {
        var page = await b.NewPageAsync(width, height);
        await page.GotoAsync(path);
        if (path == "/")
        {
            if (width < 760) await page.ClickAsync("#settings summary");     // collapsed on a phone
            await page.FillAsync("#system", "You tell short stories.");
            await page.FillAsync("#temperature", "0");
            await page.FillAsync("#max-tokens", "60");
            await page.FillAsync("#prompt", "Once upon a time");
            await page.PressAsync("#prompt", "Enter");
            await Expect(page.Locator(".msg.assistant")).ToHaveAttributeAsync("data-state", "done");
            if (width < 760) await page.ClickAsync("#settings summary");
        }
        else await Expect(page.Locator("#live")).ToContainTextAsync("live");
        if (screenshot is not null) await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath(screenshot) });
        var results = await page.RunAxe();
        var serious = results.Violations.Where(v => v.Impact is "serious" or "critical")
            .Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target.ToString()))}").ToList();
        Assert.True(serious.Count == 0, string.Join("\n", serious));
    }

    [Fact]
    public async Task With_an_api_key_the_page_loads_asks_for_the_key_and_then_works()
    {
        await using var server = await Browser.StartServerAsync(new ServerOptions { ApiKey = "sekret" });
        var page = await b.NewPageAsync();
        var res = await page.GotoAsync(server.Server.Address + "/");
        Assert.Equal(200, res!.Status);
        var dialog = page.Locator("#key-dialog");
        await Expect(dialog).ToBeVisibleAsync();
        await page.FillAsync("#key-input", "sekret");
        await page.PressAsync("#key-input", "Enter");
        await Expect(dialog).ToBeHiddenAsync();
        await Expect(page.Locator("#model")).ToHaveTextAsync("stories260K");
        await page.FillAsync("#max-tokens", "10");
        await page.FillAsync("#prompt", "Once upon a time");
        await page.PressAsync("#prompt", "Enter");
        await Expect(page.Locator(".msg.assistant")).ToHaveAttributeAsync("data-state", "done");
        Assert.Equal("sekret", await page.EvaluateAsync<string>("() => sessionStorage.getItem('quanta.apiKey')"));

        await page.GotoAsync(server.Server.Address + "/dashboard");
        await Expect(page.Locator("#live")).ToContainTextAsync("live");
        await Expect(dialog).ToBeHiddenAsync();
        await page.EvaluateAsync("() => sessionStorage.setItem('quanta.apiKey', 'wrong')");
        await page.ReloadAsync();
        await Expect(dialog).ToBeVisibleAsync();
    }
}
