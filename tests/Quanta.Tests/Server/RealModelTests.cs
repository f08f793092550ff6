using System.Text.Json;
using Quanta.Cli;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>End to end through `quanta serve`'s setup: real loader, tokenizer, CPU backend and engine.</summary>
public class RealModelTests
{
    static async Task<TestServer> Serve(string? modelId, int kvTokens, ServerOptions? options = null)
    {
        var args = new ServeArgs { ModelId = modelId, Device = "cpu", MaxBatchTotalTokens = kvTokens, Server = (options ?? new()) with { Port = 0 } };
        return TestServer.Wrap(await ServeSetup.StartAsync(args, TextWriter.Null, Ct));
    }

    static object Greedy(string inputs, int n, bool ignoreEos = false)
        => new { inputs, parameters = new { max_new_tokens = n, details = true, ignore_eos = ignoreEos } };

    static int[] Ids(JsonElement generate)
        => generate.GetProperty("details").GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()).ToArray();

    [Fact]
    public async Task Stories260K_sixty_four_concurrent_clients_get_their_solo_greedy_tokens()
    {
        await using var s = await Serve(null, 8192);
        var info = JsonExt.Parse(await s.Client.GetStringAsync("/info", Ct));
        Assert.Equal(8192, info.GetProperty("max_batch_total_tokens").GetInt32());
        var prompts = Enumerable.Range(0, 64).Select(i => (i % 4) switch
        {
            0 => $"Once upon a time, there was a little girl number {i}",
            1 => $"Tom and Lily went to the park {i} times",
            2 => new string('a', i + 1),
            _ => $"The cat {i}",
        }).ToList();
        var solo = new List<int[]>();
        foreach (var p in prompts) solo.Add(Ids(await s.PostJsonAsync("/generate", Greedy(p, 32, ignoreEos: true))));
        var together = await Task.WhenAll(prompts.Select(async p => Ids(await s.PostJsonAsync("/generate", Greedy(p, 32, ignoreEos: true)))));
        for (int i = 0; i < prompts.Count; i++) Assert.True(solo[i].SequenceEqual(together[i]), $"client {i} ('{prompts[i]}') differs from its solo run");
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
    }

    [Fact]
    public async Task Stories260K_stream_matches_generate_and_ends_on_eos_or_length()
    {
        await using var s = await Serve(null, 4096);
        var g = await s.PostJsonAsync("/generate", Greedy("Once upon a time", 60));
        var events = (await s.PostSseAsync("/generate_stream", Greedy("Once upon a time", 60))).Select(JsonExt.Parse).ToList();
        var last = events[^1];
        Assert.Equal(g.GetProperty("generated_text").GetString(), last.GetProperty("generated_text").GetString());
        Assert.Equal(g.GetProperty("details").GetProperty("finish_reason").GetString(), last.GetProperty("details").GetProperty("finish_reason").GetString());
        Assert.Equal(Ids(g), events.Select(e => e.GetProperty("token").GetProperty("id").GetInt32()));
        Assert.Equal(g.GetProperty("generated_text").GetString(),
            string.Concat(events.Where(e => !e.GetProperty("token").GetProperty("special").GetBoolean())
                                .Select(e => e.GetProperty("token").GetProperty("text").GetString())).TrimStart());
    }

    [Fact]
    public async Task Stories260K_request_without_max_new_tokens_ends_its_story_with_eos_token()
    {
        await using var s = await Serve(null, 4096);
        var g = await s.PostJsonAsync("/generate", new { inputs = "Once upon a time", parameters = new { details = true } });
        var details = g.GetProperty("details");
        Assert.Equal("eos_token", details.GetProperty("finish_reason").GetString());
        Assert.InRange(details.GetProperty("generated_tokens").GetInt32(), 1, 512 - 6);   // ends before the 512-token context
        Assert.Equal(1, Ids(g)[^1]);                                                      // at BOS, where llama2.c stops
    }

    [Fact]
    public async Task Stories260K_default_kv_cache_is_what_its_batch_can_fill_and_holds_a_full_batch()
    {
        var log = new StringWriter();
        var args = new ServeArgs { Device = "cpu", Server = new ServerOptions { Port = 0 } };   // no --max-batch-total-tokens
        await using var s = TestServer.Wrap(await ServeSetup.StartAsync(args, log, Ct));
        // min(--max-batch-size 256, 128 concurrent requests x best_of 2) sequences x 512 positions, 1280 bytes a token
        var info = JsonExt.Parse(await s.Client.GetStringAsync("/info", Ct));
        Assert.Equal(256 * 512, info.GetProperty("max_batch_total_tokens").GetInt32());
        Assert.Contains("= 131072 tokens, 160.0 MiB (256 sequences x 512 tokens at most", log.ToString());

        // Under load: as many requests as are admitted at once, all served, every block back afterwards.
        var body = new { inputs = "Once upon a time", parameters = new { max_new_tokens = 100, ignore_eos = true, details = true } };
        var all = await Task.WhenAll(Enumerable.Range(0, 128).Select(_ => s.PostJsonAsync("/generate", body)));
        Assert.All(all, g => Assert.Equal(100, g.GetProperty("details").GetProperty("generated_tokens").GetInt32()));
        Assert.Equal(0, await s.MetricAsync("quanta_preemptions"));
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
    }

    [Fact]
    public async Task Llama2_fixture_tokenizes_and_generates_the_reference_greedy_tokens()
    {
        var dir = TestPaths.Fixture("tiny-llama-f16");
        var cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json"))).RootElement.GetProperty("cases");
        await using var s = await Serve(dir, 2048);
        foreach (var c in cases.EnumerateArray())
        {
            var prompt = c.GetProperty("prompt").GetString()!;
            var expectedIds = c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var toks = await s.PostJsonAsync("/tokenize", new { inputs = prompt });
            Assert.Equal(expectedIds, toks.EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
            var g = await s.PostJsonAsync("/generate", Greedy(prompt, 24, ignoreEos: true));
            Assert.Equal(c.GetProperty("greedy_24").EnumerateArray().Select(e => e.GetInt32()), Ids(g));
        }
    }

    [Fact]
    public async Task Llama2_fixture_chat_prompt_is_the_inst_format()
    {
        await using var s = await Serve(TestPaths.Fixture("tiny-llama-f16"), 2048);
        var chat = await s.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new object[] { new { role = "user", content = "What is GPTQ?" } }, max_tokens = 5, temperature = 0,
        });
        var toks = await s.PostJsonAsync("/tokenize", new { inputs = "[INST] What is GPTQ? [/INST]" });
        Assert.Equal(toks.GetArrayLength(), chat.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var completion = await s.PostJsonAsync("/v1/completions", new { prompt = "[INST] What is GPTQ? [/INST]", max_tokens = 5, temperature = 0 });
        Assert.Equal(completion.GetProperty("choices")[0].GetProperty("text").GetString(),
                     chat.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }
}
