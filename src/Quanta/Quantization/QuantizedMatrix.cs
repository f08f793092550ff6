namespace Quanta.Quantization;

/// <summary>How a linear layer's weights are quantized.</summary>
/// <param name="MseGrid">clip each group's range by the published quantizer's error search (RTN and GPTQ alike).</param>
/// <param name="StaticGroups">
/// GPTQ: take every group's scale and zero from the original weights of consecutive columns before quantizing
/// (AutoGPTQ's static_groups); with act-order the groups then stay consecutive columns (g_idx = column / group).
/// </param>
public sealed record QuantSpec(int Bits = 4, int GroupSize = 128, bool Sym = true, bool ActOrder = false, double Damp = 0.01,
                               bool MseGrid = false, bool StaticGroups = false)
{
    public int MaxQ => (1 << Bits) - 1;
    /// <summary>Input columns per group for a layer of <paramref name="columns"/> inputs (-1 = per channel).</summary>
    public int EffectiveGroup(int columns) => GroupSize <= 0 ? columns : GroupSize;
}

/// <summary>
/// A quantized weight matrix W[o, i] ≈ Scales[GIdx[i], o] * (Q[o, i] - Zeros[GIdx[i], o]),
/// columns in their original order (act-order only changes <see cref="GIdx"/>).
/// </summary>
public sealed class QuantizedMatrix
{
    public required int Rows { get; init; }        // out_features
    public required int Columns { get; init; }     // in_features
    public required int Bits { get; init; }
    public required int GroupSize { get; init; }   // columns per group (Columns when per channel)
    public required bool Sym { get; init; }
    public required bool DescAct { get; init; }
    public required byte[] Q { get; init; }        // [out, in] levels 0..2^bits-1
    public required float[] Scales { get; init; }  // [groups, out] values exactly representable in fp16
    public required int[] Zeros { get; init; }     // [groups, out] true zero point (stored as zero - 1)
    public required int[] GIdx { get; init; }      // [in] group of each input column

    public int Groups => Scales.Length / Rows;

    public float Dequant(int row, int col)
    {
        int g = GIdx[col];
        return Scales[g * Rows + row] * (Q[row * Columns + col] - Zeros[g * Rows + row]);
    }

    /// <summary>The dequantized weights [out, in] fp32 (rows in parallel; the same values as <see cref="Dequant"/>).</summary>
    public float[] Dequantize()
    {
        var w = new float[Rows * Columns];
        Parallel.For(0, Rows, r =>
        {
            for (int c = 0; c < Columns; c++) w[r * Columns + c] = Dequant(r, c);
        });
        return w;
    }
}
