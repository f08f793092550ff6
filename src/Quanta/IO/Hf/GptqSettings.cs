using System.Text.Json;
using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.IO.Hf;

/// <summary>Finds a checkpoint's quantization settings and rejects the formats Quanta does not read.</summary>
internal static class GptqSettings
{
    static readonly string[] Exl2Suffixes = [".q_weight", ".q_scale", ".q_invperm", ".q_groups", ".q_scale_max"];

    /// <summary>
    /// From config.json["quantization_config"], else quantize_config.json, else the legacy
    /// gptq_bits / gptq_groupsize tensors; null for an unquantized checkpoint.
    /// </summary>
    public static QuantizationConfig? Read(string dir, SafetensorsCheckpoint ck)
    {
        foreach (var name in ck.TensorNames)
            if (Exl2Suffixes.Any(name.EndsWith))
                throw new ModelLoadException($"{ck.FileOf(name)}: tensor {name}: EXL2 quantization is not supported (only GPTQ 4-bit)");

        var config = JsonFile.Read(Path.Combine(dir, "config.json"));
        if (config.Get("quantization_config") is { ValueKind: JsonValueKind.Object } qc)
            return Parse(config.Sub(qc), "quantization_config.");
        if (JsonFile.TryRead(Path.Combine(dir, "quantize_config.json")) is { } qf)
            return Parse(qf, "");
        if (ck.TryGet("gptq_bits", out var bitsT) && ck.TryGet("gptq_groupsize", out var groupT))
            return Legacy(ck, bitsT, groupT);

        if (File.Exists(Path.Combine(dir, "quant_config.json")))
            throw new ModelLoadException($"{Path.Combine(dir, "quant_config.json")}: AWQ quantization is not supported (only GPTQ 4-bit)");
        var quantized = ck.TensorNames.FirstOrDefault(n => n.EndsWith(".qweight", StringComparison.Ordinal));
        if (quantized is not null)
            throw new ModelLoadException($"{ck.FileOf(quantized)}: tensor {quantized} is quantized but the folder has no quantization settings (config.json quantization_config, quantize_config.json or gptq_bits)");
        return null;
    }

    static QuantizationConfig Parse(JsonFile f, string prefix)
    {
        var method = f.StringOr("quant_method", "gptq")!;
        if (method != "gptq") throw f.Error(prefix + "quant_method", $"'{method}' is not supported (only gptq)");
        var format = f.StringOr("checkpoint_format", "gptq")!;
        if (format != "gptq") throw f.Error(prefix + "checkpoint_format", $"'{format}' is not supported (only gptq)");
        if (f.BoolOr("is_marlin_format", false) == true) throw f.Error(prefix + "is_marlin_format", "marlin checkpoints are not supported (only gptq)");
        int bits = f.IntOr("bits", null) ?? throw f.Error(prefix + "bits", "is required");
        if (bits != 4) throw f.Error(prefix + "bits", $"{bits}-bit quantization is not supported (only 4-bit)");
        int group = f.IntOr("group_size", null) ?? throw f.Error(prefix + "group_size", "is required");
        if (group != -1 && group <= 0) throw f.Error(prefix + "group_size", $"{group} must be positive or -1");
        return new QuantizationConfig("gptq", bits, group, f.BoolOr("desc_act", false)!.Value, f.BoolOr("sym", true)!.Value);
    }

    static QuantizationConfig Legacy(SafetensorsCheckpoint ck, TensorView bitsT, TensorView groupT)
    {
        int bits = ScalarInt(ck, bitsT), group = ScalarInt(ck, groupT);
        if (bits != 4) throw new ModelLoadException($"{ck.FileOf(bitsT.Name)}: tensor gptq_bits: {bits}-bit quantization is not supported (only 4-bit)");
        bool descAct = false, sym = true;
        const string probe = "model.layers.0.self_attn.q_proj";
        if (ck.TryGet(probe + ".g_idx", out var gIdx) && gIdx.DType == DType.I32)
        {
            var g = gIdx.Span<int>();
            for (int i = 1; i < g.Length; i++) if (g[i] < g[i - 1]) { descAct = true; break; }
        }
        if (ck.TryGet(probe + ".qzeros", out var qz) && qz.DType == DType.I32)
            foreach (var v in qz.Span<int>()) if (v != 0x77777777) { sym = false; break; }
        return new QuantizationConfig("gptq", bits, group <= 0 ? -1 : group, descAct, sym);
    }

    static int ScalarInt(SafetensorsCheckpoint ck, TensorView t) => t.DType switch
    {
        DType.I32 when t.ElementCount == 1 => t.Span<int>()[0],
        DType.I64 when t.ElementCount == 1 => checked((int)t.Span<long>()[0]),
        _ => throw new ModelLoadException($"{ck.FileOf(t.Name)}: tensor {t.Name} must be one I32 or I64 value, got {t}"),
    };
}
