using System.Text.Json;
using System.Text.Json.Nodes;
using Quanta.Tests.Grammar;

namespace Quanta.Tests.Server;

/// <summary>
/// tool_choice "required" and a named function on a trained model (stories260K over HTTP): every call parses and
/// its arguments validate against its tool's schema (JsonSchema.Net), over generated schemas and sampling seeds.
/// </summary>
public class ToolChoiceModelTests(StoriesServerFixture fx) : IClassFixture<StoriesServerFixture>
{
    /// <summary>Generated schemas whose root is an object (function parameters are objects).</summary>
    static List<JsonObject> ObjectSchemas(int count, int seed)
    {
        var gen = new SchemaGenerator(seed);
        var list = new List<JsonObject>();
        while (list.Count < count)
            if (gen.Next() is var s && s["type"] is JsonValue t && t.TryGetValue<string>(out var type) && type == "object") list.Add(s);
        return list;
    }

    static object Tool(string name, JsonObject parameters) => new { type = "function", function = new { name, parameters } };

    async Task<JsonElement> Chat(object tools, object toolChoice, int seed, bool parallel) =>
        (await fx.S.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Once upon a time" } },
            tools, tool_choice = toolChoice, parallel_tool_calls = parallel, max_tokens = 160, seed, temperature = seed == 0 ? 0 : 1,
        })).GetProperty("choices")[0];

    static List<(string Name, string Args)> Calls(JsonElement choice)
    {
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        return choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray()
            .Select(c => (c.GetProperty("function").GetProperty("name").GetString()!, c.GetProperty("function").GetProperty("arguments").GetString()!)).ToList();
    }

    [Fact]
    public async Task Named_and_required_calls_validate_against_their_tool_schemas()
    {
        var schemas = ObjectSchemas(24, seed: 21);
        var work = new List<Task>();
        for (int i = 0; i < schemas.Count; i += 2)
        {
            var (a, b) = (schemas[i], schemas[i + 1]);
            var tools = new[] { Tool("alpha", a), Tool("beta_tool", b) };
            var bySchema = new Dictionary<string, string> { ["alpha"] = a.ToJsonString(), ["beta_tool"] = b.ToJsonString() };
            int seed = i;
            work.Add(Task.Run(async () =>
            {
                var named = Calls(await Chat(tools, new { type = "function", function = new { name = "beta_tool" } }, seed, parallel: true));
                var (name, args) = Assert.Single(named);
                Assert.Equal("beta_tool", name);
                SchemaAssert.Valid(bySchema[name], args);

                foreach (bool parallel in new[] { true, false })
                {
                    var calls = Calls(await Chat(tools, "required", seed + 1, parallel));
                    Assert.NotEmpty(calls);
                    if (!parallel) Assert.Single(calls);
                    foreach (var (n, x) in calls) SchemaAssert.Valid(bySchema[n], x);
                }
            }, TestCt.Ct));
        }
        await Task.WhenAll(work);
    }

    [Fact]
    public async Task Required_keeps_each_tools_refs_pointing_into_its_own_defs()
    {
        // Both tools name a "$defs/n" of different shapes, and one refers to its own root: each resolves in its tool.
        var linked = JsonNode.Parse("""{"type":"object","properties":{"node":{"$ref":"#/$defs/n"}},"required":["node"],"additionalProperties":false,"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":9},"next":{"anyOf":[{"$ref":"#/$defs/n"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}}}""")!.AsObject();
        var tree = JsonNode.Parse("""{"type":"object","properties":{"n":{"$ref":"#/$defs/n"},"kids":{"type":"array","items":{"$ref":"#"},"maxItems":2}},"required":["n"],"additionalProperties":false,"$defs":{"n":{"enum":["leaf","node"]}}}""")!.AsObject();
        var tools = new[] { Tool("linked", linked), Tool("tree", tree) };
        var bySchema = new Dictionary<string, string> { ["linked"] = linked.ToJsonString(), ["tree"] = tree.ToJsonString() };
        var outputs = await Task.WhenAll(Enumerable.Range(0, 8).Select(seed => Chat(tools, "required", seed, parallel: true)));
        var names = new HashSet<string>();
        foreach (var choice in outputs)
            foreach (var (n, x) in Calls(choice))
            {
                SchemaAssert.Valid(bySchema[n], x);
                names.Add(n);
            }
        Assert.Equal(2, names.Count);
    }
}
