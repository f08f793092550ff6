using System.Text.Json;
using Quanta.Server.Api.Tools;

namespace Quanta.Tests.Tools;

/// <summary>The call formats read from whole outputs: real-looking model outputs, edge cases, and text that stays text.</summary>
public class ToolParserTests
{
    static (string Name, string Args)[] Calls(IToolCallParser parser, string output, out string? content)
    {
        var parse = parser.Parse(output);
        Assert.NotNull(parse);
        content = parse.Content(output);
        // Every argument string is one JSON object.
        foreach (var c in parse.Calls) Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(c.Arguments).RootElement.ValueKind);
        return parse.Calls.Select(c => (c.Name, c.Arguments)).ToArray();
    }

    static string Compact(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement);

    [Fact]
    public void Hermes_reads_repeated_calls_and_the_text_before_them()
    {
        const string output = "Let me check both cities.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"東京\"}}\n</tool_call>";
        var calls = Calls(new HermesToolParser(), output, out var content);
        Assert.Equal("Let me check both cities.", content);
        Assert.Equal(["get_weather", "get_weather"], calls.Select(c => c.Name));
        Assert.Equal("""{"city":"Paris","unit":"celsius"}""", Compact(calls[0].Args));
        Assert.Equal("東京", JsonDocument.Parse(calls[1].Args).RootElement.GetProperty("city").GetString());
    }

    [Fact]
    public void Hermes_reads_an_unclosed_last_call_and_braces_inside_strings()
    {
        const string output = "<tool_call>{\"name\":\"run\",\"arguments\":{\"code\":\"if (x) { return \\\"}\\\"; }\",\"n\":{\"deep\":[1,{\"a\":null}]}}}";
        var calls = Calls(new HermesToolParser(), output, out var content);
        Assert.Null(content);
        Assert.Equal("if (x) { return \"}\"; }", JsonDocument.Parse(Assert.Single(calls).Args).RootElement.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("Just an answer, no calls.")]
    [InlineData("<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par</tool_call>")]   // broken JSON
    [InlineData("<tool_call>{\"arguments\": {}}</tool_call>")]                                          // no name
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>")]                        // arguments not an object
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call><tool_call>oops</tool_call>")]
    public void Hermes_text_that_is_no_valid_call_stays_content(string output) => Assert.Null(new HermesToolParser().Parse(output));

    [Fact]
    public void Hermes_accepts_arguments_given_as_a_json_string_or_absent()
    {
        var calls = Calls(new HermesToolParser(), "<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}</tool_call><tool_call>{\"name\": \"b\"}</tool_call>", out _);
        Assert.Equal([("a", "{\"x\": 1}"), ("b", "{}")], calls);
    }

    [Fact]
    public void Mistral_reads_the_marked_array_and_the_bare_array()
    {
        const string calls = "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Paris\"}}]";
        var marked = Calls(new MistralToolParser(), "[TOOL_CALLS] " + calls, out var content);
        Assert.Null(content);
        Assert.Equal(["get_weather", "get_time"], marked.Select(c => c.Name));
        // A tokenizer that drops the special [TOOL_CALLS] token on decoding leaves the array alone.
        Assert.Equal(marked, Calls(new MistralToolParser(), "  " + calls, out _));
        Assert.Equal("Sure.", (new MistralToolParser().Parse("Sure. [TOOL_CALLS]" + calls) ?? throw new Exception()).Content("Sure. [TOOL_CALLS]" + calls));
    }

    [Fact]
    public void Mistral_reads_the_v11_name_and_args_form()
    {
        const string output = "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Nice\"}[TOOL_CALLS]get_time[ARGS]{\"tz\": \"[ARGS]\"}";
        var calls = Calls(new MistralToolParser(), output, out var content);
        Assert.Null(content);
        Assert.Equal([("get_weather", "{\"city\": \"Nice\"}"), ("get_time", "{\"tz\": \"[ARGS]\"}")], calls);
        Assert.Null(new MistralToolParser().Parse("[TOOL_CALLS]get_weather[ARGS]{\"city\": "));
        Assert.Null(new MistralToolParser().Parse("[TOOL_CALLS][ARGS]{}"));
    }

    [Theory]
    [InlineData("[1, 2, 3] are numbers")]
    [InlineData("[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"a\": 1}]")]
    [InlineData("[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}] and more")]
    [InlineData("[{\"title\": \"a list of things\"}]")]
    public void Mistral_text_that_is_no_valid_call_stays_content(string output) => Assert.Null(new MistralToolParser().Parse(output));

    [Fact]
    public void Mistral_ids_are_nine_letters_and_digits()
    {
        IToolCallParser p = new MistralToolParser();
        Assert.Matches("^[A-Za-z0-9]{9}$", p.NewCallId());
        IToolCallParser h = new HermesToolParser();
        Assert.Matches("^call_[A-Za-z0-9]{24}$", h.NewCallId());
        Assert.NotEqual(h.NewCallId(), h.NewCallId());
    }

    [Fact]
    public void Llama3_reads_parameters_after_the_python_tag_and_several_separated_by_semicolons()
    {
        var one = Calls(new Llama3JsonToolParser(), "<|python_tag|>{\"name\": \"search\", \"parameters\": {\"query\": \"a; b {c}\"}}", out var content);
        Assert.Null(content);
        Assert.Equal("a; b {c}", JsonDocument.Parse(Assert.Single(one).Args).RootElement.GetProperty("query").GetString());
        var two = Calls(new Llama3JsonToolParser(), "\n{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"arguments\": {\"n\": 2}}\n", out _);
        Assert.Equal(["a", "b"], two.Select(c => c.Name));
    }

    [Theory]
    [InlineData("{\"name\": \"Tom\", \"age\": 3}")]                                   // JSON, but no arguments key
    [InlineData("The answer is {\"name\": \"f\", \"parameters\": {}}")]             // a call not at the start
    [InlineData("{\"name\": \"f\", \"parameters\": {}} and then some text")]
    [InlineData("{\"name\": \"f\", \"parameters\": {\"x\": }")]
    [InlineData("{\"name\": \"f\", \"parameters\": {}}; ")]
    public void Llama3_text_that_is_no_valid_call_stays_content(string output) => Assert.Null(new Llama3JsonToolParser().Parse(output));

    [Fact]
    public void Constrained_outputs_are_read_as_calls()
    {
        var named = Calls(new NamedCallParser("f", new HermesToolParser()), " {\"a\": [1, {\"b\": \"}\"}]}", out _);
        Assert.Equal(("f", "{\"a\": [1, {\"b\": \"}\"}]}"), Assert.Single(named));
        var required = Calls(new RequiredCallsParser(new HermesToolParser()), "[{\"name\":\"f\",\"parameters\":{\"x\":1}},{\"name\":\"g\",\"parameters\":{}}]", out _);
        Assert.Equal([("f", "{\"x\":1}"), ("g", "{}")], required);
        Assert.Null(new NamedCallParser("f", new HermesToolParser()).Parse("{\"a\": [1, "));   // cut by max_tokens
        Assert.Null(new RequiredCallsParser(new HermesToolParser()).Parse("[{\"name\":\"f\",\"param"));
    }

    [Theory]
    [InlineData("hermes-2-pro-llama-3-tool-use", typeof(HermesToolParser))]
    [InlineData("qwen2.5-instruct", typeof(HermesToolParser))]
    [InlineData("falcon3-instruct", typeof(HermesToolParser))]
    [InlineData("smollm3", typeof(HermesToolParser))]
    [InlineData("mistral-7b-instruct-v0.3", typeof(MistralToolParser))]
    [InlineData("llama-3.1-instruct", typeof(Llama3JsonToolParser))]
    [InlineData("llama-3.2-instruct", typeof(Llama3JsonToolParser))]
    [InlineData("llama-3-instruct", null)]
    [InlineData("llama-2-chat", null)]
    [InlineData("chatml-openhermes-2.5", null)]
    public void The_format_is_read_from_the_template(string template, Type? parser)
    {
        var source = File.ReadAllText(TestPaths.SharedPath("chat-templates", "templates", template + ".jinja"));
        Assert.Equal(parser, ToolFormats.For(source)?.GetType());
    }
}
