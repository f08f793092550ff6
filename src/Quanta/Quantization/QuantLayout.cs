using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>Which shapes 4-bit GPTQ packing and the group size can take, and the FFN padding that makes them fit.</summary>
public static class QuantLayout
{
    /// <summary>Validates the model and group size; returns the FFN width padded to fit packing and groups.</summary>
    /// <exception cref="ArgumentException">the model is already quantized or the group size cannot work.</exception>
    public static int Check(LoadedModel model, QuantSpec spec, Action<string> log)
    {
        var c = model.Config;
        if (c.Quantization is not null || model.Weights.Layers.Any(l => l.Wq is not DenseLinear))
            throw new ArgumentException($"{model.Path}: the model is already quantized ({c.Quantization?.Method ?? "gptq"}); quantize an fp16/bf16/fp32 checkpoint");
        if (spec.Bits != 4) throw new ArgumentException($"--bits {spec.Bits}: only 4-bit GPTQ is supported");
        if (spec.GroupSize == 0 || spec.GroupSize < -1)
            throw new ArgumentException($"--group-size {spec.GroupSize}: must be -1 (per channel) or a positive number of input columns");
        if (!(spec.Damp > 0 && spec.Damp < 1)) throw new ArgumentException($"--damp {spec.Damp}: must be in (0, 1)");
        int hd = c.EffectiveHeadDim;
        (string What, int Size)[] fixedIn = [("hidden_size (q/k/v/gate/up_proj in_features)", c.HiddenSize), ("num_attention_heads*head_dim (o_proj in_features)", c.NumHeads * hd)];
        foreach (var (what, size) in fixedIn)
        {
            if (size % 8 != 0) throw new ArgumentException($"{what} {size} is not a multiple of 8: 4-bit packing cannot take it");
            if (spec.GroupSize > 0 && size % spec.GroupSize != 0)
                throw new ArgumentException($"--group-size {spec.GroupSize} does not divide {what} {size} " +
                                            $"(the largest group size up to {spec.GroupSize} that fits is {FitGroupSize(c, spec.GroupSize)}; -1 = per channel)");
        }
        int kv = c.NumKvHeads * hd;
        if (kv % 8 != 0) throw new ArgumentException($"num_key_value_heads*head_dim {kv} (k/v_proj out_features) is not a multiple of 8: 4-bit zero packing cannot take it");
        int unit = spec.GroupSize > 0 ? Lcm(8, spec.GroupSize) : 8;
        int ffn = c.IntermediateSize, padded = (ffn + unit - 1) / unit * unit;
        if (padded != ffn)
            log($"intermediate_size {ffn} does not fit {(spec.GroupSize > 0 ? $"group size {spec.GroupSize} and " : "")}8-row packing: " +
                $"padded to {padded} (gate/up_proj get zero rows, down_proj zero input columns; the model's output is unchanged)");
        return padded;
    }

    /// <summary>
    /// The largest multiple of 8 up to <paramref name="requested"/> that divides every fixed input width (hidden_size and
    /// num_attention_heads*head_dim): <paramref name="requested"/> itself when it fits; -1 stays -1 (per channel).
    /// </summary>
    public static int FitGroupSize(LlamaConfig c, int requested)
    {
        if (requested <= 0) return requested;
        int width = Gcd(c.HiddenSize, c.NumHeads * c.EffectiveHeadDim);
        if (width % requested == 0) return requested;
        for (int g = Math.Min(requested, width) / 8 * 8; g >= 8; g -= 8)
            if (width % g == 0) return g;
        return -1;
    }

    static int Lcm(int a, int b) => a / Gcd(a, b) * b;
    static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
