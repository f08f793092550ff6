using Quanta.Tests.Engine;

namespace Quanta.Tests.Templates;

/// <summary><c>quanta template render</c>: prints the rendering, or the template's error with exit 1.</summary>
[Collection("Console")]
public class TemplateCommandTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("quanta-template-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    string Write(string name, string text)
    {
        var p = Path.Combine(dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    [Fact]
    public async Task Renders_a_template_with_tokens_and_date()
    {
        var tpl = Write("t.jinja", "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}{{ strftime_now('%d %b %Y') }}|{{ date_string }}{% endif %}");
        var msgs = Write("m.json", """[{"role":"user","content":"héllo"}]""");
        var (code, stdout, stderr) = await CliRunner.Run("template", "render", "--template", tpl, "--messages", msgs, "--bos-token", "<s>", "--date", "2024-07-26");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal("<s>[user] héllo\n26 Jul 2024|26 Jul 2024", stdout);

        (code, stdout, _) = await CliRunner.Run("template", "render", "--template", tpl, "--messages", msgs, "--add-generation-prompt", "false");
        Assert.Equal(0, code);
        Assert.Equal("[user] héllo\n", stdout);
    }

    [Fact]
    public async Task Template_error_goes_to_stderr_with_exit_1()
    {
        var tpl = Write("t.jinja", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok");
        var msgs = Write("m.json", """[{"role":"system","content":"x"}]""");
        var (code, stdout, stderr) = await CliRunner.Run("template", "render", "--template", tpl, "--messages", msgs);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("System role not supported", stderr);
    }

    [Fact]
    public async Task Tools_file_reaches_the_template_and_tokenizer_config_is_read()
    {
        var cfg = Write("tokenizer_config.json", """{"chat_template":[{"name":"default","template":"D"},{"name":"tool_use","template":"T{{ tools|length }}"}]}""");
        var msgs = Write("m.json", """[{"role":"user","content":"hi"}]""");
        var (code, stdout, _) = await CliRunner.Run("template", "render", "--template", cfg, "--messages", msgs);
        Assert.Equal(0, code);
        Assert.Equal("D", stdout);
        var tpl = Write("t.jinja", "{{ tools | tojson }}");
        var tools = Write("tools.json", """[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]""");
        (code, stdout, _) = await CliRunner.Run("template", "render", "--template", tpl, "--messages", msgs, "--tools", tools);
        Assert.Equal(0, code);
        Assert.Equal("""[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]""", stdout);
    }

    [Fact]
    public async Task Bad_inputs_fail_with_one_line()
    {
        var msgs = Write("m.json", "{not json");
        var tpl = Write("t.jinja", "{{ x");
        var (code, _, stderr) = await CliRunner.Run("template", "render", "--template", tpl, "--messages", msgs);
        Assert.Equal(1, code);
        Assert.Contains("not valid JSON", stderr);
        msgs = Write("m.json", "[]");
        (code, _, stderr) = await CliRunner.Run("template", "render", "--template", tpl, "--messages", msgs);
        Assert.Equal(1, code);
        Assert.Contains("TemplateSyntaxError", stderr);
        (code, _, stderr) = await CliRunner.Run("template", "render", "--template", Path.Combine(dir, "missing.jinja"), "--messages", msgs);
        Assert.Equal(1, code);
        Assert.Contains("file not found", stderr);
    }

    [Fact]
    public async Task Corpus_case_matches_through_the_command()
    {
        var corpus = ChatCorpus.Get();
        var expected = corpus.Cases.First(c => c.Template == "llama-3.1-instruct" && c.Conversation == "tools_call_openai" && c.AddGenerationPrompt);
        var conv = corpus.Conversations[expected.Conversation];
        var msgs = Write("m.json", conv.Messages.GetRawText());
        var tools = Write("tools.json", conv.Tools!.Value.GetRawText());
        var info = corpus.Templates[expected.Template];
        var (code, stdout, stderr) = await CliRunner.Run("template", "render", "--template", info.Path, "--messages", msgs, "--tools", tools,
            "--bos-token", info.Bos!, "--eos-token", info.Eos!, "--date", "2024-07-26");
        Assert.Equal(0, code);
        Assert.Equal(expected.Output, stdout);
    }
}
