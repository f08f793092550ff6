using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// Joins linear layers that read the same input (q/k/v, gate/up) into one matrix whose outputs sit side
/// by side, so a decode step launches one GEMV instead of several. GPTQ parts must share g_idx and group size.
/// </summary>
internal static unsafe class LinearFusion
{
    /// <summary>The fused layer, or null when the parts cannot share one matrix.</summary>
    public static CudaLinear? Fuse(DeviceArena mem, Kernels k, LinearWeights[] parts)
    {
        int inF = parts[0].InFeatures, outF = parts.Sum(p => p.OutFeatures);
        if (parts.Any(p => p.InFeatures != inF)) return null;
        var name = string.Join("+", parts.Select(p => p.Name));
        if (parts.All(p => p is GptqLinear { Bits: 4 } g && g.OutFeatures % 8 == 0 && inF % 8 == 0))
        {
            var gs = parts.Cast<GptqLinear>().ToArray();
            if (gs.Any(g => g.GroupSize != gs[0].GroupSize || g.Groups != gs[0].Groups || !g.GIdx.AsSpan().SequenceEqual(gs[0].GIdx))) return null;
            int groups = gs[0].Groups, rows = inF / 8;
            var qw = new int[(long)rows * outF];
            var qz = new int[groups * outF / 8];
            var sc = new ushort[groups * outF];
            int off = 0;
            foreach (var g in gs)
            {
                int o = g.OutFeatures;
                var a = g.QWeight.Span<int>();
                for (int r = 0; r < rows; r++) a.Slice(r * o, o).CopyTo(qw.AsSpan(r * outF + off, o));
                var z = g.QZeros.Span<int>();
                var s = g.Scales.Span<ushort>();
                for (int gr = 0; gr < groups; gr++)
                {
                    z.Slice(gr * (o / 8), o / 8).CopyTo(qz.AsSpan(gr * (outF / 8) + off / 8, o / 8));
                    s.Slice(gr * o, o).CopyTo(sc.AsSpan(gr * outF + off, o));
                }
                off += o;
            }
            fixed (int* pq = qw, pz = qz)
            fixed (ushort* ps = sc)
            {
                var fused = new GptqLinear
                {
                    Name = name, InFeatures = inF, OutFeatures = outF,
                    QWeight = View(name + ".qweight", DType.I32, (nint)pq, qw.Length * 4L, rows, outF),
                    QZeros = View(name + ".qzeros", DType.I32, (nint)pz, qz.Length * 4L, groups, outF / 8),
                    Scales = View(name + ".scales", DType.F16, (nint)ps, sc.Length * 2L, groups, outF),
                    GIdx = gs[0].GIdx, Bits = 4, GroupSize = gs[0].GroupSize, Sym = gs[0].Sym, DescAct = gs[0].DescAct,
                };
                return CudaLinear.Upload(mem, k, fused);
            }
        }
        if (parts.All(p => p is DenseLinear))
        {
            var h = new Half[(long)outF * inF];
            var row = new float[inF];
            long at = 0;
            foreach (DenseLinear d in parts)
                for (int o = 0; o < d.OutFeatures; o++, at += inF)
                {
                    GptqFormat.ToFloat(d.Weight, (long)o * inF, row);
                    for (int i = 0; i < inF; i++) h[at + i] = (Half)row[i];
                }
            return CudaLinear.Shared(mem, k, inF, outF, mem.Upload<Half>(h, name));
        }
        return null;
    }

    static TensorView View(string name, DType t, nint data, long bytes, params long[] shape)
        => new() { Name = name, DType = t, Shape = shape, Data = data, ByteLength = bytes };
}
