using Quanta.IO;
using Quanta.Tokenization;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

public class Llama2cQuantizeTests
{
    static readonly int[] Prompt = [1, 403, 407, 261, 378, 426, 259, 260, 280, 350, 335, 290];

    [Fact]
    public void RotateHalfPermutationGivesTheInterleavedModelsLogits()
    {
        using var m = QuantTestModels.Open(TestPaths.DefaultModel);
        Assert.Equal(RopeStyle.Interleaved, m.Config.RopeStyle);
        using var runner = QuantTestModels.Runner(m);
        var want = QuantTestModels.RunnerLogits(runner, Prompt);
        var got = QuantTestModels.DenseLogits(m, Prompt);
        Assert.True(QuantTestModels.MaxAbsDiff(want, got) < 1e-3, $"max diff {QuantTestModels.MaxAbsDiff(want, got)}");
    }

    [Fact]
    public void Stories260KQuantizesWithPaddedFfnAndLoadsBack()
    {
        using var m = QuantTestModels.Open(TestPaths.DefaultModel);
        var opt = new QuantizeOptions(new QuantSpec(4, 32, Sym: true, ActOrder: true));
        var log = new List<string>();
        var q = ModelQuantizer.Run(m, opt, QuantTestModels.RandomSamples(m.Config.VocabSize, 4, 64, 2), log.Add, ct: TestContext.Current.CancellationToken);
        Assert.Equal(192, q.PaddedIntermediate);
        Assert.Contains(log, l => l.Contains("intermediate_size 172") && l.Contains("padded to 192"));
        Assert.All(q.Reports, r => Assert.True(r.Error <= r.RtnError, $"{r.Name}: gptq {r.Error:G4} > rtn {r.RtnError:G4}"));
        var dir = Path.Combine(Path.GetTempPath(), "quanta-quant-" + Guid.NewGuid().ToString("N"));
        GptqCheckpointWriter.Write(dir, m, q, opt, _ => { });
        try
        {
            using var back = QuantTestModels.Open(dir);
            Assert.Equal(RopeStyle.RotateHalf, back.Config.RopeStyle);
            Assert.Equal(192, back.Config.IntermediateSize);
            Assert.True(back.Config.TieWordEmbeddings);
            Assert.Equal(192, back.Weights.Layers[0].WDown.InFeatures);
            using var runner = QuantTestModels.Runner(back);
            var want = QuantTestModels.DenseLogits(m, Prompt, q, halfNorms: true);
            var got = QuantTestModels.RunnerLogits(runner, Prompt);
            Assert.True(QuantTestModels.MaxAbsDiff(want, got) < 2e-3, $"max diff {QuantTestModels.MaxAbsDiff(want, got)}");
            var original = TokenizerFactory.FromLlama2cFile(Path.Combine(TestPaths.DefaultModel, "tok512.bin"), 512);
            using var full = ModelLoader.Load(dir);
            foreach (var text in new[] { "Once upon a time, there was a little girl named Lily.", "She said, \"Hi!\"  Tom's big, red ball\n\nThe end. é 🙂" })
            {
                Assert.Equal(original.Encode(text, true), full.Tokenizer.Encode(text, true));
                Assert.Equal(original.Decode(original.Encode(text, true)), full.Tokenizer.Decode(full.Tokenizer.Encode(text, true)));
            }
            Assert.True(File.Exists(Path.Combine(dir, "tokenizer.bin")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void PaddingLeavesTheFp32ModelUnchanged()
    {
        using var m = QuantTestModels.Open(TestPaths.DefaultModel);
        using var fwd = new DenseForward(m.Config);
        var a = new float[4 * 64];
        for (int i = 0; i < a.Length; i++) a[i] = (float)Math.Sin(i * 0.37);
        var b = (float[])a.Clone();
        fwd.Layer(DenseWeights.Layer(m, 0, 172), a, 4, 172, null);
        fwd.Layer(DenseWeights.Layer(m, 0, 192), b, 4, 192, null);
        Assert.True(QuantTestModels.MaxAbsDiff(a, b) < 1e-6);
    }
}
