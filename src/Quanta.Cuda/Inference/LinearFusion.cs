using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// Joins linear layers that read the same input (q/k/v, gate/up) into one matrix whose outputs sit side
/// by side, so a decode step launches one GEMV instead of several. GPTQ parts must share g_idx and group size.
/// Gate/up can instead alternate in runs of 8 columns (<see cref="CudaLinear.SiluPairs"/>), so one 16-column tile
/// holds the gate and up of the same 8 features and the kernel can write silu(gate) * up directly.
/// </summary>
internal static unsafe class LinearFusion
{
    /// <summary>The fused layer, or null when the parts cannot share one matrix; siluPairs: two equal parts (gate, up) interleaved by 8.</summary>
    public static CudaLinear? Fuse(DeviceArena mem, Kernels k, LinearWeights[] parts, bool siluPairs = false)
    {
        int inF = parts[0].InFeatures, outF = parts.Sum(p => p.OutFeatures);
        if (parts.Any(p => p.InFeatures != inF)) return null;
        if (siluPairs && (parts.Length != 2 || parts[0].OutFeatures != parts[1].OutFeatures || parts[0].OutFeatures % 8 != 0)) return null;
        // Output column (or dense row) of part i's column o: side by side, or in alternating runs of 8.
        var start = new int[parts.Length];
        for (int i = 1; i < parts.Length; i++) start[i] = start[i - 1] + parts[i - 1].OutFeatures;
        int Col(int i, int o) => siluPairs ? o / 8 * 16 + i * 8 + o % 8 : start[i] + o;
        var name = string.Join("+", parts.Select(p => p.Name));
        if (parts.All(p => p is GptqLinear { Bits: 4 } g && g.OutFeatures % 8 == 0 && inF % 8 == 0))
        {
            var gs = parts.Cast<GptqLinear>().ToArray();
            if (gs.Any(g => g.GroupSize != gs[0].GroupSize || g.Groups != gs[0].Groups || !g.GIdx.AsSpan().SequenceEqual(gs[0].GIdx))) return null;
            int groups = gs[0].Groups, rows = inF / 8;
            var qw = new int[(long)rows * outF];
            var qz = new int[groups * outF / 8];
            var sc = new ushort[groups * outF];
            for (int i = 0; i < gs.Length; i++)
            {
                var g = gs[i];
                int o = g.OutFeatures, run = siluPairs ? 8 : o;   // columns copied together (a multiple of 8: whole qzeros words)
                var a = g.QWeight.Span<int>();
                var z = g.QZeros.Span<int>();
                var s = g.Scales.Span<ushort>();
                for (int c = 0; c < o; c += run)
                {
                    int dst = Col(i, c);
                    for (int r = 0; r < rows; r++) a.Slice(r * o + c, run).CopyTo(qw.AsSpan(r * outF + dst, run));
                    for (int gr = 0; gr < groups; gr++)
                    {
                        z.Slice(gr * (o / 8) + c / 8, run / 8).CopyTo(qz.AsSpan(gr * (outF / 8) + dst / 8, run / 8));
                        s.Slice(gr * o + c, run).CopyTo(sc.AsSpan(gr * outF + dst, run));
                    }
                }
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
                return CudaLinear.Upload(mem, k, fused).WithSiluPairs(siluPairs);
            }
        }
        if (parts.All(p => p is DenseLinear))
        {
            var h = new Half[(long)outF * inF];
            var row = new float[inF];
            for (int i = 0; i < parts.Length; i++)
            {
                var d = (DenseLinear)parts[i];
                for (int o = 0; o < d.OutFeatures; o++)
                {
                    GptqFormat.ToFloat(d.Weight, (long)o * inF, row);
                    long at = (long)Col(i, o) * inF;
                    for (int c = 0; c < inF; c++) h[at + c] = (Half)row[c];
                }
            }
            return CudaLinear.Shared(mem, k, inF, outF, mem.Upload<Half>(h, name)).WithSiluPairs(siluPairs);
        }
        return null;
    }

    static TensorView View(string name, DType t, nint data, long bytes, params long[] shape)
        => new() { Name = name, DType = t, Shape = shape, Data = data, ByteLength = bytes };
}
