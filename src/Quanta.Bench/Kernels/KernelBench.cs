using System.Runtime.InteropServices;
using Quanta.Cuda;
using Quanta.Model;

namespace Quanta.Bench.Kernels;

/// <summary>One timed GPTQ linear: shape, rows, microseconds per call, effective bandwidth, worst error against the CPU.</summary>
public sealed record KernelTiming(string Name, int In, int Out, int Rows, double Microseconds, double GBps, double MaxError);

/// <summary>
/// The GPTQ linear kernels on random 4-bit layers of real shapes: each checked against a float64 CPU product on
/// sampled columns, then timed as a CUDA graph of back-to-back calls (device time only, no launch gaps).
/// </summary>
public static partial class KernelBench
{
    /// <summary>Times <paramref name="calls"/> calls per shape and row count; bytes are weights + scales + x + y.</summary>
    public static IEnumerable<KernelTiming> Gptq((string Name, int In, int Out)[] shapes, int[] rows, int groupSize, int calls = 50)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        var rng = new Random(7);
        foreach (var (name, inF, outF) in shapes)
        {
            using var mem = new DeviceArena(ctx);
            var probe = new KernelProbe(mem);
            var (layer, q, scales, pins) = RandomLayer(rng, name, inF, outF, groupSize);
            // Copies of the layer, cycled through while timing, so the weights read exceed the L2 cache as in a model.
            var copies = new List<DeviceLinear>();
            try
            {
                do copies.Add(probe.Linear(layer));
                while (copies.Count * copies[0].DeviceBytes < (512L << 20));
            }
            finally { foreach (var h in pins) h.Free(); }
            var lin = copies[0];
            int maxRows = rows.Max();
            var x = new Half[(long)maxRows * inF];
            for (int i = 0; i < x.Length; i++) x[i] = (Half)(rng.NextDouble() * 2 - 1);
            ulong xd = mem.Upload<Half>(x, "x"), yd = mem.Alloc(4L * maxRows * outF, "y");
            ulong scratch = mem.Alloc(Math.Max(256, lin.ScratchBytes(maxRows)), "scratch");
            foreach (int m in rows)
                yield return Measure(ctx, copies, x, q, scales, xd, yd, scratch, m, groupSize, calls, rng) with { Name = name };
        }
    }

    static KernelTiming Measure(CudaContext ctx, List<DeviceLinear> copies, Half[] x, byte[] q, float[] scales, ulong xd, ulong yd, ulong scratch,
                                int m, int groupSize, int calls, Random rng)
    {
        var lin = copies[0];
        int inF = lin.In, outF = lin.Out;
        lin.Forward(xd, yd, m, scratch);
        ctx.Synchronize();
        var y = ctx.Download<float>(yd, m * outF);
        double err = 0;
        int gs = groupSize > 0 ? groupSize : inF;
        for (int c = 0; c < 64; c++)
        {
            int o = rng.Next(outF), r = rng.Next(m);
            double want = 0;
            for (int i = 0; i < inF; i++) want += (double)x[(long)r * inF + i] * scales[(long)(i / gs) * outF + o] * (q[(long)i * outF + o] - 8);
            err = Math.Max(err, Math.Abs(want - y[(long)r * outF + o]));
        }
        int next = 0;
        double us = DeviceTimer.GraphMicroseconds(ctx, () => copies[next++ % copies.Count].Forward(xd, yd, m, scratch), calls);
        long bytes = lin.DeviceBytes + 2L * m * inF + 4L * m * outF;
        return new KernelTiming("", inF, outF, m, us, bytes / us / 1e3, err);
    }

    /// <summary>Symmetric 4-bit layer (zero point 8) with uniform random nibbles and scales 1e-3..3e-3: the layer, nibbles [in, out], scales [groups, out].</summary>
    static (GptqLinear Layer, byte[] Q, float[] Scales, GCHandle[] Pins) RandomLayer(Random rng, string name, int inF, int outF, int groupSize)
    {
        int gs = groupSize > 0 ? groupSize : inF, groups = inF / gs;
        var q = new byte[(long)inF * outF];
        rng.NextBytes(q);
        for (long i = 0; i < q.Length; i++) q[i] &= 15;
        var scales = new float[(long)groups * outF];
        var sh = new Half[scales.Length];
        for (long i = 0; i < scales.Length; i++) { sh[i] = (Half)(0.001 + rng.NextDouble() * 0.002); scales[i] = (float)sh[i]; }
        var qw = GptqFormat.PackQWeight(q, inF, outF);
        var qz = new int[groups * outF / 8];
        Array.Fill(qz, 0x77777777);
        var gidx = new int[inF];
        for (int i = 0; i < inF; i++) gidx[i] = i / gs;
        var pins = new[] { GCHandle.Alloc(qw, GCHandleType.Pinned), GCHandle.Alloc(qz, GCHandleType.Pinned), GCHandle.Alloc(sh, GCHandleType.Pinned) };
        var layer = new GptqLinear
        {
            Name = name, InFeatures = inF, OutFeatures = outF, GIdx = gidx, Bits = 4, GroupSize = groupSize, Sym = true, DescAct = false,
            QWeight = View(name + ".qweight", pins[0], qw.Length * 4L, DType.I32, inF / 8, outF),
            QZeros = View(name + ".qzeros", pins[1], qz.Length * 4L, DType.I32, groups, outF / 8),
            Scales = View(name + ".scales", pins[2], sh.Length * 2L, DType.F16, groups, outF),
        };
        return (layer, q, scales, pins);
    }

    static TensorView View(string name, GCHandle pin, long bytes, DType t, params long[] shape)
        => new() { Name = name, DType = t, Shape = shape, Data = pin.AddrOfPinnedObject(), ByteLength = bytes };
}
