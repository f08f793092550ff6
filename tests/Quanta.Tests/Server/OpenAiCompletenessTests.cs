using System.Diagnostics;
using System.Text.Json;
using Quanta.Engine;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>What the official OpenAI clients and LangChain-style callers use: prompt lists, n, logprobs, streamed choices.</summary>
public class OpenAiCompletenessTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    TestServer S => fx.S;

    static string Text(JsonElement choice) => choice.GetProperty("text").GetString()!;

    [Fact]
    public async Task Prompt_lists_token_ids_and_n_make_one_choice_each()
    {
        var json = await S.PostJsonAsync("/v1/completions", new { prompt = new[] { "Once", "Twice" }, max_tokens = 5, temperature = 0, n = 2 });
        var choices = json.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2, 3], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal([.. Enumerable.Repeat(HashRunner.Reference("Once", 5, out _), 2), .. Enumerable.Repeat(HashRunner.Reference("Twice", 5, out _), 2)],
                     choices.Select(Text));
        var usage = json.GetProperty("usage");
        Assert.Equal((5 + 6, 4 * 5), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32()));

        int[] once = [1, .. "Once".Select(c => c + 3)];
        var ids = await S.PostJsonAsync("/v1/completions", new { prompt = once, max_tokens = 5, temperature = 0 });
        Assert.Equal(HashRunner.Reference("Once", 5, out _), Text(ids.GetProperty("choices")[0]));
        var lists = await S.PostJsonAsync("/v1/completions", new { prompt = new[] { once, [1, 'A' + 3] }, max_tokens = 3, temperature = 0 });
        Assert.Equal([HashRunner.Reference("Once", 3, out _), HashRunner.Reference("A", 3, out _)],
                     lists.GetProperty("choices").EnumerateArray().Select(Text));

        using var tooMany = await S.PostAsync("/v1/completions", new { prompt = "a", n = 3 });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, tooMany.StatusCode);
        using var badId = await S.PostAsync("/v1/completions", new { prompt = new[] { 1, 100000 }, max_tokens = 2 });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badId.StatusCode);
    }

    [Fact]
    public async Task Sampled_choices_differ_and_a_seed_makes_them_reproducible()
    {
        object Body() => new { prompt = "Seeded", max_tokens = 12, temperature = 1.5, top_k = 50, n = 2, seed = 42 };
        var a = (await S.PostJsonAsync("/v1/completions", Body())).GetProperty("choices").EnumerateArray().Select(Text).ToList();
        var b = (await S.PostJsonAsync("/v1/completions", Body())).GetProperty("choices").EnumerateArray().Select(Text).ToList();
        Assert.Equal(a, b);
        Assert.NotEqual(a[0], a[1]);   // choice j samples with seed + j
    }

    [Fact]
    public async Task Chat_logprobs_list_each_token_with_bytes_and_alternatives()
    {
        var messages = new[] { new { role = "user", content = "Hi" } };
        var json = await S.PostJsonAsync("/v1/chat/completions", new { messages, max_tokens = 4, temperature = 0, logprobs = true, top_logprobs = 2 });
        var choice = json.GetProperty("choices")[0];
        var content = choice.GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();
        Assert.Equal(4, content.Count);
        Assert.Equal(choice.GetProperty("message").GetProperty("content").GetString(), string.Concat(content.Select(c => c.GetProperty("token").GetString())));
        foreach (var c in content)
        {
            Assert.True(c.GetProperty("logprob").GetSingle() <= 0);
            Assert.Equal((int)c.GetProperty("token").GetString()![0], c.GetProperty("bytes")[0].GetInt32());
            var tops = c.GetProperty("top_logprobs").EnumerateArray().ToList();
            Assert.Equal(2, tops.Count);
            Assert.Equal(c.GetProperty("token").GetString(), tops[0].GetProperty("token").GetString());
        }
        var plain = await S.PostJsonAsync("/v1/chat/completions", new { messages, max_tokens = 2 });
        Assert.Equal(JsonValueKind.Null, plain.GetProperty("choices")[0].GetProperty("logprobs").ValueKind);
    }

    [Fact]
    public async Task Completion_logprobs_give_tokens_alternatives_and_offsets()
    {
        var json = await S.PostJsonAsync("/v1/completions", new { prompt = "Offsets", max_tokens = 5, temperature = 0, logprobs = 1, echo = true });
        var choice = json.GetProperty("choices")[0];
        var lp = choice.GetProperty("logprobs");
        var tokens = lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToList();
        Assert.Equal("Offsets" + string.Concat(tokens), Text(choice));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => "Offsets".Length + i), lp.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()));
        Assert.Equal(5, lp.GetProperty("token_logprobs").GetArrayLength());
        Assert.All(lp.GetProperty("top_logprobs").EnumerateArray(), d => Assert.Single(d.EnumerateObject()));
    }

    [Fact]
    public async Task Streamed_choices_carry_their_index_and_leave_the_stop_sequence_out()
    {
        var full = HashRunner.Reference("Streams", 16, out _);
        string stop = full.Substring(6, 2);
        var events = await S.PostSseAsync("/v1/completions", new { prompt = "Streams", max_tokens = 16, temperature = 0, n = 2, stream = true, stop });
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(JsonExt.Parse).ToList();
        foreach (int index in new[] { 0, 1 })
        {
            var mine = chunks.Select(c => c.GetProperty("choices")[0]).Where(c => c.GetProperty("index").GetInt32() == index).ToList();
            Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], string.Concat(mine.Select(Text)));
            Assert.Equal("stop", mine[^1].GetProperty("finish_reason").GetString());
        }
    }

    [Fact]
    public async Task Stream_events_go_out_as_tokens_come_even_with_stop_sequences()
    {
        await using var s = await TestServer.StartAsync(stepDelayMs: 250);
        using var req = new HttpRequestMessage(HttpMethod.Post, "/generate_stream")
        {
            Content = JsonContent(new { inputs = "slow", parameters = new { max_new_tokens = 3, stop = new[] { "never here" } } }),
        };
        using var res = await s.Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, Ct);
        var reader = new StreamReader(await res.Content.ReadAsStreamAsync(Ct));
        var arrivals = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        while (await reader.ReadLineAsync(Ct) is { } line)
            if (line.StartsWith("data:", StringComparison.Ordinal)) arrivals.Add(clock.Elapsed);
        Assert.Equal(3, arrivals.Count);
        // Each token leaves when it is made, one step (250 ms) apart: none is held for the next one.
        Assert.True(arrivals[1] - arrivals[0] > TimeSpan.FromMilliseconds(120), string.Join(", ", arrivals));
    }

    [Fact]
    public async Task Info_reports_the_engines_own_settings()
    {
        var info = JsonExt.Parse(await S.Client.GetStringAsync("/info", Ct));
        Assert.Equal(256, info.GetProperty("max_batch_size").GetInt32());
        Assert.Equal(EngineOptions.DefaultMaxBatchPrefillTokens + 256, info.GetProperty("max_num_batched_tokens").GetInt32());   // 0 shown resolved
        await using var s = await TestServer.StartAsync(engine: new EngineOptions
        {
            MaxRunningSequences = 8, MaxBatchPrefillTokens = 600, MaxWaitingTokens = 7, MaxNumBatchedTokens = 300,
        });
        var mine = JsonExt.Parse(await s.Client.GetStringAsync("/info", Ct));
        Assert.Equal((8, 600, 7, 300), (mine.GetProperty("max_batch_size").GetInt32(), mine.GetProperty("max_batch_prefill_tokens").GetInt32(),
                                        mine.GetProperty("max_waiting_tokens").GetInt32(), mine.GetProperty("max_num_batched_tokens").GetInt32()));
    }

    static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}
