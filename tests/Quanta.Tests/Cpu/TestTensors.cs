using System.Runtime.CompilerServices;
using Quanta.Model;

namespace Quanta.Tests.Cpu;

/// <summary>Builds TensorViews over pinned arrays that live as long as the test process.</summary>
internal static unsafe class TestTensors
{
    static readonly List<Array> Keep = [];

    public static TensorView View<T>(string name, DType dtype, T[] data, params long[] shape) where T : unmanaged
    {
        var pinned = GC.AllocateArray<T>(data.Length, pinned: true);
        data.CopyTo(pinned, 0);
        lock (Keep) Keep.Add(pinned);
        return new TensorView
        {
            Name = name, DType = dtype, Shape = shape,
            Data = (nint)Unsafe.AsPointer(ref pinned[0]), ByteLength = (long)data.Length * sizeof(T),
        };
    }

    public static float[] Random(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Dense weights [out, in] stored as dtype; returns the view and the fp32 values it holds.</summary>
    public static (TensorView View, float[] Values) Dense(Random rng, string name, DType dtype, int rows, int cols, float scale = 0.5f)
    {
        var f = Random(rng, rows * cols, scale);
        switch (dtype)
        {
            case DType.F32: return (View(name, dtype, f, rows, cols), f);
            case DType.F16:
                var h = f.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
                return (View(name, dtype, h, rows, cols), h.Select(v => (float)BitConverter.UInt16BitsToHalf(v)).ToArray());
            default:
                var b = f.Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray();
                return (View(name, dtype, b, rows, cols), b.Select(v => BitConverter.UInt32BitsToSingle((uint)v << 16)).ToArray());
        }
    }

    public static DenseLinear DenseLinear(Random rng, string name, DType dtype, int outF, int inF, out float[] values)
    {
        var (view, vals) = Dense(rng, name, dtype, outF, inF);
        values = vals;
        return new DenseLinear { Name = name, InFeatures = inF, OutFeatures = outF, Weight = view };
    }

    /// <summary>
    /// A random GPTQ layer in AutoGPTQ's format. groupSize -1 = per channel; actOrder shuffles g_idx.
    /// Returns the dequantised weights [out, in] as the format defines them.
    /// </summary>
    public static GptqLinear Gptq(Random rng, string name, int outF, int inF, int groupSize, bool actOrder, bool sym, out float[] w)
    {
        int gs = groupSize < 0 ? inF : groupSize;
        int groups = (inF + gs - 1) / gs;
        var gIdx = Enumerable.Range(0, inF).Select(i => i / gs).ToArray();
        if (actOrder) rng.Shuffle(gIdx);
        var q = new int[inF, outF];
        var qweight = new int[(inF + 7) / 8 * outF];
        for (int i = 0; i < inF; i++)
            for (int o = 0; o < outF; o++)
            {
                q[i, o] = rng.Next(16);
                qweight[i / 8 * outF + o] |= q[i, o] << (4 * (i % 8));
            }
        int zc = (outF + 7) / 8;
        var zero = new int[groups, outF];
        var qzeros = new int[groups * zc];
        var scales = new ushort[groups * outF];
        for (int g = 0; g < groups; g++)
            for (int o = 0; o < outF; o++)
            {
                zero[g, o] = sym ? 7 : rng.Next(16);
                qzeros[g * zc + o / 8] |= zero[g, o] << (4 * (o % 8));
                scales[g * outF + o] = BitConverter.HalfToUInt16Bits((Half)(0.01 + rng.NextDouble() * 0.05));
            }
        w = new float[outF * inF];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
            {
                int g = gIdx[i];
                w[o * inF + i] = (float)BitConverter.UInt16BitsToHalf(scales[g * outF + o]) * (q[i, o] - (zero[g, o] + 1));
            }
        return new GptqLinear
        {
            Name = name, InFeatures = inF, OutFeatures = outF,
            QWeight = View(name + ".qweight", DType.I32, qweight, (inF + 7) / 8, outF),
            QZeros = View(name + ".qzeros", DType.I32, qzeros, groups, zc),
            Scales = View(name + ".scales", DType.F16, scales, groups, outF),
            GIdx = gIdx, Bits = 4, GroupSize = gs, Sym = sym, DescAct = actOrder,
        };
    }
}
