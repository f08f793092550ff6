using static Quanta.Tests.Server.TestCt;
using System.Net;
using System.Text.Json;

namespace Quanta.Tests.Server;

public class TgiRouteTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    TestServer S => fx.S;

    [Fact]
    public async Task Generate_returns_greedy_text_details_and_timing_headers()
    {
        using var res = await S.PostAsync("/generate", new { inputs = "Hello world", parameters = new { max_new_tokens = 12, details = true } });
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var json = await res.JsonAsync();
        Assert.Equal(HashRunner.Reference("Hello world", 12, out _), json.GetProperty("generated_text").GetString());
        var d = json.GetProperty("details");
        Assert.Equal("length", d.GetProperty("finish_reason").GetString());
        Assert.Equal(12, d.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, d.GetProperty("seed").ValueKind);
        Assert.Equal(0, d.GetProperty("prefill").GetArrayLength());
        var tokens = d.GetProperty("tokens");
        Assert.Equal(12, tokens.GetArrayLength());
        Assert.Equal(json.GetProperty("generated_text").GetString(), string.Concat(tokens.EnumerateArray().Select(t => t.GetProperty("text").GetString())));
        Assert.All(tokens.EnumerateArray(), t => Assert.True(t.GetProperty("logprob").GetSingle() <= 0f));
        Assert.False(d.TryGetProperty("top_tokens", out _));
        foreach (var h in new[] { "x-compute-type", "x-compute-time", "x-compute-characters", "x-total-time", "x-validation-time",
                                  "x-queue-time", "x-inference-time", "x-time-per-token" })
            Assert.True(res.Headers.Contains(h), h);
        Assert.Equal("12", res.Headers.GetValues("x-prompt-tokens").Single());   // BOS + 11 bytes
        Assert.Equal("12", res.Headers.GetValues("x-generated-tokens").Single());
        Assert.Equal("11", res.Headers.GetValues("x-compute-characters").Single());
    }

    [Fact]
    public async Task Generate_without_details_has_only_generated_text()
    {
        var json = await S.PostJsonAsync("/generate", new { inputs = "abc", parameters = new { max_new_tokens = 3 } });
        Assert.Equal(["generated_text"], json.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Eos_stop_sequence_full_text_prefill_and_top_tokens()
    {
        var eos = await S.PostJsonAsync("/generate", new { inputs = "end here#", parameters = new { details = true } });
        Assert.Equal("eos_token", eos.GetProperty("details").GetProperty("finish_reason").GetString());
        Assert.Equal(1, eos.GetProperty("details").GetProperty("generated_tokens").GetInt32());
        Assert.Equal("", eos.GetProperty("generated_text").GetString());

        var full = HashRunner.Reference("stop test", 20, out _);
        var stop = full.Substring(5, 2);
        int end = full.IndexOf(stop, StringComparison.Ordinal) + stop.Length;   // TGI keeps the stop sequence
        var s = await S.PostJsonAsync("/generate", new { inputs = "stop test", parameters = new { max_new_tokens = 20, stop = new[] { stop }, details = true } });
        Assert.Equal("stop_sequence", s.GetProperty("details").GetProperty("finish_reason").GetString());
        Assert.Equal(full[..end], s.GetProperty("generated_text").GetString());
        Assert.Equal(end, s.GetProperty("details").GetProperty("generated_tokens").GetInt32());
        var compat = await S.PostJsonAsync("/", new { inputs = "stop test", parameters = new { max_new_tokens = 20, stop = new[] { stop }, return_full_text = true } });
        Assert.Equal("stop test" + full[..end], compat[0].GetProperty("generated_text").GetString());

        var f = await S.PostJsonAsync("/generate", new
        {
            inputs = "xyz", parameters = new { max_new_tokens = 4, return_full_text = true, details = true, decoder_input_details = true, top_n_tokens = 2 },
        });
        Assert.Equal("xyz" + HashRunner.Reference("xyz", 4, out _), f.GetProperty("generated_text").GetString());
        var prefill = f.GetProperty("details").GetProperty("prefill");
        Assert.Equal(4, prefill.GetArrayLength());
        Assert.Equal(1, prefill[0].GetProperty("id").GetInt32());
        Assert.Equal(JsonValueKind.Null, prefill[0].GetProperty("logprob").ValueKind);
        Assert.Equal(JsonValueKind.Number, prefill[1].GetProperty("logprob").ValueKind);
        var top = f.GetProperty("details").GetProperty("top_tokens");
        Assert.Equal(4, top.GetArrayLength());
        Assert.All(top.EnumerateArray(), t => Assert.Equal(2, t.GetArrayLength()));
    }

    [Fact]
    public async Task Sampling_with_seed_is_reproducible_and_reports_the_seed()
    {
        object body = new { inputs = "seeded", parameters = new { max_new_tokens = 8, do_sample = true, temperature = 5.0, seed = 42, details = true } };
        var a = await S.PostJsonAsync("/generate", body);
        var b = await S.PostJsonAsync("/generate", body);
        Assert.Equal(a.GetProperty("generated_text").GetString(), b.GetProperty("generated_text").GetString());
        Assert.Equal(42UL, a.GetProperty("details").GetProperty("seed").GetUInt64());
    }

    [Fact]
    public async Task Best_of_returns_the_other_sequences()
    {
        var json = await S.PostJsonAsync("/generate", new { inputs = "best", parameters = new { max_new_tokens = 5, best_of = 2, do_sample = true, details = true } });
        var others = json.GetProperty("details").GetProperty("best_of_sequences");
        Assert.Equal(1, others.GetArrayLength());
        Assert.Equal(5, others[0].GetProperty("generated_tokens").GetInt32());
    }

    [Fact]
    public async Task Generate_stream_sends_tgi_events_with_text_and_details_on_the_last()
    {
        var events = await S.PostSseAsync("/generate_stream", new { inputs = "stream me", parameters = new { max_new_tokens = 10, details = true } });
        Assert.Equal(10, events.Count);
        var parsed = events.Select(JsonExt.Parse).ToList();
        for (int i = 0; i < parsed.Count; i++)
        {
            Assert.Equal(i + 1, parsed[i].GetProperty("index").GetInt32());
            var token = parsed[i].GetProperty("token");
            Assert.False(token.GetProperty("special").GetBoolean());
            Assert.True(token.TryGetProperty("id", out _) && token.TryGetProperty("logprob", out _));
            bool last = i == parsed.Count - 1;
            Assert.Equal(last ? JsonValueKind.String : JsonValueKind.Null, parsed[i].GetProperty("generated_text").ValueKind);
            Assert.Equal(last ? JsonValueKind.Object : JsonValueKind.Null, parsed[i].GetProperty("details").ValueKind);
        }
        var expected = HashRunner.Reference("stream me", 10, out _);
        Assert.Equal(expected, string.Concat(parsed.Select(p => p.GetProperty("token").GetProperty("text").GetString())));
        Assert.Equal(expected, parsed[^1].GetProperty("generated_text").GetString());
        var d = parsed[^1].GetProperty("details");
        Assert.Equal("length", d.GetProperty("finish_reason").GetString());
        Assert.Equal(10, d.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(10, d.GetProperty("input_length").GetInt32());
    }

    [Fact]
    public async Task Stream_with_stop_sequence_ends_on_the_stop_token()
    {
        var full = HashRunner.Reference("stops", 20, out _);
        var stop = full.Substring(6, 1);
        var events = (await S.PostSseAsync("/generate_stream", new { inputs = "stops", parameters = new { max_new_tokens = 20, stop = new[] { stop } } }))
            .Select(JsonExt.Parse).ToList();
        int end = full.IndexOf(stop, StringComparison.Ordinal) + 1;
        Assert.Equal(full[..end], events[^1].GetProperty("generated_text").GetString());
        Assert.Equal(end, events.Count);
        Assert.Equal(stop, events[^1].GetProperty("token").GetProperty("text").GetString());
    }

    [Fact]
    public async Task Best_of_sequences_keep_the_stop_sequence()
    {
        var full = HashRunner.Reference("best stop", 20, out _);
        var stop = full.Substring(3, 2);
        var expected = full[..(full.IndexOf(stop, StringComparison.Ordinal) + 2)];
        // temperature 0.5 on the fake model's logits (10 on one token) is greedy in all but ~1e-6 of draws.
        var json = await S.PostJsonAsync("/generate", new
        {
            inputs = "best stop", parameters = new { max_new_tokens = 20, best_of = 2, do_sample = true, temperature = 0.5, stop = new[] { stop }, details = true },
        });
        Assert.Equal(expected, json.GetProperty("generated_text").GetString());
        var other = json.GetProperty("details").GetProperty("best_of_sequences")[0];
        Assert.Equal("stop_sequence", other.GetProperty("finish_reason").GetString());
        Assert.Equal(expected, other.GetProperty("generated_text").GetString());
        Assert.Equal(expected, string.Concat(other.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("text").GetString())));
    }

    [Fact]
    public async Task Compat_route_dispatches_on_stream()
    {
        var json = await S.PostJsonAsync("/", new { inputs = "compat", parameters = new { max_new_tokens = 3 } });
        Assert.Equal(JsonValueKind.Array, json.ValueKind);
        Assert.Equal(HashRunner.Reference("compat", 3, out _), json[0].GetProperty("generated_text").GetString());
        var events = await S.PostSseAsync("/", new { inputs = "compat", stream = true, parameters = new { max_new_tokens = 3 } });
        Assert.Equal(3, events.Count);
    }

    [Fact]
    public async Task Info_health_tokenize_and_metrics()
    {
        var info = JsonExt.Parse(await S.Client.GetStringAsync("/info", Ct));
        Assert.Equal("hash-model", info.GetProperty("model_id").GetString());
        Assert.Equal(256 * 16, info.GetProperty("max_batch_total_tokens").GetInt32());
        Assert.Equal(512, info.GetProperty("max_total_tokens").GetInt32());
        Assert.Equal(511, info.GetProperty("max_input_tokens").GetInt32());
        Assert.Equal(QuantaVersion, info.GetProperty("version").GetString());
        Assert.Equal("cpu", info.GetProperty("model_device_type").GetString());
        Assert.Equal("cpu (fake)", info.GetProperty("device").GetString());
        foreach (var f in new[] { "max_concurrent_requests", "max_best_of", "max_stop_sequences", "validation_workers", "model_device_type" })
            Assert.True(info.TryGetProperty(f, out _), f);

        using (var health = await S.Client.GetAsync("/health", Ct)) Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        var toks = await S.PostJsonAsync("/tokenize", new { inputs = "hé!" });
        Assert.Equal([1, 'h' + 3, 0xC3 + 3, 0xA9 + 3, '!' + 3], toks.EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
        Assert.Equal("", toks[0].GetProperty("text").GetString());
        Assert.Equal("h", toks[1].GetProperty("text").GetString());
        Assert.Equal((0, 1), (toks[1].GetProperty("start").GetInt32(), toks[1].GetProperty("stop").GetInt32()));
        Assert.Equal("é", toks[3].GetProperty("text").GetString() + toks[2].GetProperty("text").GetString());
        Assert.Equal("!", toks[4].GetProperty("text").GetString());

        await S.PostJsonAsync("/generate", new { inputs = "count me", parameters = new { max_new_tokens = 2 } });
        var metrics = await S.Client.GetStringAsync("/metrics", Ct);
        foreach (var name in new[] { "tgi_request_count", "tgi_request_success", "tgi_request_failure", "tgi_request_duration",
                     "tgi_request_queue_duration", "tgi_request_inference_duration", "tgi_request_mean_time_per_token_duration",
                     "tgi_request_generated_tokens", "tgi_request_input_length", "tgi_batch_current_size",
                     "tgi_batch_current_max_tokens", "tgi_queue_size", "quanta_kv_cache_blocks_used", "quanta_kv_cache_blocks_total",
                     "quanta_prefix_cache_queries", "quanta_prefix_cache_hits" })
            Assert.Contains($"# TYPE {name} ", metrics);
        Assert.True(await S.MetricAsync("tgi_request_success") >= 1);
        Assert.Equal(256, await S.MetricAsync("quanta_kv_cache_blocks_total"));
    }

    const string QuantaVersion = Quanta.Server.QuantaServer.Version;
}
