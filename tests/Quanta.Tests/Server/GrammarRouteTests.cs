using System.Net;
using System.Text.Json;
using Json.Schema;
using Quanta.Cli;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>`quanta serve` on stories260K (CPU) for the whole class.</summary>
public sealed class StoriesServerFixture : IAsyncLifetime
{
    internal TestServer S { get; private set; } = null!;
    public async ValueTask InitializeAsync()
    {
        var args = new ServeArgs { ModelId = null, Device = "cpu", MaxBatchTotalTokens = 4096, Server = new ServerOptions { Port = 0 } };
        S = TestServer.Wrap(await ServeSetup.StartAsync(args, TextWriter.Null, Ct));
    }
    public ValueTask DisposeAsync() => S.DisposeAsync();
}

/// <summary>TGI's grammar and OpenAI's response_format over HTTP: outputs follow them, bad ones are 422s.</summary>
public class GrammarRouteTests(StoriesServerFixture fx) : IClassFixture<StoriesServerFixture>
{
    TestServer S => fx.S;
    const string Person = """{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120},"pets":{"type":"array","items":{"enum":["cat","dog"]},"maxItems":3}},"required":["name","age"],"additionalProperties":false}""";

    static void AssertValid(string schema, string output)
    {
        using var doc = JsonDocument.Parse(output);
        Assert.True(JsonSchema.FromText(schema, new BuildOptions()).Evaluate(doc.RootElement).IsValid, output);
    }

    [Fact]
    public async Task Generate_with_a_json_grammar_validates_given_as_object_or_string()
    {
        var asObject = JsonDocument.Parse(Person).RootElement;
        foreach (object value in new object[] { asObject, Person })
        {
            var g = await S.PostJsonAsync("/generate", new { inputs = "Once upon a time", parameters = new { max_new_tokens = 80, grammar = new { type = "json", value } } });
            AssertValid(Person, g.GetProperty("generated_text").GetString()!);
        }
    }

    [Fact]
    public async Task Generate_stream_with_a_regex_grammar_fully_matches()
    {
        const string regex = "(yes|no), [a-z]{2,6}!";
        var events = (await S.PostSseAsync("/generate_stream", new { inputs = "Lily said", parameters = new { max_new_tokens = 30, do_sample = true, seed = 5, details = true, grammar = new { type = "regex", value = regex } } }))
            .Select(JsonExt.Parse).ToList();
        var text = events[^1].GetProperty("generated_text").GetString()!;
        Assert.Matches($"^(?:{regex})$", text);
        Assert.Equal("eos_token", events[^1].GetProperty("details").GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Chat_response_format_json_schema_and_json_object()
    {
        var chat = await S.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Tell me about Tom." } }, max_tokens = 80, temperature = 0,
            response_format = new { type = "json_schema", json_schema = new { name = "person", schema = JsonDocument.Parse(Person).RootElement, strict = true } },
        });
        AssertValid(Person, chat.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!);

        var obj = await S.PostJsonAsync("/v1/completions", new { prompt = "Once", max_tokens = 60, seed = 3, response_format = new { type = "json_object" } });
        using var doc = JsonDocument.Parse(obj.GetProperty("choices")[0].GetProperty("text").GetString()!);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);

        var text = await S.PostJsonAsync("/v1/completions", new { prompt = "Once", max_tokens = 5, temperature = 0, response_format = new { type = "text" } });
        Assert.Equal(5, text.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("/generate", """{"type":"json","value":{"type":"array","uniqueItems":true,"contains":{}}}""", "contains, uniqueItems")]
    [InlineData("/generate", """{"type":"regex","value":"(a)\\1"}""", "backreferences")]
    [InlineData("/generate", """{"type":"regex","value":"(?=x)x"}""", "lookahead")]
    [InlineData("/generate", """{"type":"yaml","value":"x"}""", "`grammar.type` must be \"json\" or \"regex\"")]
    [InlineData("/generate", """{"type":"json","value":"{not json"}""", "not valid JSON")]
    public async Task Bad_grammars_are_422_naming_the_problem(string path, string grammar, string message)
    {
        var body = "{\"inputs\": \"Once\", \"parameters\": {\"max_new_tokens\": 5, \"grammar\": " + grammar + "}}";
        using var res = await S.Client.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, res.StatusCode);
        var json = await res.JsonAsync();
        Assert.Contains(message, json.GetProperty("error").GetString());
        Assert.Equal("validation", json.GetProperty("error_type").GetString());
    }

    [Fact]
    public async Task Stream_with_a_bad_grammar_is_one_sse_error_event()
    {
        var events = await S.PostSseAsync("/generate_stream", new { inputs = "Once", parameters = new { grammar = new { type = "regex", value = "(?<=a)b" } } });
        var json = JsonExt.Parse(Assert.Single(events));
        Assert.Contains("lookbehind", json.GetProperty("error").GetString());
        Assert.Equal("validation", json.GetProperty("error_type").GetString());
    }

    [Fact]
    public async Task Bad_response_format_is_an_openai_400()
    {
        using var res = await S.PostAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 5,
            response_format = new { type = "json_schema", json_schema = new { name = "x", schema = new { type = "string", format = "date", minLength = 3 } } },
        });
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var error = (await res.JsonAsync()).GetProperty("error");
        Assert.Contains("minLength/maxLength with format", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }
}
