using System.Text.Json;
using Quanta.IO;
using Quanta.Model;
using Quanta.Tests.IO;

namespace Quanta.Tests.Engine;

[Collection("Console")]
public class GenerateCommandTests
{
    static LoadedModel? _model;
    static readonly Lock Gate = new();

    /// <summary>The built-in stories260K (for its tokenizer); skips while the tokenizer is pending.</summary>
    internal static LoadedModel Stories()
    {
        lock (Gate)
        {
            try { return _model ??= ModelLoader.Load(TestPaths.DefaultModel); }
            catch (NotImplementedException e) { Assert.Skip("tokenizer not implemented yet in this branch: " + e.Message); throw; }
        }
    }

    public static TheoryData<int> Cases => [0, 1, 2, 3];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Stories260KGreedyMatchesLlama2cRunC(int index)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.SharedPath("models", "stories260K", "expected-greedy.json")));
        var c = doc.RootElement.GetProperty("cases")[index];
        string prompt = c.GetProperty("prompt").GetString()!, expected = c.GetProperty("text").GetString()!;
        int steps = c.GetProperty("steps").GetInt32();
        // run.c forwards positions 0..steps-1 (BOS at 0) and prints the token each one predicts:
        // the sequence ends with steps + 1 tokens, so steps + 1 - prompt tokens (BOS included) are generated.
        int promptTokens = Stories().Tokenizer.Encode(prompt, addBos: true).Length;
        var (code, output, err) = await CliRunner.Run("generate", "--prompt", prompt, "--max-new-tokens", $"{steps + 1 - promptTokens}");
        Assert.Equal(0, code);
        Assert.EndsWith("\n", output, StringComparison.Ordinal);
        Assert.Equal(expected, prompt + output[..^1]);
        Assert.Matches(@"prompt tokens: \d+, generated tokens: \d+, decode: [\d.]+ tok/s", err);
    }

    [Fact]
    public async Task Stories260KEndsItsStoryAtBosAsRunCDoes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.SharedPath("models", "stories260K", "expected-greedy.json")));
        var c = doc.RootElement.GetProperty("cases")[0];
        string prompt = c.GetProperty("prompt").GetString()!, expected = c.GetProperty("text").GetString()!;
        int room = Stories().Config.MaxPositionEmbeddings - Stories().Tokenizer.Encode(prompt, addBos: true).Length;
        var (code, output, err) = await CliRunner.Run("generate", "--prompt", prompt, "--max-new-tokens", $"{room}");
        Assert.True(code == 0, err);
        var generated = int.Parse(System.Text.RegularExpressions.Regex.Match(err, @"generated tokens: (\d+)").Groups[1].Value);
        Assert.Contains("finish: eos_token", err);
        Assert.InRange(generated, 1, room - 1);
        // run.c's text (120 positions) and this one agree up to where the shorter ends.
        string text = prompt + output[..^1];
        Assert.True(text.StartsWith(expected, StringComparison.Ordinal) || expected.StartsWith(text, StringComparison.Ordinal), text);
    }

    public static TheoryData<string, int> FixtureCases => new()
    {
        { "tiny-llama-f16", 0 }, { "tiny-llama-gptq-chan", 1 }, { "tiny-llama-gptq-g128", 2 }, { "tiny-llama-gptq-g32-act", 3 },
    };

    [Theory]
    [MemberData(nameof(FixtureCases))]
    public async Task FixtureGreedy24ThroughTheCommand(string fixture, int index)
    {
        var dir = TestPaths.Fixture(fixture);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var c = doc.RootElement.GetProperty("cases")[index];
        var (code, output, err) = await CliRunner.Run("generate", "--model-id", dir, "--prompt", c.GetProperty("prompt").GetString()!,
                                                      "--max-new-tokens", "24", "--json");
        Assert.True(code == 0, err);
        var details = JsonDocument.Parse(output).RootElement.GetProperty("details");
        Assert.Equal(c.GetProperty("greedy_24").EnumerateArray().Select(e => e.GetInt32()),
                     details.GetProperty("tokens").EnumerateArray().Select(t => t.GetProperty("id").GetInt32()));
        string text = JsonDocument.Parse(output).RootElement.GetProperty("generated_text").GetString()!;
        Assert.Equal(c.GetProperty("greedy_24_text").GetString(), text.TrimStart(' '));
    }

    [Fact]
    public async Task PromptFromStdinGivesTheSameText()
    {
        Stories();
        var (flagCode, fromFlag, err) = await CliRunner.Run("generate", "--prompt", "Lily and Ben", "--max-new-tokens", "20");
        Assert.True(flagCode == 0, err);
        var saved = Console.In;
        Console.SetIn(new StringReader("Lily and Ben\n"));
        try
        {
            var (code, fromStdin, _) = await CliRunner.Run("generate", "--max-new-tokens", "20");
            Assert.Equal(0, code);
            Assert.Equal(fromFlag, fromStdin);
        }
        finally { Console.SetIn(saved); }
    }

    [Fact]
    public async Task JsonHasTheTgiGenerateShape()
    {
        Stories();
        var (code, output, err) = await CliRunner.Run("generate", "--prompt", "The cat", "--max-new-tokens", "12", "--json", "--decoder-input-details");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var details = root.GetProperty("details");
        Assert.Equal("length", details.GetProperty("finish_reason").GetString());
        Assert.Equal(12, details.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, details.GetProperty("seed").ValueKind);
        var tokens = details.GetProperty("tokens").EnumerateArray().ToList();
        Assert.Equal(12, tokens.Count);
        foreach (var t in tokens)
        {
            Assert.True(t.GetProperty("logprob").GetDouble() <= 0);
            Assert.False(t.GetProperty("special").GetBoolean());
            t.GetProperty("id").GetInt32();
            t.GetProperty("text").GetString();
        }
        var prefill = details.GetProperty("prefill").EnumerateArray().ToList();
        Assert.Equal(Stories().Tokenizer.Encode("The cat", true), prefill.Select(p => p.GetProperty("id").GetInt32()));
        Assert.Equal(JsonValueKind.Null, prefill[0].GetProperty("logprob").ValueKind);
        Assert.Contains("\"text\":\"<s>\"", output, StringComparison.Ordinal);   // readable, not \u003C-escaped
        Assert.All(prefill.Skip(1), p => Assert.True(p.GetProperty("logprob").GetDouble() < 0));
        var (_, streamed, _) = await CliRunner.Run("generate", "--prompt", "The cat", "--max-new-tokens", "12");
        Assert.Equal(streamed[..^1], root.GetProperty("generated_text").GetString());
    }

    [Fact]
    public async Task SeededSamplingRepeatsAndReportsTheSeed()
    {
        Stories();
        string[] args = ["generate", "--prompt", "Lily", "--max-new-tokens", "30", "--temperature", "0.9", "--top-p", "0.9", "--seed", "1234", "--json"];
        var (code, a, err) = await CliRunner.Run(args);
        Assert.True(code == 0, err);
        var (_, b, _) = await CliRunner.Run(args);
        Assert.Equal(a, b);
        using var doc = JsonDocument.Parse(a);
        Assert.Equal(1234UL, doc.RootElement.GetProperty("details").GetProperty("seed").GetUInt64());
    }

    [Fact]
    public async Task StopSequenceCutsTheOutput()
    {
        Stories();
        var (fullCode, full, err) = await CliRunner.Run("generate", "--prompt", "Once upon a time", "--max-new-tokens", "40", "--json");
        Assert.True(fullCode == 0, err);
        string text = JsonDocument.Parse(full).RootElement.GetProperty("generated_text").GetString()!;
        Assert.Contains("Lily", text);
        var (code, cut, _) = await CliRunner.Run("generate", "--prompt", "Once upon a time", "--max-new-tokens", "40", "--json", "--stop", "Lily", "--stop", "zebra");
        Assert.Equal(0, code);
        var root = JsonDocument.Parse(cut).RootElement;
        Assert.Equal(text[..(text.IndexOf("Lily", StringComparison.Ordinal) + "Lily".Length)], root.GetProperty("generated_text").GetString()); // TGI keeps the stop
        Assert.Equal("stop_sequence", root.GetProperty("details").GetProperty("finish_reason").GetString());
        var (_, streamed, _) = await CliRunner.Run("generate", "--prompt", "Once upon a time", "--max-new-tokens", "40", "--stop", "Lily");
        Assert.Equal(text[..text.IndexOf("Lily", StringComparison.Ordinal)] + "\n", streamed);
    }

    static async Task FailsWithOneLine(string modelDir, params string[] mentions)
    {
        var (code, output, err) = await CliRunner.Run("generate", "--model-id", modelDir, "--prompt", "hello", "--max-new-tokens", "2");
        Assert.NotEqual(0, code);
        Assert.Equal("", output);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        foreach (var m in mentions) Assert.Contains(m, line, StringComparison.Ordinal);
    }

    [Fact]
    public Task MissingFolderFails()
    {
        var dir = Path.Combine(Path.GetTempPath(), "quanta-engine-no-such-model");
        return FailsWithOneLine(dir, dir);
    }

    [Fact]
    public async Task MissingTensorFails()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.RewriteTensors(s => s.Name == "model.layers.0.mlp.down_proj.weight" ? null : s);
        await FailsWithOneLine(c.Dir, c.Safetensors, "model.layers.0.mlp.down_proj.weight");
    }

    [Fact]
    public async Task TruncatedSafetensorsFails()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        using (var f = new FileStream(c.Safetensors, FileMode.Open)) f.SetLength(f.Length / 2);
        await FailsWithOneLine(c.Dir, c.Safetensors, "truncated");
    }

    [Fact]
    public async Task WrongDtypeFails()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.RewriteTensors(s => s.Name == "model.norm.weight" ? s with { DType = DType.I16 } : s);
        await FailsWithOneLine(c.Dir, "model.norm.weight", "I16");
    }

    [Theory]
    [InlineData("3bit")]
    [InlineData("awq")]
    [InlineData("exl2")]
    public async Task UnsupportedQuantizationFails(string kind)
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        switch (kind)
        {
            case "3bit": c.EditText("config.json", s => s.Replace("\"bits\": 4", "\"bits\": 3")); break;
            case "awq": c.EditText("config.json", s => s.Replace("\"quant_method\": \"gptq\"", "\"quant_method\": \"awq\"")); break;
            default:
                c.RewriteTensors(s => s.Name.EndsWith(".qweight", StringComparison.Ordinal) ? s with { Name = s.Name.Replace(".qweight", ".q_weight") } : s);
                break;
        }
        await FailsWithOneLine(c.Dir, kind switch { "3bit" => "3-bit", "awq" => "awq", _ => "EXL2" });
    }

    [Fact]
    public async Task BadFlagFailsWithOneLine()
    {
        var (code, _, err) = await CliRunner.Run("generate", "--prompt", "x", "--top-p", "1.5");
        Assert.Equal(1, code);
        Assert.Equal("error: --top-p must be in (0, 1], got 1.5", err.Trim());
    }
}
