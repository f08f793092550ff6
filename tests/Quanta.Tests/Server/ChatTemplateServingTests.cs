using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Quanta.Cli;
using Quanta.Server;
using Quanta.Tests.IO;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>/v1/chat/completions with the model's own Jinja template (tokenizer_config.json) or a template file.</summary>
public class ChatTemplateServingTests
{
    /// <summary>A copy of the tiny-llama fixture whose tokenizer_config.json carries <paramref name="template"/>.</summary>
    internal static FixtureCopy ModelWithTemplate(string template)
    {
        var copy = new FixtureCopy("tiny-llama-f16");
        var config = JsonNode.Parse(File.ReadAllText(copy.PathOf("tokenizer_config.json")))!.AsObject();
        config["chat_template"] = template;
        File.WriteAllText(copy.PathOf("tokenizer_config.json"), config.ToJsonString());
        return copy;
    }

    internal static async Task<TestServer> Serve(string dir, ServerOptions? options = null)
    {
        var args = new ServeArgs { ModelId = dir, Device = "cpu", MaxBatchTotalTokens = 2048, Server = (options ?? new()) with { Port = 0 } };
        return TestServer.Wrap(await ServeSetup.StartAsync(args, TextWriter.Null, Ct));
    }

    static string CorpusTemplate(string name) => File.ReadAllText(TestPaths.SharedPath("chat-templates", "templates", name + ".jinja"));

    static async Task<int> TokenCount(TestServer s, string text) => (await s.PostJsonAsync("/tokenize", new { inputs = text })).GetArrayLength();

    [Fact]
    public async Task Model_template_from_tokenizer_config_formats_the_prompt()
    {
        using var model = ModelWithTemplate(CorpusTemplate("llama-2-chat"));
        await using var s = await Serve(model.Dir);
        Assert.Equal("model", JsonExt.Parse(await s.Client.GetStringAsync("/info", Ct)).GetProperty("chat_template").GetString());
        var chat = await s.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new object[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "What is GPTQ?" } },
            max_tokens = 5, temperature = 0,
        });
        // The template emits "<s>" itself: it becomes the one BOS, not a second one, nor the characters "<s>".
        const string prompt = "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is GPTQ? [/INST]";
        Assert.Equal(await TokenCount(s, prompt), chat.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var completion = await s.PostJsonAsync("/v1/completions", new { prompt, max_tokens = 5, temperature = 0 });
        Assert.Equal(completion.GetProperty("choices")[0].GetProperty("text").GetString(),
                     chat.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task Template_that_raises_gives_400_with_its_message()
    {
        using var model = ModelWithTemplate(CorpusTemplate("gemma-2-it"));
        await using var s = await Serve(model.Dir);
        using var res = await s.Client.PostAsync("/v1/chat/completions", new StringContent(
            """{"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], "max_tokens": 2}""",
            System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var error = (await res.JsonAsync()).GetProperty("error");
        Assert.Equal("Chat template error: System role not supported", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        // The server still serves other requests.
        var ok = await s.PostJsonAsync("/v1/chat/completions", new { messages = new object[] { new { role = "user", content = "y" } }, max_tokens = 2 });
        Assert.Equal("chat.completion", ok.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Generation_prompt_continue_final_message_and_kwargs()
    {
        var dir = Directory.CreateTempSubdirectory("quanta-tpl-").FullName;
        try
        {
            var file = Path.Combine(dir, "t.jinja");
            File.WriteAllText(file, "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}{% if not loop.last or add_generation_prompt %}{{ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}assistant:{{ suffix | default('') }}{% endif %}");
            await using var s = await Serve(TestPaths.Fixture("tiny-llama-f16"), new ServerOptions { ChatTemplate = file });
            var messages = new object[] { new { role = "user", content = "Hi" }, new { role = "assistant", content = "Once upon" } };
            async Task<int> PromptTokens(object body) => (await s.PostJsonAsync("/v1/chat/completions", body)).GetProperty("usage").GetProperty("prompt_tokens").GetInt32();

            // BOS + "user: Hi" + EOS + "assistant: Once upon" + EOS + "assistant: X"; each text piece is tokenized on its own.
            int user = await TokenCount(s, "user: Hi") - 1, asst = await TokenCount(s, "assistant: Once upon") - 1;
            Assert.Equal(1 + user + 1 + asst + 1 + (await TokenCount(s, "assistant: X") - 1),
                await PromptTokens(new { messages, max_tokens = 1, chat_template_kwargs = new { suffix = " X" } }));
            Assert.Equal(1 + user + 1 + asst,
                await PromptTokens(new { messages, max_tokens = 1, add_generation_prompt = false }));
            Assert.Equal(1 + user + 1 + asst,
                await PromptTokens(new { messages, max_tokens = 1, continue_final_message = true }));
            using var both = await s.Client.PostAsync("/v1/chat/completions", new StringContent(JsonSerializer.Serialize(
                new { messages, continue_final_message = true, add_generation_prompt = true }), System.Text.Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, both.StatusCode);
        }
        finally { Directory.Delete(dir, true); }
    }
}
