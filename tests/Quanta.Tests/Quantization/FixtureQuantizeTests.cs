using System.Runtime.InteropServices;
using System.Text.Json;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

public class FixtureQuantizeTests
{
    static readonly QuantizeOptions GptqG32Act = new(new QuantSpec(4, 32, Sym: false, ActOrder: true));
    static readonly QuantizeOptions RtnChannel = new(new QuantSpec(4, -1, Sym: true), Gptq: false);

    static (LoadedModel Model, QuantizedModel Q, string Dir) Quantize(QuantizeOptions opt, string fixture = "tiny-llama-f16")
    {
        var m = QuantTestModels.Open(TestPaths.Fixture(fixture));
        var samples = QuantTestModels.RandomSamples(m.Config.VocabSize, 6, 48, 1);
        var q = ModelQuantizer.Run(m, opt, samples, _ => { });
        var dir = Path.Combine(Path.GetTempPath(), "quanta-quant-" + Guid.NewGuid().ToString("N"));
        GptqCheckpointWriter.Write(dir, m, q, opt, _ => { });
        return (m, q, dir);
    }

    [Theory]
    [InlineData(32, true, false, true)]
    [InlineData(-1, false, true, false)]
    public void GptqLayerErrorIsBelowRtnOnEveryLayer(int group, bool actOrder, bool sym, bool trueSequential)
    {
        var (m, q, dir) = Quantize(new QuantizeOptions(new QuantSpec(4, group, sym, actOrder), true, trueSequential));
        using (m)
        {
            Assert.Equal(m.Config.NumLayers * 7, q.Reports.Count);
            Assert.All(q.Reports, r => Assert.True(r.Error < r.RtnError, $"{r.Name}: gptq {r.Error:G4} >= rtn {r.RtnError:G4}"));
        }
        Directory.Delete(dir, true);
    }

    [Fact]
    public void PackedTensorsRoundTripExactlyThroughTheLoader()
    {
        var (m, q, dir) = Quantize(GptqG32Act);
        using (m)
        using (var back = QuantTestModels.Open(dir))
        {
            Assert.Equal(new QuantizationConfig("gptq", 4, 32, true, false), back.Config.Quantization);
            for (int i = 0; i < m.Config.NumLayers; i++)
            {
                var l = back.Weights.Layers[i];
                foreach (var (name, lin) in new[] { ("self_attn.q_proj", l.Wq), ("self_attn.k_proj", l.Wk), ("self_attn.v_proj", l.Wv),
                    ("self_attn.o_proj", l.Wo), ("mlp.gate_proj", l.WGate), ("mlp.up_proj", l.WUp), ("mlp.down_proj", l.WDown) })
                {
                    var want = q.Linears[$"model.layers.{i}.{name}"];
                    var g = Assert.IsType<GptqLinear>(lin);
                    Assert.Equal(want.GIdx, g.GIdx);
                    Assert.True(g.DescAct);
                    var qv = GptqFormat.UnpackQWeight(g.QWeight.Span<int>(), g.InFeatures, g.OutFeatures);
                    for (int o = 0; o < want.Rows; o++)
                        for (int c = 0; c < want.Columns; c++) Assert.Equal(want.Q[o * want.Columns + c], qv[c * want.Rows + o]);
                    var z = GptqFormat.UnpackQZeros(g.QZeros.Span<int>(), g.Groups, g.OutFeatures);
                    Assert.Equal(want.Zeros, z.Select(v => v + 1));
                    Assert.Equal(want.Scales, MemoryMarshal.Cast<ushort, Half>(g.Scales.Span<ushort>()).ToArray().Select(h => (float)h));
                    Assert.Equal(want.Dequantize(), GptqFormat.Dequantize(g));
                }
                Assert.Equal(DenseWeights.ToFloat(m.Weights.Layers[i].AttnNorm).Select(v => (float)(Half)v), DenseWeights.ToFloat(l.AttnNorm));
            }
            Assert.Equal(DType.F16, back.Weights.Embedding.DType);
            using var qc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "quantize_config.json")));
            Assert.Equal(32, qc.RootElement.GetProperty("group_size").GetInt32());
            Assert.True(File.Exists(Path.Combine(dir, "tokenizer.model")));
            Assert.True(File.Exists(Path.Combine(dir, "generation_config.json")));
        }
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void QuantizedCheckpointLoadsAndGeneratesWhatTheQuantizerMeant(bool gptq)
    {
        var (m, q, dir) = Quantize(gptq ? GptqG32Act : RtnChannel);
        using (m)
        using (var back = QuantTestModels.Open(dir))
        using (var runner = QuantTestModels.Runner(back))
        {
            int[] prompt = [1, 9038, 2501, 263, 931, 29892];
            var want = QuantTestModels.DenseLogits(m, prompt, q, halfNorms: true);
            var got = QuantTestModels.RunnerLogits(runner, prompt);
            Assert.True(QuantTestModels.MaxAbsDiff(want, got) < 2e-3, $"max diff {QuantTestModels.MaxAbsDiff(want, got)}");
            var ids = prompt.ToList();                                        // greedy continuation, 6 steps
            int vocab = m.Config.VocabSize;
            for (int s = 0; s < 6; s++)
            {
                var l = QuantTestModels.RunnerLogits(runner, ids.ToArray()).AsSpan((ids.Count - 1) * vocab, vocab);
                ids.Add(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(l));
            }
            var reference = QuantTestModels.DenseLogits(m, ids.ToArray(), q, halfNorms: true);
            for (int t = prompt.Length - 1; t < ids.Count - 1; t++)
                Assert.Equal(ids[t + 1], System.Numerics.Tensors.TensorPrimitives.IndexOfMax(reference.AsSpan(t * vocab, vocab)));
        }
        Directory.Delete(dir, true);
    }
}
