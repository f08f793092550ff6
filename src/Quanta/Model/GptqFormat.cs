using System.Runtime.InteropServices;

namespace Quanta.Model;

/// <summary>
/// Reference helpers for AutoGPTQ's 4-bit "gptq" layout (see shared/fixtures/README.md). Slow and plain:
/// for tests, cross-checks and writing checkpoints, not for inference kernels.
/// </summary>
public static class GptqFormat
{
    /// <summary>Packs 4-bit values q[i, o] (0..15, [in, out] row-major) into qweight [in/8, out]: row 8r+j in bits 4j..4j+3.</summary>
    public static int[] PackQWeight(ReadOnlySpan<byte> q, int inFeatures, int outFeatures)
    {
        Check(q.Length == inFeatures * outFeatures && inFeatures % 8 == 0, "q must be [in, out] with in divisible by 8");
        var packed = new int[inFeatures / 8 * outFeatures];
        for (int i = 0; i < inFeatures; i++)
            for (int o = 0; o < outFeatures; o++)
                packed[i / 8 * outFeatures + o] |= Nibble(q[i * outFeatures + o]) << (4 * (i % 8));
        return packed;
    }

    /// <summary>Unpacks qweight [in/8, out] into q[i, o] (0..15, [in, out]).</summary>
    public static byte[] UnpackQWeight(ReadOnlySpan<int> qweight, int inFeatures, int outFeatures)
    {
        Check(qweight.Length * 8 == inFeatures * outFeatures, "qweight must be [in/8, out]");
        var q = new byte[inFeatures * outFeatures];
        for (int i = 0; i < inFeatures; i++)
            for (int o = 0; o < outFeatures; o++)
                q[i * outFeatures + o] = (byte)((qweight[i / 8 * outFeatures + o] >>> (4 * (i % 8))) & 0xF);
        return q;
    }

    /// <summary>Packs stored zeros (zero − 1, 0..15, [groups, out]) into qzeros [groups, out/8]: column 8c+j in bits 4j..4j+3.</summary>
    public static int[] PackQZeros(ReadOnlySpan<byte> storedZeros, int groups, int outFeatures)
    {
        Check(storedZeros.Length == groups * outFeatures && outFeatures % 8 == 0, "zeros must be [groups, out] with out divisible by 8");
        var packed = new int[groups * outFeatures / 8];
        for (int g = 0; g < groups; g++)
            for (int o = 0; o < outFeatures; o++)
                packed[g * (outFeatures / 8) + o / 8] |= Nibble(storedZeros[g * outFeatures + o]) << (4 * (o % 8));
        return packed;
    }

    /// <summary>Unpacks qzeros [groups, out/8] into the stored values (zero − 1, 0..15, [groups, out]).</summary>
    public static byte[] UnpackQZeros(ReadOnlySpan<int> qzeros, int groups, int outFeatures)
    {
        Check(qzeros.Length * 8 == groups * outFeatures, "qzeros must be [groups, out/8]");
        var z = new byte[groups * outFeatures];
        for (int g = 0; g < groups; g++)
            for (int o = 0; o < outFeatures; o++)
                z[g * outFeatures + o] = (byte)((qzeros[g * (outFeatures / 8) + o / 8] >>> (4 * (o % 8))) & 0xF);
        return z;
    }

    /// <summary>The float weight W [out, in] of a GPTQ layer: W[o, i] = scales[g, o] * (q[i, o] − (stored_zero[g, o] + 1)), g = g_idx[i].</summary>
    public static float[] Dequantize(GptqLinear l)
    {
        int inF = l.InFeatures, outF = l.OutFeatures;
        var q = UnpackQWeight(l.QWeight.Span<int>(), inF, outF);
        var z = UnpackQZeros(l.QZeros.Span<int>(), l.Groups, outF);
        var scales = MemoryMarshal.Cast<ushort, Half>(l.Scales.Span<ushort>());
        var w = new float[outF * inF];
        for (int i = 0; i < inF; i++)
        {
            int g = l.GIdx[i];
            for (int o = 0; o < outF; o++)
                w[o * inF + i] = (float)scales[g * outF + o] * (q[i * outF + o] - (z[g * outF + o] + 1));
        }
        return w;
    }

    /// <summary>Dequantised row <paramref name="o"/> of any linear layer as floats ([in]); dense weights are converted from f32/f16/bf16.</summary>
    public static float[] Row(LinearWeights l, int o)
    {
        var row = new float[l.InFeatures];
        switch (l)
        {
            case DenseLinear d:
                ToFloat(d.Weight, (long)o * l.InFeatures, row);
                break;
            case GptqLinear g:
                var qw = g.QWeight.Span<int>();
                var qz = g.QZeros.Span<int>();
                var scales = MemoryMarshal.Cast<ushort, Half>(g.Scales.Span<ushort>());
                int outF = l.OutFeatures;
                for (int i = 0; i < l.InFeatures; i++)
                {
                    int grp = g.GIdx[i];
                    int q = (qw[i / 8 * outF + o] >>> (4 * (i % 8))) & 0xF;
                    int z = ((qz[grp * (outF / 8) + o / 8] >>> (4 * (o % 8))) & 0xF) + 1;
                    row[i] = (float)scales[grp * outF + o] * (q - z);
                }
                break;
            default:
                throw new ArgumentException($"{l.Name}: unknown linear type {l.GetType().Name}");
        }
        return row;
    }

    /// <summary>Converts elements [start, start + dst.Length) of a float tensor (f32/f16/bf16) to f32.</summary>
    public static void ToFloat(TensorView t, long start, Span<float> dst)
    {
        int s = checked((int)start);
        switch (t.DType)
        {
            case DType.F32: t.Span<float>().Slice(s, dst.Length).CopyTo(dst); break;
            case DType.F16:
                var h = MemoryMarshal.Cast<ushort, Half>(t.Span<ushort>()).Slice(s, dst.Length);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)h[i];
                break;
            case DType.BF16:
                var b = t.Span<ushort>().Slice(s, dst.Length);
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(b[i] << 16);
                break;
            default: throw new ArgumentException($"{t.Name}: {t.DType} is not a float tensor");
        }
    }

    static int Nibble(byte v) => v <= 15 ? v : throw new ArgumentOutOfRangeException(nameof(v), v, "4-bit values are 0..15");

    static void Check(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }
}
