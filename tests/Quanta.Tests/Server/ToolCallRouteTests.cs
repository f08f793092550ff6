using System.Net;
using System.Text;
using System.Text.Json;

namespace Quanta.Tests.Server;

/// <summary>
/// /v1/chat/completions with tools over the scripted fake model: each family's call format read into
/// message.tool_calls and streamed as delta.tool_calls; text that is no call stays content.
/// </summary>
public class ToolCallRouteTests
{
    static string Template(string family) => family switch
    {
        "hermes" => ToolServers.Hermes,
        "mistral" => ToolServers.Mistral,
        _ => ToolServers.Llama3,
    };

    /// <summary>A reassembled streamed choice, as the official clients accumulate it.</summary>
    internal sealed record Streamed(string? Content, List<(string Id, string Name, string Args)> Calls, string? Finish, List<string> ContentDeltas);

    internal static Streamed Reassemble(IEnumerable<string> events)
    {
        StringBuilder? content = null;
        var deltas = new List<string>();
        var calls = new SortedDictionary<int, (string Id, string Name, StringBuilder Args)>();
        string? finish = null;
        foreach (var e in events)
        {
            if (e == "[DONE]") continue;
            var chunk = JsonExt.Parse(e);
            Assert.Equal("chat.completion.chunk", chunk.GetProperty("object").GetString());
            foreach (var choice in chunk.GetProperty("choices").EnumerateArray())
            {
                var delta = choice.GetProperty("delta");
                if (delta.TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 } text) { (content ??= new()).Append(text); deltas.Add(text); }
                if (delta.TryGetProperty("tool_calls", out var tc))
                    foreach (var call in tc.EnumerateArray())
                    {
                        int index = call.GetProperty("index").GetInt32();
                        var fn = call.GetProperty("function");
                        if (call.TryGetProperty("id", out var id))
                        {
                            Assert.Equal("function", call.GetProperty("type").GetString());
                            calls[index] = (id.GetString()!, fn.GetProperty("name").GetString()!, new StringBuilder());
                        }
                        calls[index].Args.Append(fn.GetProperty("arguments").GetString());
                    }
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                {
                    Assert.Null(finish);
                    finish = choice.GetProperty("finish_reason").GetString();
                }
            }
        }
        return new Streamed(content?.ToString(), calls.Values.Select(c => (c.Id, c.Name, c.Args.ToString())).ToList(), finish, deltas);
    }

    static List<(string Name, JsonElement Args)> Calls(JsonElement message) =>
        message.TryGetProperty("tool_calls", out var calls)
            ? calls.EnumerateArray().Select(c =>
            {
                Assert.Matches("^(call_[A-Za-z0-9]{24}|[A-Za-z0-9]{9})$", c.GetProperty("id").GetString());
                Assert.Equal("function", c.GetProperty("type").GetString());
                var fn = c.GetProperty("function");
                return (fn.GetProperty("name").GetString()!, JsonExt.Parse(fn.GetProperty("arguments").GetString()!));
            }).ToList()
            : [];

    public static TheoryData<string, string, string?, string[]> Outputs => new()
    {
        { "hermes", "I will check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"東京\", \"unit\": \"celsius\"}}\n</tool_call>", "I will check.", ["get_weather"] },
        { "hermes", "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"{CET}\"}}</tool_call>", null, ["get_weather", "get_time"] },
        { "mistral", "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]", null, ["get_weather", "get_time"] },
        { "mistral", "[{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]", null, ["get_time"] },
        { "llama3", "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", null, ["get_weather"] },
        { "llama3", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Lyon\"}}; {\"name\": \"get_time\", \"parameters\": {\"tz\": \"a;b\"}}", null, ["get_weather", "get_time"] },
    };

    [Theory]
    [MemberData(nameof(Outputs))]
    public async Task Auto_reads_the_model_format_whole_and_streamed(string family, string reply, string? content, string[] names)
    {
        await using var s = await ToolServers.StartAsync(Template(family));
        var choice = (await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply))).GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(content, message.GetProperty("content").GetString());
        var calls = Calls(message);
        Assert.Equal(names, calls.Select(c => c.Name));

        var streamed = Reassemble(await s.PostSseAsync("/v1/chat/completions", ToolServers.Body(reply, stream: true)));
        Assert.Equal("tool_calls", streamed.Finish);
        Assert.Equal(content, streamed.Content?.Trim());
        Assert.Equal(names, streamed.Calls.Select(c => c.Name));
        for (int i = 0; i < calls.Count; i++)
            Assert.Equal(calls[i].Args.GetRawText(), JsonExt.Parse(streamed.Calls[i].Args).GetRawText());
        Assert.Equal(streamed.Calls.Count, streamed.Calls.Select(c => c.Id).Distinct().Count());
    }

    [Theory]
    [InlineData("hermes", "Sunny in <b>Paris</b>, 21 °C. <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": }</tool_call>")]
    [InlineData("mistral", "[1, 2] [TOOL_CALLS] nothing")]
    [InlineData("llama3", "{\"name\": \"Tom\", \"age\": 4}")]
    [InlineData("llama3", "It is {\"name\": \"get_weather\", \"parameters\": {}}")]
    public async Task Text_that_is_no_valid_call_stays_content(string family, string reply)
    {
        await using var s = await ToolServers.StartAsync(Template(family));
        var choice = (await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply))).GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(reply, choice.GetProperty("message").GetProperty("content").GetString());
        Assert.False(choice.GetProperty("message").TryGetProperty("tool_calls", out _));

        var streamed = Reassemble(await s.PostSseAsync("/v1/chat/completions", ToolServers.Body(reply, stream: true)));
        Assert.Equal(("stop", reply), (streamed.Finish, streamed.Content));
        Assert.Empty(streamed.Calls);
    }

    [Fact]
    public async Task Streamed_text_before_a_call_goes_out_before_the_call_is_complete()
    {
        await using var s = await ToolServers.StartAsync(ToolServers.Hermes);
        const string reply = "Let me look that up for you. <tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}</tool_call>";
        var events = await s.PostSseAsync("/v1/chat/completions", ToolServers.Body(reply, stream: true));
        var streamed = Reassemble(events);
        Assert.Equal("Let me look that up for you. ", streamed.Content);
        Assert.True(streamed.ContentDeltas.Count > 5, "content is streamed token by token");
        Assert.DoesNotContain(streamed.ContentDeltas, d => d.Contains('<'));
        // The last events: the call, then an empty delta with the finish reason, then [DONE].
        Assert.Equal("[DONE]", events[^1]);
        var last = JsonExt.Parse(events[^2]).GetProperty("choices")[0];
        Assert.Equal("{}", last.GetProperty("delta").GetRawText());
        Assert.Equal("tool_calls", last.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Parallel_tool_calls_false_keeps_the_first_call()
    {
        await using var s = await ToolServers.StartAsync(ToolServers.Hermes);
        const string reply = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call><tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}</tool_call>";
        var message = (await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply, new { parallel_tool_calls = false })))
            .GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("get_weather", Assert.Single(Calls(message)).Name);
        var streamed = Reassemble(await s.PostSseAsync("/v1/chat/completions", ToolServers.Body(reply, new { parallel_tool_calls = false }, stream: true)));
        Assert.Equal("get_weather", Assert.Single(streamed.Calls).Name);
    }

    [Fact]
    public async Task Tool_choice_none_hides_the_tools_and_reads_no_calls()
    {
        await using var s = await ToolServers.StartAsync(ToolServers.Hermes);
        const string reply = "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>";
        var none = await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply, new { tool_choice = "none" }));
        var auto = await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply, new { tool_choice = "auto" }));
        var noTools = await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply, new { tools = (object?)null }));
        int Prompt(JsonElement r) => r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.Equal(Prompt(noTools), Prompt(none));
        Assert.True(Prompt(auto) > Prompt(none), "the template sees the tools with auto");
        Assert.Equal(reply, none.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", none.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("tool_calls", auto.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task A_template_without_a_call_format_answers_content()
    {
        await using var s = await TestServer.StartAsync();   // the built-in llama2 format
        const string reply = "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>";
        var choice = (await s.PostJsonAsync("/v1/chat/completions", ToolServers.Body(reply))).GetProperty("choices")[0];
        Assert.Equal(reply, choice.GetProperty("message").GetProperty("content").GetString());
    }

    [Theory]
    [InlineData("""{"tool_choice": {"type": "function", "function": {"name": "get_stock"}}}""", "get_stock', which is not in `tools` (get_weather, get_time)")]
    [InlineData("""{"tool_choice": "sometimes"}""", "`tool_choice` must be")]
    [InlineData("""{"tool_choice": {"type": "function"}}""", "`tool_choice` must be")]
    [InlineData("""{"tool_choice": "required", "tools": []}""", "`tool_choice` \"required\" needs `tools`")]
    [InlineData("""{"tool_choice": "required", "response_format": {"type": "json_object"}}""", "cannot be combined with `response_format`")]
    [InlineData("""{"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array", "uniqueItems": true}}}]}""", "unsupported JSON Schema keywords: uniqueItems")]
    [InlineData("""{"tool_choice": {"type": "function", "function": {"name": "f"}}, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "patternProperties": {}}}}]}""", "unsupported JSON Schema keywords: patternProperties")]
    [InlineData("""{"tools": [{"type": "function", "function": {"description": "no name"}}]}""", "`tools[]` must be")]
    [InlineData("""{"tools": [{"type": "retrieval", "function": {"name": "f"}}]}""", "`tools[].type` must be \"function\"")]
    public async Task Bad_tool_fields_are_openai_400s(string fields, string message)
    {
        await using var s = await ToolServers.StartAsync(ToolServers.Hermes);
        var body = JsonSerializer.SerializeToNode(ToolServers.Body("x"))!.AsObject();
        foreach (var (k, v) in System.Text.Json.Nodes.JsonNode.Parse(fields)!.AsObject().ToList()) body[k] = v?.DeepClone();
        using var res = await s.Client.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), TestCt.Ct);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var error = (await res.JsonAsync()).GetProperty("error");
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Required_and_named_tool_choice_force_calls_of_the_given_tools()
    {
        await using var s = await ToolServers.StartAsync(ToolServers.Hermes);
        // The fake model's script is ignored where the grammar forbids it: the output is the grammar's.
        foreach (bool stream in new[] { false, true })
        {
            var named = ToolServers.Body("whatever", new { tool_choice = new { type = "function", function = new { name = "get_weather" } } }, stream);
            var required = ToolServers.Body("whatever", new { tool_choice = "required", parallel_tool_calls = false }, stream);
            foreach (var (body, expected) in new[] { (named, "get_weather"), (required, (string?)null) })
            {
                List<(string Name, JsonElement Args)> calls;
                string? finish;
                if (stream)
                {
                    var r = Reassemble(await s.PostSseAsync("/v1/chat/completions", body));
                    (calls, finish) = (r.Calls.Select(c => (c.Name, JsonExt.Parse(c.Args))).ToList(), r.Finish);
                    Assert.Null(r.Content);
                }
                else
                {
                    var choice = (await s.PostJsonAsync("/v1/chat/completions", body)).GetProperty("choices")[0];
                    (calls, finish) = (Calls(choice.GetProperty("message")), choice.GetProperty("finish_reason").GetString());
                    Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("content").ValueKind);
                }
                Assert.Equal("tool_calls", finish);
                var call = Assert.Single(calls);
                Assert.Contains(call.Name, expected is null ? new[] { "get_weather", "get_time" } : new[] { expected });
                Assert.Equal(JsonValueKind.Object, call.Args.ValueKind);
                Assert.True(call.Name == "get_weather" ? call.Args.TryGetProperty("city", out _) : call.Args.TryGetProperty("tz", out _), call.Args.GetRawText());
            }
        }
    }
}
