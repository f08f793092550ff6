using static Quanta.Tests.Server.TestCt;
using System.Net;
using System.Text.Json;

namespace Quanta.Tests.Server;

public class OpenAiRouteTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    TestServer S => fx.S;

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        var json = JsonExt.Parse(await S.Client.GetStringAsync("/v1/models", Ct));
        Assert.Equal("list", json.GetProperty("object").GetString());
        Assert.Equal("hash-model", json.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal("model", json.GetProperty("data")[0].GetProperty("object").GetString());
    }

    [Fact]
    public async Task Completions_returns_text_and_usage()
    {
        var json = await S.PostJsonAsync("/v1/completions", new { model = "x", prompt = "Once", max_tokens = 7, temperature = 0 });
        Assert.Equal("text_completion", json.GetProperty("object").GetString());
        var choice = json.GetProperty("choices")[0];
        Assert.Equal(HashRunner.Reference("Once", 7, out _), choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var usage = json.GetProperty("usage");
        Assert.Equal((5, 7, 12), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32()));

        var eos = await S.PostJsonAsync("/v1/completions", new { prompt = new[] { "stop#" }, max_tokens = 5, temperature = 0 });
        Assert.Equal("stop", eos.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Completions_leave_the_stop_sequence_out()
    {
        var full = HashRunner.Reference("stop test", 20, out _);
        var stop = full.Substring(5, 2);
        var json = await S.PostJsonAsync("/v1/completions", new { prompt = "stop test", max_tokens = 20, temperature = 0, stop });
        var choice = json.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Completions_stream_ends_with_done()
    {
        var events = await S.PostSseAsync("/v1/completions", new { prompt = "Once", max_tokens = 6, temperature = 0, stream = true });
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(JsonExt.Parse).ToList();
        Assert.Equal(HashRunner.Reference("Once", 6, out _), string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, chunks[0].GetProperty("choices")[0].GetProperty("finish_reason").ValueKind);
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _)));   // only with stream_options.include_usage
    }

    [Fact]
    public async Task Ignore_eos_and_min_tokens_force_the_length()
    {
        var a = await S.PostJsonAsync("/v1/completions", new { prompt = "go#", max_tokens = 5, temperature = 0, ignore_eos = true });
        Assert.Equal(5, a.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var b = await S.PostJsonAsync("/v1/completions", new { prompt = "go#", max_tokens = 4, min_tokens = 4, temperature = 0 });
        Assert.Equal(4, b.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        using var c = await S.PostAsync("/v1/completions", new { prompt = "go", max_tokens = 4, min_tokens = 2 });
        Assert.Equal(HttpStatusCode.BadRequest, c.StatusCode);
    }

    [Fact]
    public async Task Chat_uses_the_llama2_template_by_default()
    {
        var messages = new object[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "Hi" } };
        var json = await S.PostJsonAsync("/v1/chat/completions", new { model = "x", messages, max_tokens = 5, temperature = 0 });
        Assert.Equal("chat.completion", json.GetProperty("object").GetString());
        var msg = json.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("assistant", msg.GetProperty("role").GetString());
        var prompt = "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]";
        Assert.Equal(HashRunner.Reference(prompt, 5, out _), msg.GetProperty("content").GetString());
        Assert.Equal(1 + prompt.Length, json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Chat_stream_sends_deltas_usage_and_done()
    {
        var messages = new object[] { new { role = "user", content = new object[] { new { type = "text", text = "Hi" } } } };
        var events = await S.PostSseAsync("/v1/chat/completions",
            new { messages, max_tokens = 4, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(JsonExt.Parse).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        var text = string.Concat(chunks.SkipLast(1).Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString()));
        Assert.Equal(HashRunner.Reference("[INST] Hi [/INST]", 4, out _), text);
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(4, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.All(chunks.Skip(1).SkipLast(1), c => Assert.False(c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("role", out _)));
    }

    [Fact]
    public async Task Chatml_template_from_the_model_or_the_flag()
    {
        Assert.Equal("model", Quanta.Server.Api.ChatTemplate.Select("auto", "{% for m in messages %}<|im_start|>{{ m.role }}...").Name);
        Assert.Equal("llama2", Quanta.Server.Api.ChatTemplate.Select("auto", null).Name);
        Assert.Throws<ArgumentException>(() => Quanta.Server.Api.ChatTemplate.Select("vicuna", null));

        await using var s = await TestServer.StartAsync(new Quanta.Server.ServerOptions { ChatTemplate = "chatml" });
        var messages = new object[] { new { role = "system", content = "sys" }, new { role = "user", content = "Hi" } };
        var stops = new[] { "1", "2", "3", "4" }.Select(x => "never" + x).ToArray();
        var json = await s.PostJsonAsync("/v1/chat/completions", new { messages, max_tokens = 6, temperature = 0, stop = stops });
        var prompt = "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(HashRunner.Reference(prompt, 6, out _), json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("chatml", JsonExt.Parse(await s.Client.GetStringAsync("/info", Ct)).GetProperty("chat_template").GetString());
    }

    [Theory]
    [InlineData("""{"messages": [], "max_tokens": 2}""", "`messages` cannot be empty")]
    [InlineData("""{"messages": [{"role": "user", "content": "a"}], "n": 3}""", "`n` must be > 0 and <= 2 (--max-best-of). Given: 3")]
    [InlineData("""{"messages": [{"role": "robot", "content": "a"}]}""", "unknown role")]
    [InlineData("""{"messages": [{"role": "user", "content": "a"}], "temperature": -1}""", "`temperature` must be strictly positive")]
    [InlineData("""{"max_tokens": 2}""", "messages")]
    public async Task Chat_errors_use_the_openai_shape_and_400(string body, string message)
    {
        using var res = await S.Client.PostAsync("/v1/chat/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var error = (await res.JsonAsync()).GetProperty("error");
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
    }
}
