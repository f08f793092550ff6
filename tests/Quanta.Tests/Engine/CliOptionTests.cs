using System.CommandLine;
using System.Diagnostics;
using Quanta.Cli;

namespace Quanta.Tests.Engine;

/// <summary>Bad option values are one clear line and exit 1, reported by the parser before any model is loaded.</summary>
[Collection("Console")]
public class CliOptionTests
{
    const string NoModel = "/nonexistent/quanta-model";

    static string OneErrorLine((int Code, string Out, string Err) r)
    {
        Assert.Equal(1, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "stderr: " + r.Err);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("System.", lines[0], StringComparison.Ordinal);
        return lines[0];
    }

    [Fact]
    public async Task A_word_for_a_number_names_the_option_and_the_word()
    {
        var line = OneErrorLine(await CliRunner.Run("generate", "--prompt", "x", "--temperature", "abc"));
        Assert.Equal("error: --temperature: 'abc' is not a finite number", line);
    }

    [Fact]
    public async Task Serve_rejects_a_port_out_of_range_before_loading_the_model()
    {
        var sw = Stopwatch.StartNew();
        var line = OneErrorLine(await CliRunner.Run("serve", "--model-id", NoModel, "--port", "99999"));
        Assert.Equal("error: --port must be in 0..65535, got 99999", line);   // not the missing model: that is never opened
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Perplexity_rejects_ctx_0_before_loading_the_model()
    {
        var line = OneErrorLine(await CliRunner.Run("perplexity", "--model-id", NoModel, "--dataset", NoModel, "--ctx", "0"));
        Assert.Equal("error: --ctx must be at least 2, got 0", line);
    }

    [Theory]
    [InlineData("generate --max-new-tokens 0", "--max-new-tokens must be at least 1, got 0")]
    [InlineData("generate --top-k 2.5", "--top-k: '2.5' is not an integer")]
    [InlineData("generate --temperature 1e39", "--temperature: '1e39' is not a finite number")]
    [InlineData("generate --seed -1", "--seed: '-1' is not a whole number >= 0")]
    [InlineData("serve --cuda-memory-fraction 0", "--cuda-memory-fraction must be in (0, 1], got 0")]
    [InlineData("serve --max-batch-size 0", "--max-batch-size must be at least 1, got 0")]
    [InlineData("serve --max-num-batched-tokens -1", "--max-num-batched-tokens must be at least 0, got -1")]
    [InlineData("serve --max-num-batched-tokens 1.5", "--max-num-batched-tokens: '1.5' is not an integer")]
    [InlineData("quantize --model-id m --output /tmp/x --bits 3", "--bits must be 4 (only 4-bit GPTQ is supported), got 3")]
    [InlineData("bench serve --dataset random --timeout -1", "--timeout must be > 0 seconds, got -1")]
    public async Task Ranges_are_checked_by_the_parser(string args, string message)
    {
        var r = await CliRunner.Run(args.Split(' '));   // a parse error stops the command before it needs a model
        Assert.Equal("error: " + message, OneErrorLine(r));
    }

    /// <summary>Every numeric option of every command: a word in its place is a parse error naming it, not a .NET type.</summary>
    [Fact]
    public void Every_numeric_option_reports_a_word_in_its_own_words()
    {
        var root = new RootCommand();
        CliCommands.AddAll(root);
        int checkedOptions = 0;
        foreach (var (path, option) in NumericOptions(root, []))
        {
            var errors = root.Parse([.. path, option.Name, "abc"]).Errors.Select(e => e.Message).ToList();
            Assert.Contains($"{option.Name}: 'abc' is not", string.Join("\n", errors));
            Assert.DoesNotContain(errors, e => e.Contains("System.", StringComparison.Ordinal));
            checkedOptions++;
        }
        Assert.True(checkedOptions > 40, $"only {checkedOptions} numeric options found");
    }

    static IEnumerable<(string[] Path, Option Option)> NumericOptions(Command c, string[] path)
    {
        foreach (var o in c.Options)
        {
            var t = Nullable.GetUnderlyingType(o.ValueType) ?? o.ValueType;
            if (t == typeof(int) || t == typeof(long) || t == typeof(ulong) || t == typeof(float) || t == typeof(double)) yield return (path, o);
        }
        foreach (var sub in c.Subcommands)
            foreach (var x in NumericOptions(sub, [.. path, sub.Name])) yield return x;
    }

    [Fact]
    public async Task Generate_past_the_context_is_lowered_to_what_the_context_leaves()
    {
        var dir = TestPaths.Fixture("tiny-llama-f16");   // 512 positions, random weights: runs to the limit
        var (code, output, err) = await CliRunner.Run("generate", "--model-id", dir, "--prompt", "Hello", "--max-new-tokens", "1000",
                                                      "--json", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("note: --max-new-tokens 1000 lowered to 510: the model's context is 512 tokens and the prompt has 2", err);
        var details = System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("details");
        Assert.Equal(510, details.GetProperty("generated_tokens").GetInt32());
        Assert.Equal("length", details.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Generate_with_a_prompt_that_fills_the_context_fails_in_one_line()
    {
        var line = OneErrorLine(await CliRunner.Run("generate", "--prompt", string.Concat(Enumerable.Repeat("Once upon a time ", 200)),
                                                    "--device", "cpu"));
        Assert.Contains("model's context is 512: no room to generate", line);
    }
}
