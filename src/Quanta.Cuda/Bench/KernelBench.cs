using System.Runtime.InteropServices;
using Quanta.Cuda.Native;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>One timed GPTQ linear: shape, rows, microseconds per call, effective bandwidth, worst error against the CPU.</summary>
public sealed record KernelTiming(string Name, int In, int Out, int Rows, double Microseconds, double GBps, double MaxError);

/// <summary>
/// The GPTQ linear kernels on random 4-bit layers of real shapes: each checked against a float64 CPU product on
/// sampled columns, then timed as a CUDA graph of back-to-back calls (device time only, no launch gaps).
/// </summary>
public static unsafe partial class KernelBench
{
    /// <summary>Registers per thread and local (spilled) bytes per thread of a kernel (CU_FUNC_ATTRIBUTE_NUM_REGS, LOCAL_SIZE_BYTES).</summary>
    public static (int Registers, int LocalBytes) Resources(string module, string kernel)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        nint f = ctx.Kernels.Function(module, kernel);
        Cu.Check(Cu.cuFuncGetAttribute(out int regs, 4, f), "cuFuncGetAttribute(NUM_REGS)");
        Cu.Check(Cu.cuFuncGetAttribute(out int local, 3, f), "cuFuncGetAttribute(LOCAL_SIZE_BYTES)");
        return (regs, local);
    }

    /// <summary>The fused GPTQ kernels (module gptq), for <see cref="Resources"/>.</summary>
    public static IEnumerable<string> GptqKernels => GptqKernelName.All;

    /// <summary>Times <paramref name="calls"/> calls per shape and row count; bytes are weights + scales + x + y.</summary>
    public static IEnumerable<KernelTiming> Gptq((string Name, int In, int Out)[] shapes, int[] rows, int groupSize, int calls = 50)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        var k = new Kernels(ctx);
        var rng = new Random(7);
        foreach (var (name, inF, outF) in shapes)
        {
            using var mem = new DeviceArena(ctx);
            var (layer, q, scales, pins) = RandomLayer(rng, name, inF, outF, groupSize);
            // Copies of the layer, cycled through while timing, so the weights read exceed the L2 cache as in a model.
            var copies = new List<CudaLinear>();
            try
            {
                do copies.Add(CudaLinear.Upload(mem, k, layer));
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

    static KernelTiming Measure(CudaContext ctx, List<CudaLinear> copies, Half[] x, byte[] q, float[] scales, ulong xd, ulong yd, ulong scratch,
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
        double us = Time(ctx, () => copies[next++ % copies.Count].Forward(xd, yd, m, scratch), calls);
        long bytes = lin.DeviceBytes + 2L * m * inF + 4L * m * outF;
        return new KernelTiming("", inF, outF, m, us, bytes / us / 1e3, err);
    }

    /// <summary>
    /// Device µs per call of the other kernels of one decode step at batch 1 (residual + RMSNorm, RoPE + KV write,
    /// paged attention over <paramref name="context"/> keys with its split merge, SiLU × up) for a model's shapes.
    /// </summary>
    public static IEnumerable<(string Name, double Microseconds)> DecodeOps(LlamaConfig c, int context, int calls = 100)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        var k = new Kernels(ctx);
        using var mem = new DeviceArena(ctx);
        int h = c.HiddenSize, hd = c.EffectiveHeadDim, H = c.NumHeads, KH = c.NumKvHeads, ffn = c.IntermediateSize, bs = 16;
        int qkv = (H + 2 * KH) * hd, maxb = (context + bs - 1) / bs;
        ulong Zeros(long bytes, string what) { ulong p = mem.Alloc(bytes, what); ctx.ZeroAsync(p, bytes); return p; }
        ulong x = Zeros(4L * h, "x"), w = Zeros(4L * h, "w"), xn = Zeros(2L * h, "xn");
        ulong q = Zeros(4L * qkv, "qkv"), qh = Zeros(2L * H * hd, "qh"), att = Zeros(2L * H * hd, "att");
        ulong kc = Zeros(2L * maxb * bs * KH * hd, "k cache"), vc = Zeros(2L * maxb * bs * KH * hd, "v cache");
        ulong gu = Zeros(8L * ffn, "gate_up"), act = Zeros(2L * ffn, "act");
        ulong pos = mem.Upload<int>([context - 1], "pos"), slot = mem.Upload<int>([context - 1], "slot"), seq = mem.Upload<int>([0], "seq_of");
        ulong tables = mem.Upload<int>([.. Enumerable.Range(0, maxb)], "tables");
        ulong inv = mem.Upload<double>(RotaryFrequencies.Inverse(c.RopeTheta, hd, c.RopeScaling), "inv_freq");
        int splits = StepPlanner.AttentionSplits(ctx.Multiprocessors, 1, H, context);
        ulong part = Zeros(4L * H * CudaScratch.MaxSplits * (hd + 2), "part"), done = Zeros(4L * H, "split counters");
        float eps = 1e-5f, scale = 1f / MathF.Sqrt(hd);
        yield return ("rmsnorm", Time(ctx, () => k.RmsNorm(x, w, xn, h, eps, 1), calls));
        yield return ("rope_kv", Time(ctx, () => k.RopeKv(q, q + 4UL * (ulong)(H * hd), q + 4UL * (ulong)((H + KH) * hd), qh, kc, vc, pos, slot, inv,
            H, KH, hd, (int)c.RopeStyle, 1, qkv), calls));
        foreach (int sp in new[] { 1, 2, 4, 8, 16 }.Where(x => x <= splits * 2 && x <= context / 8).Append(splits).Distinct().Order())
            foreach (int warps in new[] { 4, 8 })
                yield return ($"paged_attention ({context} keys, {sp} splits, {warps} warps{(sp == splits && warps == StepPlanner.AttentionWarps(1) ? ", the runner's choice" : "")})",
                    Time(ctx, () => k.PagedAttention(qh, kc, vc, seq, pos, tables, att, part, done, H, KH, hd, bs, maxb, scale, sp, 1, warps), calls));
        yield return ("silu_mul", Time(ctx, () => k.SiluMul(gu, gu + 4UL * (ulong)ffn, act, ffn, 2 * ffn, 1), calls));
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

    /// <summary>Device microseconds per call: <paramref name="calls"/> calls captured in one graph, median of 5 replays.</summary>
    static double Time(CudaContext ctx, Action call, int calls)
    {
        Cu.Check(Cu.cuStreamBeginCapture_v2(ctx.Stream, 2), "cuStreamBeginCapture");
        for (int i = 0; i < calls; i++) call();
        Cu.Check(Cu.cuStreamEndCapture(ctx.Stream, out var graph), "cuStreamEndCapture");
        Cu.Check(Cu.cuGraphInstantiateWithFlags(out var exec, graph, 0), "cuGraphInstantiateWithFlags");
        Cu.cuGraphDestroy(graph);
        Cu.Check(Cu.cuEventCreate(out var e0, 0), "cuEventCreate");
        Cu.Check(Cu.cuEventCreate(out var e1, 0), "cuEventCreate");
        try
        {
            var ms = new List<float>();
            for (int rep = 0; rep < 6; rep++)
            {
                Cu.Check(Cu.cuEventRecord(e0, ctx.Stream), "cuEventRecord");
                Cu.Check(Cu.cuGraphLaunch(exec, ctx.Stream), "cuGraphLaunch");
                Cu.Check(Cu.cuEventRecord(e1, ctx.Stream), "cuEventRecord");
                Cu.Check(Cu.cuEventSynchronize(e1), "cuEventSynchronize");
                Cu.Check(Cu.cuEventElapsedTime(out float t, e0, e1), "cuEventElapsedTime");
                if (rep > 0) ms.Add(t);
            }
            ms.Sort();
            return ms[ms.Count / 2] * 1e3 / calls;
        }
        finally { Cu.cuEventDestroy(e0); Cu.cuEventDestroy(e1); Cu.cuGraphExecDestroy(exec); }
    }
}
