using System.Net;
using System.Text;
using System.Text.Json;
using Quanta.Cuda;
using Quanta.Engine;
using Quanta.IO;
using Quanta.Server;
using Quanta.Tests;

namespace Quanta.Cuda.Tests;

/// <summary>The real HTTP server (Kestrel, engine, CUDA runner) in-process over a GPTQ fixture, as `quanta serve --device cuda` builds it.</summary>
public class ServerTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Loader, CUDA runner (256 KV blocks of 16), engine and server on 127.0.0.1:ephemeral.</summary>
    static async Task<ServerClient> Serve(string fixture)
    {
        Gpu.Context();
        var model = ModelLoader.Load(TestPaths.Fixture(fixture));
        var runner = new CudaModelRunner(model, new KvCacheOptions(16, 256), new CudaRunnerOptions(MaxPrefillTokens: 1024));
        var served = ServedModel.Over(model, runner, new LlmEngine(runner, model.Tokenizer, new EngineOptions { MaxBatchPrefillTokens = 4096 }));
        return new ServerClient(await QuantaServer.StartAsync(new ServerOptions { Port = 0, Dtype = "float16" }, served, Ct), TimeSpan.FromSeconds(60));
    }

    sealed record Case(string Prompt, int[] Greedy, string Text);

    static List<Case> Cases(string fixture)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixture(fixture), "expected.json")));
        return [.. doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(c.GetProperty("prompt").GetString()!,
            [.. c.GetProperty("greedy_24").EnumerateArray().Select(e => e.GetInt32())], c.GetProperty("greedy_24_text").GetString()!))];
    }

    static object Greedy(string inputs, int n) => new { inputs, parameters = new { max_new_tokens = n, details = true, ignore_eos = true, top_n_tokens = 2 } };

    static int[] Ids(JsonElement generate)
        => [.. generate.GetProperty("details").GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32())];

    /// <summary>
    /// <paramref name="got"/> equals <paramref name="want"/>, or first departs at a step where the run's own top two
    /// tokens (top_n_tokens of <paramref name="run"/>) are the two choices and closer than 0.1 (fp16 rounding decides).
    /// </summary>
    static void SameOrNearTie(int[] want, int[] got, JsonElement run, string what)
    {
        Assert.Equal(want.Length, got.Length);
        int k = 0;
        while (k < want.Length && want[k] == got[k]) k++;
        if (k == want.Length) return;
        var top = run.GetProperty("details").GetProperty("top_tokens")[k].EnumerateArray()
                     .Select(t => (Id: t.GetProperty("id").GetInt32(), LogProb: t.GetProperty("logprob").GetDouble())).ToArray();
        Assert.True(top.Length == 2 && top.Any(t => t.Id == want[k]) && top.Any(t => t.Id == got[k]) && Math.Abs(top[0].LogProb - top[1].LogProb) < 0.1,
            $"{what}: departs at step {k} ({got[k]} vs {want[k]}), top two {string.Join(", ", top)}");
    }

    [Fact]
    public async Task Stats_report_the_gpu_memory_in_use()
    {
        await using var s = await Serve("tiny-llama-gptq-g128");
        using var doc = JsonDocument.Parse(await s.Client.GetStringAsync("/stats", Ct));
        long used = doc.RootElement.GetProperty("gpu_memory_used_bytes").GetInt64();
        long total = doc.RootElement.GetProperty("gpu_memory_total_bytes").GetInt64();
        Assert.InRange(used, 256L * 16 * 2 * 2 * 128 * sizeof(ushort), total);   // at least the KV cache: 256 blocks x 16 x K,V x 2 layers x 128
    }

    [Theory]
    [InlineData("tiny-llama-gptq-g128")]
    [InlineData("tiny-llama-gptq-g32-act")]
    public async Task Generate_and_stream_give_the_fixture_greedy_tokens(string fixture)
    {
        await using var s = await Serve(fixture);
        foreach (var c in Cases(fixture))
        {
            var g = await s.PostJsonAsync("/generate", Greedy(c.Prompt, 24));
            var ids = Ids(g);
            SameOrNearTie(c.Greedy, ids, g, $"{fixture} '{c.Prompt}'");
            // The reference text is HF decode(greedy_24), which drops the first piece's leading space.
            if (ids.SequenceEqual(c.Greedy)) Assert.Equal(c.Text, g.GetProperty("generated_text").GetString()!.TrimStart());
            Assert.Equal("length", g.GetProperty("details").GetProperty("finish_reason").GetString());

            var events = (await s.PostSseAsync("/generate_stream", Greedy(c.Prompt, 24))).Select(e => JsonDocument.Parse(e).RootElement.Clone()).ToList();
            Assert.Equal(ids, events.Select(e => e.GetProperty("token").GetProperty("id").GetInt32()));
            Assert.Equal(g.GetProperty("generated_text").GetString(), events[^1].GetProperty("generated_text").GetString());
            Assert.All(events[..^1], e => Assert.True(!e.TryGetProperty("generated_text", out var t) || t.ValueKind == JsonValueKind.Null));
        }
    }

    [Fact]
    public async Task OpenAi_completions_and_chat_answer_greedily()
    {
        const string fixture = "tiny-llama-gptq-g128";
        await using var s = await Serve(fixture);
        var c = Cases(fixture)[0];
        var g = await s.PostJsonAsync("/generate", new { inputs = c.Prompt, parameters = new { max_new_tokens = 12 } });
        var completion = await s.PostJsonAsync("/v1/completions", new { prompt = c.Prompt, max_tokens = 12, temperature = 0 });
        Assert.Equal("text_completion", completion.GetProperty("object").GetString());
        Assert.Equal(g.GetProperty("generated_text").GetString(), completion.GetProperty("choices")[0].GetProperty("text").GetString());

        var chat = await s.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new object[] { new { role = "user", content = "What is GPTQ?" } }, max_tokens = 8, temperature = 0,
        });
        Assert.Equal("chat.completion", chat.GetProperty("object").GetString());
        var choice = chat.GetProperty("choices")[0];
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.NotNull(choice.GetProperty("message").GetProperty("content").GetString());
        var usage = chat.GetProperty("usage");
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() > 5);
        Assert.InRange(usage.GetProperty("completion_tokens").GetInt32(), 1, 8);
    }

    [Fact]
    public async Task Sixteen_concurrent_clients_get_their_solo_greedy_tokens()
    {
        await using var s = await Serve("tiny-llama-gptq-g32-act");
        var prompts = Enumerable.Range(0, 16).Select(i => (i % 4) switch
        {
            0 => $"Once upon a time, there was a little girl number {i}",
            1 => $"The capital of country {i} is",
            2 => string.Join(' ', Enumerable.Repeat("quantized", i + 1)),
            _ => $"def f{i}(x): return",
        }).ToList();
        var solo = new List<JsonElement>();
        foreach (var p in prompts) solo.Add(await s.PostJsonAsync("/generate", Greedy(p, 20)));
        var together = await Task.WhenAll(prompts.Select(p => s.PostJsonAsync("/generate", Greedy(p, 20))));
        for (int i = 0; i < prompts.Count; i++) SameOrNearTie(Ids(solo[i]), Ids(together[i]), solo[i], $"client {i} ('{prompts[i]}')");
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
    }

    [Fact]
    public async Task Health_info_metrics_and_validation_on_cuda()
    {
        await using var s = await Serve("tiny-llama-gptq-g128");
        using (var health = await s.Client.GetAsync("/health", Ct)) Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        var info = JsonDocument.Parse(await s.Client.GetStringAsync("/info", Ct)).RootElement;
        Assert.Equal("cuda", info.GetProperty("model_device_type").GetString());
        Assert.StartsWith("cuda:", info.GetProperty("device").GetString());
        Assert.Equal("float16", info.GetProperty("model_dtype").GetString());
        Assert.Equal(256 * 16, info.GetProperty("max_batch_total_tokens").GetInt32());

        using (var bad = await s.PostAsync("/generate", new { inputs = "a", parameters = new { max_new_tokens = -3.5 } }))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
            var err = JsonDocument.Parse(await bad.Content.ReadAsStringAsync(Ct)).RootElement;
            Assert.Equal("validation", err.GetProperty("error_type").GetString());
        }
        using (var ok = await s.PostAsync("/generate", new { inputs = "Once upon a time,", parameters = new { max_new_tokens = 4 } }))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("gpu+optimized", ok.Headers.GetValues("x-compute-type").Single());
        }
        Assert.Equal(1, await s.MetricAsync("tgi_request_success"));
        Assert.Equal(0, await s.MetricAsync("quanta_kv_cache_blocks_used"));
    }
}
