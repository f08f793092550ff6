using Quanta.IO;
using Quanta.Model;

namespace Quanta.Tests.IO;

/// <summary>Each broken checkpoint gives one line that names the file or tensor and the problem.</summary>
public class BadInputTests
{
    static string Fails(string dir, params string[] parts)
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Open(dir).Dispose());
        Assert.DoesNotContain('\n', e.Message);
        foreach (var p in parts) Assert.Contains(p, e.Message);
        return e.Message;
    }

    [Fact]
    public void MissingFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "quanta-no-such-model");
        Fails(dir, dir, "not found");
    }

    [Fact]
    public void NoSafetensors()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        File.Move(c.Safetensors, c.PathOf("pytorch_model.bin"));
        Fails(c.Dir, c.Dir, "only PyTorch pickle weights");
    }

    [Fact]
    public void MissingTensor()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.RewriteTensors(s => s.Name == "model.layers.1.mlp.up_proj.weight" ? null : s);
        Fails(c.Dir, c.Safetensors, "missing tensor model.layers.1.mlp.up_proj.weight");
    }

    [Fact]
    public void TruncatedSafetensors()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        using (var f = new FileStream(c.Safetensors, FileMode.Open)) f.SetLength(f.Length - 1000);
        Fails(c.Dir, c.Safetensors, "truncated");
    }

    [Fact]
    public void WrongDtype()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.RewriteTensors(s => s.Name == "model.norm.weight" ? s with { DType = DType.I16 } : s);
        Fails(c.Dir, c.Safetensors, "tensor model.norm.weight has dtype I16, expected F32, F16 or BF16");
    }

    [Fact]
    public void WrongQuantizedDtype()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        c.RewriteTensors(s => s.Name == "model.layers.0.self_attn.q_proj.scales" ? s with { DType = DType.BF16 } : s);
        Fails(c.Dir, "tensor model.layers.0.self_attn.q_proj.scales has dtype BF16, expected F16");
    }

    [Fact]
    public void WrongShape()
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.RewriteTensors(s => s.Name == "model.layers.0.self_attn.k_proj.weight" ? s with { Shape = [64, 32] } : s);
        Fails(c.Dir, "tensor model.layers.0.self_attn.k_proj.weight has shape [64, 32], expected [32, 64]");
    }

    [Fact]
    public void ThreeBitGptq()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-chan");
        c.EditText("config.json", s => s.Replace("\"bits\": 4", "\"bits\": 3"));
        Fails(c.Dir, "config.json", "quantization_config.bits", "3-bit quantization is not supported");
    }

    [Fact]
    public void ThreeBitInQuantizeConfigJson()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        c.EditText("config.json", s => s[..s.IndexOf(",\n  \"quantization_config\"", StringComparison.Ordinal)] + "\n}");
        c.EditText("quantize_config.json", s => s.Replace("\"bits\": 4", "\"bits\": 3"));
        Fails(c.Dir, "quantize_config.json", "bits 3-bit quantization is not supported");
    }

    [Fact]
    public void AwqQuantMethod()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        c.EditText("config.json", s => s.Replace("\"quant_method\": \"gptq\"", "\"quant_method\": \"awq\""));
        Fails(c.Dir, "config.json", "quant_method 'awq' is not supported");
    }

    [Fact]
    public void AwqPackedTensors()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        c.RewriteTensors(s => s.Name == "model.layers.0.self_attn.q_proj.qweight" ? s with { Shape = [128, 16] } : s);
        Fails(c.Dir, "tensor model.layers.0.self_attn.q_proj.qweight", "AWQ layout");
    }

    [Fact]
    public void AwqQuantConfigFile()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        c.EditText("config.json", s => s[..s.IndexOf(",\n  \"quantization_config\"", StringComparison.Ordinal)] + "\n}");
        File.Move(c.PathOf("quantize_config.json"), c.PathOf("quant_config.json"));
        Fails(c.Dir, "quant_config.json", "AWQ quantization is not supported");
    }

    [Fact]
    public void Exl2Tensors()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-g128");
        c.RewriteTensors(s => s.Name.EndsWith(".qweight", StringComparison.Ordinal) ? s with { Name = s.Name.Replace(".qweight", ".q_weight") } : s);
        Fails(c.Dir, c.Safetensors, ".q_weight", "EXL2 quantization is not supported");
    }

    [Fact]
    public void MarlinCheckpointFormat()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-chan");
        c.EditText("config.json", s => s.Replace("\"checkpoint_format\": \"gptq\"", "\"checkpoint_format\": \"marlin\""));
        Fails(c.Dir, "checkpoint_format 'marlin' is not supported");
    }

    [Theory]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act 'gelu' is not supported")]
    [InlineData("\"model_type\": \"llama\"", "\"model_type\": \"qwen2\"", "model_type 'qwen2' is not supported")]
    [InlineData("\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0},", "rope_scaling type 'yarn' is not supported")]
    [InlineData("\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"attention_bias\": true,", "attention_bias true is not supported")]
    [InlineData("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "num_key_value_heads 3 must divide")]
    [InlineData("\"hidden_size\": 64,", "", "hidden_size is required")]
    public void UnsupportedConfig(string from, string to, string message)
    {
        using var c = new FixtureCopy("tiny-llama-f16");
        c.EditText("config.json", s => s.Replace(from, to));
        Fails(c.Dir, c.PathOf("config.json"), message);
    }

    [Fact]
    public void QuantizedTensorsWithoutSettings()
    {
        using var c = new FixtureCopy("tiny-llama-gptq-chan");
        c.EditText("config.json", s => s[..s.IndexOf(",\n  \"quantization_config\"", StringComparison.Ordinal)] + "\n}");
        File.Delete(c.PathOf("quantize_config.json"));
        Fails(c.Dir, ".qweight is quantized but the folder has no quantization settings");
    }
}
