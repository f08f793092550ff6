using Quanta.IO;
using Quanta.Model;

namespace Quanta.Tests.IO;

public class HfLoaderTests
{
    [Theory]
    [InlineData("tiny-llama-f16", 64, 192, 2, 4, 2, false)]
    [InlineData("tiny-llama-gptq-g32-act", 64, 192, 2, 4, 2, false)]
    [InlineData("tiny-llama-gptq-g128", 128, 256, 2, 4, 4, true)]
    [InlineData("tiny-llama-gptq-chan", 128, 256, 2, 4, 1, true)]
    public void FixtureConfigMatchesReadme(string fixture, int hidden, int ffn, int layers, int heads, int kvHeads, bool tied)
    {
        using var ck = ModelLoader.Open(TestPaths.Fixture(fixture));
        var c = ck.Config;
        Assert.Equal((hidden, ffn, layers, heads, kvHeads, tied),
                     (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.TieWordEmbeddings));
        Assert.Equal(hidden / heads, c.HeadDim);
        Assert.Equal(32000, c.VocabSize);
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal([2], c.EosTokenIds);
        Assert.Equal(10000f, c.RopeTheta);
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.Equal(512, c.MaxPositionEmbeddings);
        Assert.Equal(RopeStyle.RotateHalf, c.RopeStyle);
        Assert.Null(c.RopeScaling);
        Assert.Equal(fixture, ck.Name);
        Assert.Equal(layers, ck.Weights.Layers.Length);
        Assert.Equal([32000L, hidden], ck.Weights.Embedding.Shape);
        Assert.Equal(DType.F16, ck.Weights.Embedding.DType);
        Assert.Equal([(long)hidden], ck.Weights.FinalNorm.Shape);
        var lm = Assert.IsType<DenseLinear>(ck.Weights.LmHead);
        Assert.Equal((32000, hidden), (lm.OutFeatures, lm.InFeatures));
        Assert.Equal(tied, lm.Weight.Data == ck.Weights.Embedding.Data);
    }

    [Theory]
    [InlineData("tiny-llama-gptq-g32-act", 32, true, false)]
    [InlineData("tiny-llama-gptq-g128", 128, false, true)]
    [InlineData("tiny-llama-gptq-chan", -1, false, true)]
    public void GptqSettingsPerFixture(string fixture, int groupSize, bool descAct, bool sym)
    {
        using var ck = ModelLoader.Open(TestPaths.Fixture(fixture));
        Assert.Equal(new QuantizationConfig("gptq", 4, groupSize, descAct, sym), ck.Config.Quantization);
        var c = ck.Config;
        foreach (var layer in ck.Weights.Layers)
        {
            LinearWeights[] all = [layer.Wq, layer.Wk, layer.Wv, layer.Wo, layer.WGate, layer.WUp, layer.WDown];
            foreach (var l in all)
            {
                var g = Assert.IsType<GptqLinear>(l);
                int group = groupSize == -1 ? g.InFeatures : groupSize;
                Assert.Equal((4, group, sym, descAct), (g.Bits, g.GroupSize, g.Sym, g.DescAct));
                Assert.Equal(g.InFeatures / group, g.Groups);
                Assert.Equal([g.InFeatures / 8L, g.OutFeatures], g.QWeight.Shape);
                Assert.Equal(g.InFeatures, g.GIdx.Length);
                bool sequential = g.GIdx.Select((grp, i) => grp == i / group).All(x => x);
                Assert.Equal(!descAct, sequential);
            }
            Assert.Equal((c.NumKvHeads * c.HeadDim, c.HiddenSize), (layer.Wk.OutFeatures, layer.Wk.InFeatures));
            Assert.Equal((c.HiddenSize, c.IntermediateSize), (layer.WDown.OutFeatures, layer.WDown.InFeatures));
        }
    }

    [Fact]
    public void F16FixtureHasDenseLayersOfConfiguredShapes()
    {
        using var ck = ModelLoader.Open(TestPaths.Fixture("tiny-llama-f16"));
        Assert.Null(ck.Config.Quantization);
        var layer = ck.Weights.Layers[1];
        var q = Assert.IsType<DenseLinear>(layer.Wq);
        Assert.Equal("model.layers.1.self_attn.q_proj.weight", q.Weight.Name);
        Assert.Equal([64L, 64], q.Weight.Shape);
        Assert.Equal([32L, 64], Assert.IsType<DenseLinear>(layer.Wv).Weight.Shape);
        Assert.Equal([64L, 192], Assert.IsType<DenseLinear>(layer.WDown).Weight.Shape);
        Assert.Equal([64L], layer.AttnNorm.Shape);
    }

    [Fact]
    public void GenerationConfigEosListAndChatTemplateAreRead()
    {
        using var copy = new FixtureCopy("tiny-llama-f16");
        File.WriteAllText(copy.PathOf("generation_config.json"),
            """{"bos_token_id": 1, "eos_token_id": [2, 7], "do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 40}""");
        copy.EditText("tokenizer_config.json", s => s.Replace("\"legacy\": true", "\"legacy\": true, \"chat_template\": \"{{ messages }}\""));
        copy.EditText("config.json", s => s.Replace("\"rope_theta\": 10000.0,", "\"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192},"));
        using var ck = ModelLoader.Open(copy.Dir);
        Assert.Equal([2, 7], ck.Config.EosTokenIds);
        Assert.Equal("{{ messages }}", ck.Config.ChatTemplate);
        Assert.Equal(new GenerationDefaults(0.6f, 0.9f, 40, null), ck.Defaults);
        Assert.Equal(new RopeScaling("llama3", 8f, 1f, 4f, 8192), ck.Config.RopeScaling);
        Assert.Equal(500000f, ck.Config.RopeTheta);
    }

    [Fact]
    public void SamplingDefaultsNeedDoSample()
    {
        using var copy = new FixtureCopy("tiny-llama-f16");
        File.WriteAllText(copy.PathOf("generation_config.json"), """{"eos_token_id": 2, "temperature": 0.6, "repetition_penalty": 1.1}""");
        using var ck = ModelLoader.Open(copy.Dir);
        Assert.Equal(new GenerationDefaults(RepetitionPenalty: 1.1f), ck.Defaults);
    }

    [Theory]
    [InlineData("tiny-llama-f16")]
    [InlineData("tiny-llama-gptq-chan")]
    public void LoadOpensTheTokenizerAndOwnsTheMaps(string fixture)
    {
        using var model = ModelLoader.Load(TestPaths.Fixture(fixture));
        Assert.Equal(32000, model.Tokenizer.VocabSize);
        Assert.Equal(model.Config.BosTokenId, model.Tokenizer.BosId);
        Assert.Single(model.Owned);
        Assert.Equal(fixture, model.Name);
    }
}
