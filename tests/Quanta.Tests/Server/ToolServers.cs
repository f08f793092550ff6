using Quanta.Server;

namespace Quanta.Tests.Server;

/// <summary>
/// Fake-model servers whose chat template teaches one call format (small templates carrying each family's
/// markers), and the request pieces the tool-call tests share.
/// </summary>
internal static class ToolServers
{
    public const string Hermes = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        + "{% if tools %}<|im_start|>system\n{% for t in tools %}{{ t.function.name }} {% endfor %}call as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call><|im_end|>\n{% endif %}"
        + "<|im_start|>assistant\n";
    public const string Mistral = "{% if tools %}[AVAILABLE_TOOLS] {% for t in tools %}{{ t.function.name }} {% endfor %}[/AVAILABLE_TOOLS]{% endif %}"
        + "{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }}[/INST]{% elif m.tool_calls %}[TOOL_CALLS] {{ m.tool_calls | tojson }}{% else %}{{ m.content }}{% endif %}{% endfor %}";
    public const string Llama3 = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}"
        + "{% if tools %}Respond as {\"name\": ..., \"parameters\": ...}: {% for t in tools %}{{ t.function.name }} {% endfor %}{% endif %}"
        + "<|start_header_id|>assistant<|end_header_id|>\n\n";

    /// <summary>A fake-model server with <paramref name="template"/> as its chat template (read from a file at start).</summary>
    public static async Task<TestServer> StartAsync(string template)
    {
        var dir = Directory.CreateTempSubdirectory("quanta-tools-").FullName;
        try
        {
            var file = Path.Combine(dir, "template.jinja");
            File.WriteAllText(file, template);
            return await TestServer.StartAsync(new ServerOptions { ChatTemplate = file });
        }
        finally { Directory.Delete(dir, true); }
    }

    public static readonly object[] Weather =
    [
        new
        {
            type = "function",
            function = new
            {
                name = "get_weather", description = "Current weather in a city",
                parameters = new
                {
                    type = "object",
                    properties = new { city = new { type = "string", @enum = new[] { "Paris", "Lyon", "東京" } }, unit = new { @enum = new[] { "celsius", "fahrenheit" } } },
                    required = new[] { "city" }, additionalProperties = false,
                },
            },
        },
        new
        {
            type = "function",
            function = new { name = "get_time", parameters = new { type = "object", properties = new { tz = new { type = "string", maxLength = 12 } }, required = new[] { "tz" }, additionalProperties = false } },
        },
    ];

    /// <summary>A chat body whose fake model answers <paramref name="reply"/>, with the weather tools and <paramref name="extra"/> fields.</summary>
    public static Dictionary<string, object?> Body(string reply, object? extra = null, bool stream = false)
    {
        var body = new Dictionary<string, object?>
        {
            ["messages"] = new object[] { new { role = "user", content = "Weather? " + HashRunner.Script(reply) } },
            ["tools"] = Weather, ["temperature"] = 0, ["stream"] = stream,
        };
        if (extra is not null)
            foreach (var p in extra.GetType().GetProperties()) body[p.Name] = p.GetValue(extra);
        return body;
    }
}
