using System.Text.Json;
using Quanta.Cpu;
using Quanta.Engine;
using Quanta.IO;

namespace Quanta.Tests.Cpu;

/// <summary>The built-in llama2.c model (interleaved RoPE, GQA, tied classifier) against run.c's greedy output.</summary>
public class Stories260KTests
{
    [Fact]
    public void GreedyContinuationsMatchRunC()
    {
        var expected = TestPaths.SharedPath("models", "stories260K", "expected-greedy.json");
        using var model = ModelLoader.Load(TestPaths.DefaultModel);
        using var runner = new CpuModelRunner(model, new KvCacheOptions(16, 16), threads: 1);
        using var doc = JsonDocument.Parse(File.ReadAllText(expected));
        int[] blocks = [.. Enumerable.Range(0, 16)];
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var prompt = model.Tokenizer.Encode(c.GetProperty("prompt").GetString()!, addBos: true);
            int steps = c.GetProperty("steps").GetInt32();
            // run.c forwards positions 0 .. steps-1 and prints the token each one predicts.
            var output = Batches.Greedy(runner, blocks, prompt, steps + 1 - prompt.Length);
            Assert.Equal(c.GetProperty("text").GetString(), model.Tokenizer.Decode([.. prompt, .. output]));
        }
    }
}
