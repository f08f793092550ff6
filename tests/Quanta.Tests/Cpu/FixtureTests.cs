using System.Text.Json;

namespace Quanta.Tests.Cpu;

/// <summary>The four reference checkpoints in shared/fixtures, computed by transformers in float64.</summary>
public class FixtureTests
{
    public static TheoryData<string> Fixtures => ["tiny-llama-f16", "tiny-llama-gptq-g32-act", "tiny-llama-gptq-g128", "tiny-llama-gptq-chan"];

    sealed record Case(int[] Ids, float[] LastLogits, int[] Argmax, int[] Greedy);

    static List<Case> Cases(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "expected.json")));
        return [.. doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            [.. c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32())],
            [.. c.GetProperty("last_logits").EnumerateArray().Select(e => e.GetSingle())],
            [.. c.GetProperty("argmax_per_position").EnumerateArray().Select(e => e.GetInt32())],
            [.. c.GetProperty("greedy_24").EnumerateArray().Select(e => e.GetInt32())]))];
    }

    static readonly int[] Blocks = [.. Enumerable.Range(0, 8)];

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void PromptLogitsMatchReference(string fixture)
    {
        var dir = TestPaths.Fixture(fixture);
        using var m = new CpuTestModel(dir);
        foreach (var c in Cases(dir))
        {
            var logits = Batches.Run(m.Runner, Batches.Build(m.Runner.BlockSize, new SeqStep(Blocks, 0, c.Ids, AllLogits: true)));
            int v = m.Vocab, n = c.Ids.Length;
            for (int p = 0; p < n; p++)
                Assert.True(c.Argmax[p] == Batches.Argmax(logits.AsSpan(p * v, v)), $"{fixture} position {p}: argmax {Batches.Argmax(logits.AsSpan(p * v, v))}, expected {c.Argmax[p]}");
            double maxErr = 0;
            for (int i = 0; i < v; i++) maxErr = Math.Max(maxErr, Math.Abs(logits[(n - 1) * v + i] - c.LastLogits[i]));
            Assert.True(maxErr <= 1e-3, $"{fixture}: last_logits max abs error {maxErr}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Greedy24IsReproduced(string fixture)
    {
        var dir = TestPaths.Fixture(fixture);
        using var m = new CpuTestModel(dir);
        foreach (var c in Cases(dir))
            Assert.Equal(c.Greedy, Batches.Greedy(m.Runner, Blocks, c.Ids, 24));
    }
}
