using System.Runtime.InteropServices;
using Quanta.IO;
using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.Tests.IO;

/// <summary>Layouts the fixtures do not have directly: legacy GPTQ settings, shards, f32 and bf16 weights.</summary>
public class CheckpointVariantTests
{
    static string WithoutQuantizationConfig(string json)
        => json[..json.IndexOf(",\n  \"quantization_config\"", StringComparison.Ordinal)] + "\n}";

    [Fact]
    public void LegacyGptqTensorsGiveTheSettings()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g32-act");
        c.EditText("config.json", WithoutQuantizationConfig);
        File.Delete(c.PathOf("quantize_config.json"));
        c.RewriteTensors(s => s, extra:
        [
            (new TensorSpec("gptq_bits", DType.I32, []), BitConverter.GetBytes(4)),
            (new TensorSpec("gptq_groupsize", DType.I32, []), BitConverter.GetBytes(32)),
        ]);
        using var ck = ModelLoader.Open(c.Dir);
        Assert.Equal(new QuantizationConfig("gptq", 4, 32, DescAct: true, Sym: false), ck.Config.Quantization);
        Assert.Equal(32, Assert.IsType<GptqLinear>(ck.Weights.Layers[0].Wo).GroupSize);
    }

    [Fact]
    public void PermutedGIdxMarksTheLayerActOrderWhateverTheConfigSays()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g32-act");
        c.EditText("config.json", s => s.Replace("\"desc_act\": true", "\"desc_act\": false"));
        using var ck = ModelLoader.Open(c.Dir);
        Assert.False(ck.Config.Quantization!.DescAct);
        Assert.True(Assert.IsType<GptqLinear>(ck.Weights.Layers[0].Wq).DescAct);
    }

    [Fact]
    public void ShardedFolderLoadsThroughTheIndex()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-chan");
        var map = new Dictionary<string, string>();
        using (var src = SafetensorsFile.Open(c.Safetensors))
        {
            var groups = src.Tensors.Values.GroupBy(t => t.Name.Contains("layers.1.") ? 2 : 1);
            foreach (var g in groups)
            {
                var file = $"model-0000{g.Key}-of-00002.safetensors";
                var list = g.ToList();
                using var w = new SafetensorsWriter(c.PathOf(file), list.Select(t => new TensorSpec(t.Name, t.DType, t.Shape)).ToList());
                foreach (var t in list) { w.Write(t.Name, t.Span<byte>()); map[t.Name] = file; }
            }
        }
        File.Delete(c.Safetensors);
        File.WriteAllText(c.PathOf("model.safetensors.index.json"), System.Text.Json.JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
        using var ck = ModelLoader.Open(c.Dir);
        var st = Assert.IsType<SafetensorsCheckpoint>(Assert.Single(ck.Owned));
        Assert.Equal(2, st.Files.Count);
        Assert.EndsWith("model-00002-of-00002.safetensors", st.FileOf("model.layers.1.mlp.down_proj.qweight"));
        using var reference = ModelLoader.Open(TestPaths.Fixture("tiny-llama-gptq-chan"));
        Assert.Equal(GptqFormat.Row(reference.Weights.Layers[1].WDown, 3), GptqFormat.Row(ck.Weights.Layers[1].WDown, 3));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void FloatWeightsInF32AndBf16Load(DType target)
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.RewriteTensors(s => s with { DType = target }, (view, spec) => Convert(view, target));
        using var ck = ModelLoader.Open(c.Dir);
        using var reference = ModelLoader.Open(TestPaths.Fixture("tiny-llama-f16"));
        var q = Assert.IsType<DenseLinear>(ck.Weights.Layers[0].Wq);
        Assert.Equal(target, q.Weight.DType);
        var expected = GptqFormat.Row(reference.Weights.Layers[0].Wq, 7);
        var actual = GptqFormat.Row(q, 7);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], actual[i], target == DType.F32 ? 0f : Math.Abs(expected[i]) / 128f);
    }

    static byte[] Convert(TensorView view, DType target)
    {
        var src = MemoryMarshal.Cast<ushort, Half>(view.Span<ushort>());
        if (target == DType.F32)
        {
            var f = new float[src.Length];
            for (int i = 0; i < f.Length; i++) f[i] = (float)src[i];
            return MemoryMarshal.AsBytes(f.AsSpan()).ToArray();
        }
        var b = new ushort[src.Length];
        for (int i = 0; i < b.Length; i++) b[i] = (ushort)(BitConverter.SingleToUInt32Bits((float)src[i]) >> 16);
        return MemoryMarshal.AsBytes(b.AsSpan()).ToArray();
    }
}
