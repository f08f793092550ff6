using System.Text.Json;
using Quanta.Cpu;
using Quanta.Engine;
using Quanta.Grammar;
using Quanta.IO;
using Quanta.Model;
using Quanta.Tests.Engine;

namespace Quanta.Tests.Grammar;

/// <summary>
/// Every constrained output, from a trained model (stories260K, 512 tokens) and a random-weights one (the Llama-2
/// 32,000-token vocabulary), parses and validates against its schema (JsonSchema.Net, formats asserted) or fully
/// matches its regex, over hundreds of generated schemas and sampling seeds.
/// </summary>
public class ConstrainedGenerationTests
{
    static LoadedModel? _random;
    static readonly Lock Gate = new();

    internal static LoadedModel RandomWeights()
    {
        string dir = TestPaths.Fixture("tiny-llama-f16");
        lock (Gate) return _random ??= ModelLoader.Load(dir);
    }

    static SamplingParams Params(GrammarSpec spec, int seed, int maxNew) => seed == 0
        ? new SamplingParams { Grammar = spec, MaxNewTokens = maxNew }
        : new SamplingParams { Grammar = spec, MaxNewTokens = maxNew, DoSample = true, Seed = (ulong)seed };

    /// <summary>Runs every request through one engine at once; returns each one's generated text.</summary>
    static async Task<string[]> Generate(LoadedModel model, IReadOnlyList<SamplingParams> requests, string prompt)
    {
        using var runner = new CpuModelRunner(model, new KvCacheOptions(16, 64 * 24));
        await using var engine = new LlmEngine(runner, model.Tokenizer, new EngineOptions());
        var ids = model.Tokenizer.Encode(prompt, addBos: true);
        var results = await Task.WhenAll(requests.Select(p => EngineTests.Collect(engine, new GenerationRequest { PromptIds = ids, Params = p })));
        return results.Select(r => r.Last is GenerationFinished f ? f.Text : throw new Xunit.Sdk.XunitException($"request failed: {r.Last}")).ToArray();
    }

    static async Task SchemasValidate(LoadedModel model, int schemas, int seedsPerSchema, int maxNew, int firstSeed)
    {
        var gen = new SchemaGenerator(firstSeed);
        var texts = Enumerable.Range(0, schemas).Select(_ => gen.Next().ToJsonString()).ToArray();
        var requests = new List<(string Schema, SamplingParams P)>();
        foreach (var text in texts)
            for (int s = 0; s < seedsPerSchema; s++)
                requests.Add((text, Params(new GrammarSpec(GrammarKind.Json, text), s == 0 ? 0 : firstSeed * 1000 + s + requests.Count, maxNew)));
        var outputs = await Generate(model, requests.Select(r => r.P).ToList(), "Once upon a time, the JSON said:");
        for (int i = 0; i < outputs.Length; i++) SchemaAssert.Valid(requests[i].Schema, outputs[i]);
    }

    [Fact]
    public Task Stories260K_outputs_validate_over_generated_schemas() =>
        SchemasValidate(GenerateCommandTests.Stories(), schemas: 200, seedsPerSchema: 2, maxNew: 96, firstSeed: 1);

    [Fact]
    public Task Random_weights_with_the_llama2_vocabulary_validate_over_generated_schemas() =>
        SchemasValidate(RandomWeights(), schemas: 50, seedsPerSchema: 2, maxNew: 80, firstSeed: 2);

    [Fact]
    public async Task Json_object_outputs_are_objects()
    {
        var model = RandomWeights();
        var requests = Enumerable.Range(1, 8).Select(s => Params(GrammarSpec.AnyJsonObject, s, 48)).ToList();
        foreach (var output in await Generate(model, requests, "Answer in JSON:"))
        {
            using var doc = JsonDocument.Parse(output);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }
    }

    static readonly string[] Regexes =
    [
        "[a-z]+", "\\d{3}-\\d{4}", "(yes|no)", "[A-Z][a-z]{0,10} [A-Z][a-z]{0,10}", "\\w+@\\w+\\.(com|org)", "(0|[1-9]\\d*)(\\.\\d+)?",
        "((25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1?\\d?\\d)", "[^\\n]{5,20}", "a(b|c)*d", "(?:ha){2,4}!?", "\\s*\\S+", "[αβγ]+é",
    ];

    [Fact]
    public async Task Regex_outputs_fully_match_over_seeds()
    {
        foreach (var model in new[] { GenerateCommandTests.Stories(), RandomWeights() })
        {
            var requests = Regexes.SelectMany(r => Enumerable.Range(0, 5).Select(s => (Regex: r, P: Params(new GrammarSpec(GrammarKind.Regex, r), s * 7, 40)))).ToList();
            var outputs = await Generate(model, requests.Select(r => r.P).ToList(), "The answer is");
            for (int i = 0; i < outputs.Length; i++)
                Assert.True(System.Text.RegularExpressions.Regex.IsMatch(outputs[i], $"^(?:{requests[i].Regex})$"), $"/{requests[i].Regex}/ vs '{outputs[i]}'");
        }
    }
}
