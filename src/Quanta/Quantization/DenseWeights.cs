using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>One decoder layer's weights as fp32 arrays in Hugging Face layout (rotate-half q/k rows).</summary>
public sealed class DenseLayer
{
    public required float[] AttnNorm;   // [hidden]
    public required float[] Wq;         // [heads*head_dim, hidden]
    public required float[] Wk;         // [kv_heads*head_dim, hidden]
    public required float[] Wv;         // [kv_heads*head_dim, hidden]
    public required float[] Wo;         // [hidden, heads*head_dim]
    public required float[] FfnNorm;    // [hidden]
    public required float[] WGate;      // [ffn_padded, hidden]
    public required float[] WUp;        // [ffn_padded, hidden]
    public required float[] WDown;      // [hidden, ffn_padded]
}

/// <summary>Reads checkpoint tensors into fp32 arrays.</summary>
internal static class DenseWeights
{
    public static float[] ToFloat(TensorView t)
    {
        var dst = new float[t.ElementCount];
        GptqFormat.ToFloat(t, 0, dst);
        return dst;
    }

    public static float[] Linear(LinearWeights l) => l switch
    {
        DenseLinear d => ToFloat(d.Weight),
        _ => throw new InvalidOperationException($"{l.Name} is already quantized; quantize an unquantized (fp16/bf16/fp32) checkpoint"),
    };

    /// <summary>Layer <paramref name="i"/> in HF layout, with the FFN width zero-padded to <paramref name="ffnPadded"/>.</summary>
    public static DenseLayer Layer(LoadedModel model, int i, int ffnPadded)
    {
        var c = model.Config;
        var l = model.Weights.Layers[i];
        int hd = c.EffectiveHeadDim, ffn = c.IntermediateSize, hidden = c.HiddenSize;
        var q = Linear(l.Wq);
        var k = Linear(l.Wk);
        if (c.RopeStyle == RopeStyle.Interleaved)
        {
            q = InterleavedToRotateHalf(q, c.NumHeads, hd, hidden);
            k = InterleavedToRotateHalf(k, c.NumKvHeads, hd, hidden);
        }
        return new DenseLayer
        {
            AttnNorm = ToFloat(l.AttnNorm), Wq = q, Wk = k, Wv = Linear(l.Wv), Wo = Linear(l.Wo), FfnNorm = ToFloat(l.FfnNorm),
            WGate = PadRows(Linear(l.WGate), ffn, ffnPadded, hidden),
            WUp = PadRows(Linear(l.WUp), ffn, ffnPadded, hidden),
            WDown = PadColumns(Linear(l.WDown), hidden, ffn, ffnPadded),
        };
    }

    /// <summary>
    /// Reorders the rows of a q/k projection [heads*head_dim, in] so that rotate-half RoPE pairs (j, j+hd/2)
    /// see what interleaved RoPE paired as (2j, 2j+1): new row j = old 2j, new row j+hd/2 = old 2j+1.
    /// </summary>
    public static float[] InterleavedToRotateHalf(float[] w, int heads, int hd, int cols)
    {
        var dst = new float[w.Length];
        int half = hd / 2;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
                for (int a = 0; a < 2; a++)
                    w.AsSpan((h * hd + 2 * j + a) * cols, cols).CopyTo(dst.AsSpan((h * hd + a * half + j) * cols, cols));
        return dst;
    }

    static float[] PadRows(float[] w, int rows, int padded, int cols)
    {
        if (padded == rows) return w;
        var dst = new float[padded * cols];
        w.CopyTo(dst, 0);
        return dst;
    }

    static float[] PadColumns(float[] w, int rows, int cols, int padded)
    {
        if (padded == cols) return w;
        var dst = new float[rows * padded];
        for (int r = 0; r < rows; r++) w.AsSpan(r * cols, cols).CopyTo(dst.AsSpan(r * padded, cols));
        return dst;
    }
}
