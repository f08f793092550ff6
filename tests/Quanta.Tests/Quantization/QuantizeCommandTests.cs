using System.CommandLine;
using Quanta.Cli;
using Quanta.IO;

namespace Quanta.Tests.Quantization;

public class QuantizeCommandTests
{
    static Task<int> Cli(params string[] args)
    {
        var root = new RootCommand("test");
        CliCommands.AddAll(root);
        return root.Parse(args).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task QuantizeWritesALoadableCheckpointAndPerplexityRunsOnIt()
    {
        var f16 = TestPaths.Fixture("tiny-llama-f16");
        var data = TestPaths.SharedPath("datasets", "wikitext2", "wikitext2_val_sample.jsonl");
        var dir = Path.Combine(Path.GetTempPath(), "quanta-quant-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Equal(0, await Cli("quantize", "--model-id", f16, "--output", dir, "--group-size", "32", "--dataset", data,
                                      "--nsamples", "4", "--seqlen", "32", "--seed", "3"));
            using (var m = ModelLoader.Load(dir))
            {
                Assert.Equal(32, m.Config.Quantization?.GroupSize);
                Assert.Equal(new[] { 1, 9038, 2501, 263, 931, 29892 }, m.Tokenizer.Encode("Once upon a time,", true));
            }
            Assert.Equal(0, await Cli("perplexity", "--model-id", dir, "--dataset", data, "--ctx", "16", "--stride", "8", "--max-tokens", "40", "--device", "cpu"));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task BadInputFailsWithoutWritingAnything()
    {
        var f16 = TestPaths.Fixture("tiny-llama-f16");
        var dir = Path.Combine(Path.GetTempPath(), "quanta-quant-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(1, await Cli("quantize", "--model-id", f16, "--output", dir, "--dataset", Path.Combine(dir, "missing.txt")));
        Assert.Equal(1, await Cli("quantize", "--model-id", f16, "--output", dir, "--method", "rtn", "--group-size", "48"));
        Assert.Equal(1, await Cli("quantize", "--model-id", TestPaths.Fixture("tiny-llama-gptq-chan"), "--output", dir, "--method", "rtn"));
        Assert.Equal(1, await Cli("quantize", "--model-id", f16, "--output", dir));
        Assert.False(Directory.Exists(dir));
    }
}
