using static Quanta.Tests.Server.TestCt;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Quanta.Server;
using Quanta.Server.Web;
using Quanta.Tests.Server;

namespace Quanta.Tests.Web;

/// <summary>The page routes, --no-web, the API key rule for pages, and /stats, over HTTP (the browser tests are in Quanta.Web.Tests).</summary>
public class WebRouteTests
{
    static readonly string[] Pages = ["/", "/playground", "/dashboard", "/web/style.css", "/web/common.js", "/web/chat.js", "/web/dashboard.js"];

    [Fact]
    public async Task Pages_come_from_the_assembly_with_a_self_only_content_policy()
    {
        await using var s = await TestServer.StartAsync();
        using var res = await s.Client.GetAsync("/", Ct);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("text/html", res.Content.Headers.ContentType?.MediaType);
        string html = await res.Content.ReadAsStringAsync(Ct);
        Assert.Contains("<script src=\"/web/chat.js\"", html);
        Assert.Contains("default-src 'none'", res.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(html, await s.Client.GetStringAsync("/playground", Ct));
        Assert.Contains("/web/dashboard.js", await s.Client.GetStringAsync("/dashboard", Ct));
        using var css = await s.Client.GetAsync("/web/style.css", Ct);
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await s.Client.GetAsync("/web/nope.js", Ct)).StatusCode);

        using var again = new HttpRequestMessage(HttpMethod.Get, "/web/style.css");
        again.Headers.IfNoneMatch.Add(css.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await s.Client.SendAsync(again, Ct)).StatusCode);
    }

    [Fact]
    public void The_static_files_are_small_and_load_nothing_from_elsewhere()
    {
        var files = WebRoutes.Files;
        Assert.Equal(["chat.js", "common.js", "dashboard.html", "dashboard.js", "index.html", "style.css"], files.Keys.Order());
        Assert.True(files.Values.Sum() < 100_000, $"{files.Values.Sum()} bytes of pages");
        foreach (var name in files.Keys)
        {
            using var stream = typeof(WebRoutes).Assembly.GetManifestResourceStream("quanta.web." + name)!;
            string text = new StreamReader(stream, Encoding.UTF8).ReadToEnd();
            Assert.DoesNotContain("http://", text);
            Assert.DoesNotContain("https://", text);
            Assert.DoesNotContain("src=\"//", text);
        }
    }

    [Fact]
    public async Task No_web_turns_the_pages_off_and_keeps_stats()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { Web = false });
        foreach (var path in Pages)
            Assert.Equal(HttpStatusCode.NotFound, (await s.Client.GetAsync(path, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await s.Client.GetAsync("/stats", Ct)).StatusCode);
    }

    [Fact]
    public async Task With_an_api_key_pages_load_without_it_and_every_data_route_needs_it()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { ApiKey = "k1" });
        foreach (var path in Pages)
            Assert.Equal(HttpStatusCode.OK, (await s.Client.GetAsync(path, Ct)).StatusCode);
        foreach (var path in new[] { "/stats", "/metrics", "/info", "/v1/models" })
            Assert.Equal(HttpStatusCode.Unauthorized, (await s.Client.GetAsync(path, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await s.PostAsync("/", new { inputs = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await s.Client.GetAsync("/health", Ct)).StatusCode);

        using var req = new HttpRequestMessage(HttpMethod.Get, "/stats");
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k1");
        Assert.Equal(HttpStatusCode.OK, (await s.Client.SendAsync(req, Ct)).StatusCode);

        await using var off = await TestServer.StartAsync(new ServerOptions { ApiKey = "k1", Web = false });
        Assert.Equal(HttpStatusCode.Unauthorized, (await off.Client.GetAsync("/", Ct)).StatusCode);
    }

    [Fact]
    public async Task Stats_show_a_running_request_then_its_tokens_and_latencies()
    {
        await using var s = await TestServer.StartAsync(stepDelayMs: 5);
        var idle = JsonExt.Parse(await s.Client.GetStringAsync("/stats", Ct));
        Assert.Equal("hash-model", idle.GetProperty("model_id").GetString());
        Assert.Equal((256, 16), (idle.GetProperty("kv_blocks_total").GetInt32(), idle.GetProperty("kv_block_size").GetInt32()));
        Assert.Equal(0, idle.GetProperty("ttft_ms").GetProperty("count").GetInt64());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, idle.GetProperty("ttft_ms").GetProperty("p50").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, idle.GetProperty("gpu_memory_total_bytes").ValueKind);

        var slow = s.PostJsonAsync("/generate", new { inputs = "slow one", parameters = new { max_new_tokens = 200, ignore_eos = true } });
        System.Text.Json.JsonElement busy;
        do busy = JsonExt.Parse(await s.Client.GetStringAsync("/stats", Ct));
        while (busy.GetProperty("batch_size").GetInt32() == 0 && !slow.IsCompleted);
        Assert.Equal(1, busy.GetProperty("requests_in_flight").GetInt32());
        Assert.Equal(1, busy.GetProperty("batch_size").GetInt32());
        Assert.True(busy.GetProperty("kv_blocks_used").GetInt32() > 0);
        await slow;
        await s.PostJsonAsync("/v1/completions", new { prompt = "two", max_tokens = 30, ignore_eos = true });

        var done = JsonExt.Parse(await s.Client.GetStringAsync("/stats", Ct));
        Assert.Equal(2, done.GetProperty("requests_total").GetInt64());
        Assert.Equal(2, done.GetProperty("requests_succeeded_total").GetInt64());
        Assert.Equal(230, done.GetProperty("generated_tokens_total").GetInt64());
        Assert.True(done.GetProperty("generated_tokens_per_second").GetDouble() > 0);
        Assert.Equal(2, done.GetProperty("ttft_ms").GetProperty("count").GetInt64());
        Assert.Equal(228, done.GetProperty("itl_ms").GetProperty("count").GetInt64());
        // Each decode step sleeps 5 ms, so the median gap between tokens is at least that.
        Assert.InRange(done.GetProperty("itl_ms").GetProperty("p50").GetDouble(), 4.5, 1000);
        Assert.Equal(0, done.GetProperty("kv_blocks_used").GetInt32());
    }
}
