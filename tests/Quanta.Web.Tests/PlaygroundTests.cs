using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Quanta.Web.Tests;

/// <summary>The playground in Chromium against `quanta serve` with stories260K.</summary>
[Collection(nameof(BrowserCollection))]
public sealed class PlaygroundTests(Browser b)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<ILocator> SendAsync(IPage page, string prompt, string state = "done")
    {
        await page.FillAsync("#prompt", prompt);
        await page.PressAsync("#prompt", "Enter");
        var answer = page.Locator(".msg.assistant").Last;
        await Expect(answer).ToHaveAttributeAsync("data-state", state);
        return answer;
    }

    static async Task SetAsync(IPage page, string temperature, string maxTokens, string seed = "")
    {
        await page.FillAsync("#temperature", temperature);
        await page.FillAsync("#max-tokens", maxTokens);
        await page.FillAsync("#seed", seed);
    }

    [Fact]
    public async Task The_answer_streams_in_token_by_token_and_matches_the_api()
    {
        var page = await b.NewPageAsync();
        await page.GotoAsync("/");
        await Expect(page.Locator("#model")).ToHaveTextAsync("stories260K");
        await SetAsync(page, "0", "120");
        await page.EvaluateAsync(PageScripts.RecordAnswerLengths);
        // stories260K writes 120 tokens in a few milliseconds on an idle machine, which can reach the page as one
        // network read; a throttled link (about 1.5 s for this answer) makes each token's arrival observable.
        var cdp = await ThrottleAsync(page, 20_000);
        var answer = await SendAsync(page, "Once upon a time");
        await ThrottleAsync(page, -1, cdp);
        string text = await answer.Locator(".text").TextContentAsync() ?? "";
        var updates = await page.EvaluateAsync<int[][]>("() => window.__updates");
        var lengths = updates.Select(u => u[0]).ToList();
        Assert.Equal(text.Length, lengths[^1]);
        Assert.Equal(lengths.Order(), lengths);
        var partial = lengths.Where(l => l > 0 && l < text.Length).Distinct().Count();
        Assert.True(partial >= 20, $"only {partial} partial answers shown: {string.Join(",", lengths)}");
        // The first tokens were on screen before the last ones reached the page.
        Assert.True(updates[0][1] < updates[^1][1], $"the whole answer appeared at once: {string.Join(" ", updates.Select(u => $"{u[0]}@{u[1]}"))}");
        Assert.Matches(@"TTFT \d+ ms · [\d.]+ tok/s · \d+ tokens", await answer.Locator(".stats").TextContentAsync());

        var api = await b.Server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Once upon a time" } }, temperature = 0, max_tokens = 120,
        });
        Assert.Equal(api.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), text);
    }

    [Fact]
    public async Task Stop_cancels_the_request_and_frees_its_kv_blocks()
    {
        var page = await b.NewPageAsync();
        await page.GotoAsync("/");
        await SetAsync(page, "0.8", "480");
        await page.EvaluateAsync(PageScripts.StopAfterChars, 20);
        // As in the streaming test: on a fast machine the whole answer (or its end of sequence) could arrive in one read.
        await ThrottleAsync(page, 20_000);
        var answer = await SendAsync(page, "Once upon a time", state: "stopped");
        int tokens = int.Parse(await answer.GetAttributeAsync("data-tokens") ?? "0");
        Assert.InRange(tokens, 1, 479);
        Assert.Contains("stopped", await answer.Locator(".stats").TextContentAsync());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await b.Server.MetricAsync("quanta_kv_cache_blocks_used") > 0 || await b.Server.MetricAsync("quanta_requests_in_flight") > 0)
               && DateTime.UtcNow < deadline)
            await Task.Delay(50, Ct);
        Assert.Equal(0, await b.Server.MetricAsync("quanta_kv_cache_blocks_used"));
        Assert.Equal(0, await b.Server.MetricAsync("quanta_requests_in_flight"));
        await Expect(page.Locator("#send")).ToBeEnabledAsync();
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_answer_and_the_controls_reach_the_request()
    {
        var page = await b.NewPageAsync();
        await page.GotoAsync("/");
        await SetAsync(page, "1.2", "40", "7");
        await page.FillAsync("#top-k", "20");
        await page.FillAsync("#stop-seqs", "zzz\nqqq");
        var request = page.WaitForRequestAsync("**/v1/chat/completions");
        string first = await (await SendAsync(page, "Tom and Lily")).Locator(".text").TextContentAsync() ?? "";
        var body = (await request).PostDataJSON()!.Value;
        Assert.Equal(1.2, body.GetProperty("temperature").GetDouble(), 6);
        Assert.Equal(7, body.GetProperty("seed").GetInt32());
        Assert.Equal(20, body.GetProperty("top_k").GetInt32());
        Assert.Equal(40, body.GetProperty("max_tokens").GetInt32());
        Assert.True(body.GetProperty("stream").GetBoolean());
        Assert.Equal(["zzz", "qqq"], body.GetProperty("stop").EnumerateArray().Select(e => e.GetString()));

        await page.ClickAsync("#clear");
        await Expect(page.Locator(".msg")).ToHaveCountAsync(0);
        string again = await (await SendAsync(page, "Tom and Lily")).Locator(".text").TextContentAsync() ?? "";
        Assert.Equal(first, again);

        await page.ClickAsync("#clear");
        await page.FillAsync("#seed", "8");
        string other = await (await SendAsync(page, "Tom and Lily")).Locator(".text").TextContentAsync() ?? "";
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task The_json_schema_box_sends_openai_response_format()
    {
        var page = await b.NewPageAsync();
        await page.GotoAsync("/");
        await page.FillAsync("#schema", "{not json");
        await page.FillAsync("#prompt", "Hello");
        await page.PressAsync("#prompt", "Enter");
        await Expect(page.Locator("#error")).ToContainTextAsync("not valid JSON");
        await Expect(page.Locator(".msg")).ToHaveCountAsync(0);

        await SetAsync(page, "0", "20");
        await page.FillAsync("#schema", """{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}""");
        var request = page.WaitForRequestAsync("**/v1/chat/completions");
        await page.PressAsync("#prompt", "Enter");
        var format = (await request).PostDataJSON()!.Value.GetProperty("response_format");
        Assert.Equal("json_schema", format.GetProperty("type").GetString());
        var schema = format.GetProperty("json_schema");
        Assert.Equal("response", schema.GetProperty("name").GetString());
        Assert.Equal("string", schema.GetProperty("schema").GetProperty("properties").GetProperty("name").GetProperty("type").GetString());
        // The server answers or says why it will not; the page shows one or the other.
        var answer = page.Locator(".msg.assistant").Last;
        await Expect(answer).Not.ToHaveAttributeAsync("data-state", "streaming");
        if (await answer.GetAttributeAsync("data-state") == "error") await Expect(page.Locator("#error")).Not.ToBeEmptyAsync();
        else Assert.Equal("done", await answer.GetAttributeAsync("data-state"));
    }

    [Fact]
    public async Task Shift_enter_adds_a_line_and_enter_sends()
    {
        var page = await b.NewPageAsync();
        await page.GotoAsync("/");
        await SetAsync(page, "0", "8");
        await page.FillAsync("#prompt", "Once");
        await page.PressAsync("#prompt", "Shift+Enter");
        await page.Keyboard.TypeAsync("upon");
        Assert.Equal("Once\nupon", await page.InputValueAsync("#prompt"));
        await Expect(page.Locator(".msg")).ToHaveCountAsync(0);
        await page.PressAsync("#prompt", "Enter");
        await Expect(page.Locator(".msg.user .text")).ToHaveTextAsync("Once\nupon");
        await Expect(page.Locator(".msg.assistant")).ToHaveAttributeAsync("data-state", "done");
        await Expect(page.Locator("#prompt")).ToBeFocusedAsync();
    }

    /// <summary>Limits the page's download rate (bytes/s; -1 lifts the limit) through the DevTools protocol; returns its client for later calls.</summary>
    static async Task<ICDPSession> ThrottleAsync(IPage page, int bytesPerSecond, ICDPSession? cdp = null)
    {
        if (cdp is null)
        {
            cdp = await page.Context.NewCDPSessionAsync(page);
            await cdp.SendAsync("Network.enable");
        }
        await cdp.SendAsync("Network.emulateNetworkConditions", new Dictionary<string, object>
        {
            ["offline"] = false, ["latency"] = 0, ["downloadThroughput"] = bytesPerSecond, ["uploadThroughput"] = -1,
        });
        return cdp;
    }
}

[CollectionDefinition(nameof(BrowserCollection))]
public sealed class BrowserCollection : ICollectionFixture<Browser>;
