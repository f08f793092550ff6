using Quanta.Bench.Decode;
using Quanta.Bench.Synth;
using Quanta.Cpu;
using Quanta.Engine;
using Quanta.IO;
using Quanta.Model;

namespace Quanta.Tests.Bench;

/// <summary>The synthetic-model writer and the decode benchmark on a tiny model, on the CPU.</summary>
public class DecodeBenchmarkTests
{
    internal static readonly LlamaConfig Tiny = new()
    {
        HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, VocabSize = 96, MaxPositionEmbeddings = 256,
    };

    static string Write(int? groupSize, bool actOrder, ulong seed)
    {
        var dir = Path.Combine(Path.GetTempPath(), "quanta-synth-" + Guid.NewGuid().ToString("N"));
        new SynthModel(Tiny, groupSize, actOrder, seed).Write(dir, null, TestContext.Current.CancellationToken);
        return dir;
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData(32, true)]
    public void SynthModelLoadsWithItsShapesAndGivesFiniteLogits(int? groupSize, bool actOrder)
    {
        var dir = Write(groupSize, actOrder, 3);
        try
        {
            using var ck = ModelLoader.Open(dir);
            Assert.Equal(Tiny.HiddenSize, ck.Config.HiddenSize);
            Assert.Equal(Tiny.NumKvHeads, ck.Config.NumKvHeads);
            Assert.Equal(Tiny.NumLayers, ck.Weights.Layers.Length);
            if (groupSize is null) Assert.IsType<DenseLinear>(ck.Weights.Layers[1].WDown);
            else Assert.Equal(actOrder, Assert.IsType<GptqLinear>(ck.Weights.Layers[1].WDown).DescAct);
            using var runner = new CpuModelRunner(ck.Config, ck.Weights, new KvCacheOptions(16, 1), threads: 1);
            var logits = new float[Tiny.VocabSize];
            runner.Forward(ForwardBatch.Of(16, new SeqTokens([0], 0, [1, 5, 9, 13])), logits);
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
            Assert.True(logits.Max() > logits.Min());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void SynthModelIsReproducibleFromItsSeed()
    {
        string a = Write(32, true, 5), b = Write(32, true, 5), c = Write(32, true, 6);
        try
        {
            byte[] A = File.ReadAllBytes(Path.Combine(a, "model.safetensors")), B = File.ReadAllBytes(Path.Combine(b, "model.safetensors"));
            Assert.Equal(A, B);
            Assert.NotEqual(A, File.ReadAllBytes(Path.Combine(c, "model.safetensors")));
        }
        finally { foreach (var d in new[] { a, b, c }) Directory.Delete(d, true); }
    }

    [Fact]
    public void DecodeBenchmarkFitsTheRunnerItAsksForAndReportsEveryBatch()
    {
        var dir = Write(32, false, 1);
        try
        {
            using var ck = ModelLoader.Open(dir);
            var o = new DecodeBenchOptions([1, 3], Steps: 4, PromptTokens: 40, Context: 20, HostLogits: false, Queue: true, new SamplingParams());
            Assert.Equal(0, o.KvTokens % DecodeBenchOptions.BlockSize);
            using var runner = new CpuModelRunner(ck.Config, ck.Weights, new KvCacheOptions(DecodeBenchOptions.BlockSize, o.KvTokens / DecodeBenchOptions.BlockSize), threads: 1);
            var output = new StringWriter();
            DecodeBenchmark.Run(runner, ck.Weights, o, output, TestContext.Current.CancellationToken);
            var lines = output.ToString().Split('\n', StringSplitOptions.TrimEntries);
            Assert.Contains("batch | ms/step | tok/s | GB read/step | roofline", lines);
            Assert.Contains(lines, l => l.StartsWith("1 |"));
            Assert.Contains(lines, l => l.StartsWith("3 |"));
            Assert.Contains(lines, l => l.StartsWith("prefill 40 tokens:"));
            Assert.Contains(lines, l => l.StartsWith("decode steps copy every logits row to the host"));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Constrained mode on the CPU: every row's tokens are chosen on the host under its grammar's mask (a token the mask
    /// rules out would throw when the row's grammar advances), and each batch reports the host's grammar work.
    /// </summary>
    [Fact]
    public void ConstrainedDecodeBenchmarkChoosesAllowedTokensAndReportsTheMaskCost()
    {
        var dir = Write(32, false, 2);
        try
        {
            using var ck = ModelLoader.Open(dir);
            var tok = new Quanta.Tests.Engine.FakeTokenizer();
            var grammar = new Quanta.Grammar.GrammarCache(new Quanta.Grammar.TokenVocabulary(tok, Tiny.VocabSize, [tok.EosId]))
                .Get(new Quanta.Grammar.GrammarSpec(Quanta.Grammar.GrammarKind.Regex, "[a-f]+( [a-z]+)*"));
            var o = new DecodeBenchOptions([1, 3], Steps: 12, PromptTokens: 0, Context: 8, HostLogits: false, Queue: true,
                new SamplingParams { DoSample = true, TopK = 5 }) { Grammar = grammar };
            using var runner = new CpuModelRunner(ck.Config, ck.Weights, new KvCacheOptions(DecodeBenchOptions.BlockSize, o.KvTokens / DecodeBenchOptions.BlockSize), threads: 1);
            var output = new StringWriter();
            DecodeBenchmark.Run(runner, ck.Weights, o, output, TestContext.Current.CancellationToken);
            var lines = output.ToString().Split('\n', StringSplitOptions.TrimEntries);
            Assert.Contains(lines, l => l.StartsWith("every row is constrained to Regex [a-f]+( [a-z]+)*"));
            Assert.Contains(lines, l => l.StartsWith("3 |"));
            Assert.Equal(2, lines.Count(l => l.StartsWith("host grammar work")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
