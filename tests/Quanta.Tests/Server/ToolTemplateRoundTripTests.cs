using System.Text.Json;
using Quanta.Server;

namespace Quanta.Tests.Server;

/// <summary>
/// Real chat templates of the corpus: the call a model writes in its family's format comes back as
/// message.tool_calls, and that message with a tool result goes back through the same template.
/// </summary>
public class ToolTemplateRoundTripTests
{
    static readonly object[] Clock =
    [
        new { type = "function", function = new { name = "get_time", description = "The time in a zone", parameters = new { type = "object", properties = new { tz = new { type = "string" } }, required = new[] { "tz" } } } },
    ];

    [Theory]
    [InlineData("hermes-2-pro-llama-3-tool-use", "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}\n</tool_call>")]
    [InlineData("qwen2.5-instruct", "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}\n</tool_call>")]
    [InlineData("falcon3-instruct", "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}\n</tool_call>")]
    [InlineData("smollm3", "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}\n</tool_call>")]
    [InlineData("mistral-7b-instruct-v0.3", "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]")]
    [InlineData("llama-3.1-instruct", "<|python_tag|>{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}")]
    [InlineData("llama-3.2-instruct", "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}")]
    public async Task A_call_comes_back_as_tool_calls_and_goes_back_through_the_template(string template, string reply)
    {
        var file = TestPaths.SharedPath("chat-templates", "templates", template + ".jinja");
        await using var s = await TestServer.StartAsync(new ServerOptions { ChatTemplate = file }, maxPositions: 4096);
        var user = new { role = "user", content = "What time is it? " + HashRunner.Script(reply) };
        var first = await s.PostJsonAsync("/v1/chat/completions", new { messages = new[] { user }, tools = Clock, temperature = 0 });
        var choice = first.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var message = choice.GetProperty("message");
        var call = Assert.Single(message.GetProperty("tool_calls").EnumerateArray().ToList());
        Assert.Equal("get_time", call.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("UTC", JsonExt.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!).GetProperty("tz").GetString());

        // The assistant message as returned, then the tool's answer: the template accepts both (Mistral's checks its ids).
        var history = new object[] { user, message, new { role = "tool", tool_call_id = call.GetProperty("id").GetString(), content = "12:00" } };
        var second = await s.PostJsonAsync("/v1/chat/completions", new { messages = history, tools = Clock, temperature = 0, max_tokens = 4 });
        Assert.Equal("chat.completion", second.GetProperty("object").GetString());
    }
}
