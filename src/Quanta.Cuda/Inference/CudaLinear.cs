using Quanta.Cuda.Native;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// One linear layer on the GPU, y [T, out] f32 = x [T, in] f16 · Wᵀ. GPTQ 4-bit stays 4-bit, repacked at load
/// into a tiled layout (see Kernels/gptq.cuh): fused tensor-core dequantise-and-multiply kernels for up to 32 rows (planned
/// by <see cref="GptqPlanner"/>), the int4 GEMM to 128 rows (256 with wgmma, <see cref="GemmPlanner"/>), dequantise-to-fp16
/// + cuBLAS above that; act-order by a load-time row permutation (and
/// the activations permuted per step). Dense weights are fp16 through cuBLAS.
/// </summary>
internal sealed unsafe partial class CudaLinear
{
    readonly DeviceArena _mem;
    readonly Kernels _k;
    public readonly int In, Out, GroupSize;
    public readonly ulong QTiles;    // [ceil(out/16), ceil(in/64), 32] uint4 tiled int4 (GPTQ, rows in group order) | 0
    public readonly ulong ScaleZero; // [groups, ceil(out/16)*16] u32 half2(scale, 1024 + zero + 1) | 0
    public readonly ulong Perm;      // [in] i32 act-order permutation | 0
    public readonly ulong SlotMap;   // [64 * ceil(in/64)] i32 x's columns in the wgmma GEMM's slot order, act-order folded in (sm_90) | 0
    public readonly ulong Dense;     // [out, in] f16 | 0
    public bool IsQuantized => QTiles != 0;
    /// <summary>A fused gate/up layer whose output columns alternate 8 gate, 8 up (see <see cref="ForwardSilu"/>).</summary>
    public bool SiluPairs { get; private set; }
    public long DeviceBytes { get; }

    CudaLinear(DeviceArena mem, Kernels k, int inF, int outF)
    {
        _mem = mem; _k = k; In = inF; Out = outF;
    }

    CudaLinear(DeviceArena mem, Kernels k, int inF, int outF, ulong dense) : this(mem, k, inF, outF)
    {
        Dense = dense;
        DeviceBytes = 2L * inF * outF;
    }

    CudaLinear(DeviceArena mem, Kernels k, int inF, int outF, ulong qt, long qtBytes, ulong sz, long szBytes, ulong perm, ulong slots, int gs)
        : this(mem, k, inF, outF)
    {
        QTiles = qt; ScaleZero = sz; Perm = perm; SlotMap = slots; GroupSize = gs;
        DeviceBytes = qtBytes + szBytes + (perm != 0 ? 4L * inF : 0) + (slots != 0 ? 4L * Ldx : 0);
    }

    /// <summary>The row stride of x in slot order (<see cref="GemmPlanner.SlotStride"/>).</summary>
    int Ldx => GemmPlanner.SlotStride(In);

    internal CudaLinear WithSiluPairs(bool on) { SiluPairs = on; return this; }

    /// <summary>A dense layer over an f16 matrix already on the device (tied lm_head over the embedding).</summary>
    public static CudaLinear Shared(DeviceArena mem, Kernels k, int inF, int outF, ulong dense) => new(mem, k, inF, outF, dense);

    /// <summary>
    /// Uploads a layer; GPTQ layers whose groups are not contiguous runs of a multiple of 16 rows after sorting,
    /// or whose widths the tiles cannot take (in % 16, out % 8), fall back to fp16.
    /// </summary>
    public static CudaLinear Upload(DeviceArena ctx, Kernels k, LinearWeights w)
    {
        if (w is DenseLinear d) return new CudaLinear(ctx, k, w.InFeatures, w.OutFeatures, UploadHalf(ctx, d.Weight, (long)w.InFeatures * w.OutFeatures));
        var g = (GptqLinear)w;
        int inF = g.InFeatures, outF = g.OutFeatures;
        if (g.Bits != 4) throw new NotSupportedException($"{g.Name}: {g.Bits}-bit GPTQ is not supported by the CUDA backend (4-bit only)");
        var perm = SortedPermutation(g.GIdx);
        int gs = UniformGroupSize(g, perm);
        if (gs == 0 || gs % 16 != 0 || inF % 16 != 0 || outF % 8 != 0)
        {
            var wf = GptqFormat.Dequantize(g);
            var wh = new Half[wf.Length];
            for (int i = 0; i < wf.Length; i++) wh[i] = (Half)wf[i];
            return new CudaLinear(ctx, k, inF, outF, ctx.Upload<Half>(wh, g.Name));
        }
        ulong qw;
        bool identity = true;
        for (int i = 0; i < perm.Length && identity; i++) identity = perm[i] == i;
        if (identity) qw = UploadRaw(ctx, g.QWeight, g.Name + ".qweight");
        else
        {
            var q = GptqFormat.UnpackQWeight(g.QWeight.Span<int>(), inF, outF);
            var qp = new byte[q.Length];
            for (int i = 0; i < inF; i++) q.AsSpan(perm[i] * outF, outF).CopyTo(qp.AsSpan(i * outF, outF));
            qw = ctx.Upload<int>(GptqFormat.PackQWeight(qp, inF, outF), g.Name + ".qweight");
        }
        ulong qz = UploadRaw(ctx, g.QZeros, g.Name + ".qzeros");
        ulong sc = UploadRaw(ctx, g.Scales, g.Name + ".scales");
        int ntiles = (outF + 15) / 16, ksteps = (inF + 63) / 64, groups = inF / gs;
        long qtBytes = 512L * ntiles * ksteps, szBytes = 4L * groups * ntiles * 16;
        ulong qt = ctx.Alloc(qtBytes, g.Name + ".qweight (tiled)"), sz = ctx.Alloc(szBytes, g.Name + ".scales+zeros");
        k.GptqTile(qw, qt, inF, outF);
        k.GptqScalesZeros(qz, sc, sz, outF, groups, ntiles * 16);
        ctx.Ctx.Synchronize();
        ctx.Free(qw); ctx.Free(qz); ctx.Free(sc);
        ulong pp = identity ? 0 : ctx.Upload<int>(perm, g.Name + ".perm");
        ulong slots = k.Wgmma ? ctx.Upload<int>(GemmPlanner.SlotOrder(inF, identity ? null : perm), g.Name + ".slot order") : 0;
        return new CudaLinear(ctx, k, inF, outF, qt, qtBytes, sz, szBytes, pp, slots, gs);
    }

    /// <summary>Stable argsort of g_idx: the input rows in group order.</summary>
    static int[] SortedPermutation(int[] gidx)
    {
        var perm = new int[gidx.Length];
        for (int i = 0; i < perm.Length; i++) perm[i] = i;
        var keys = (int[])gidx.Clone();
        Array.Sort(keys, perm);          // introsort is not stable: restore order within equal keys
        int s = 0;
        for (int i = 1; i <= perm.Length; i++)
            if (i == perm.Length || keys[i] != keys[s]) { Array.Sort(perm, s, i - s); s = i; }
        return perm;
    }

    /// <summary>Rows per group when the sorted rows fall into equal runs of a multiple of 8 (0 otherwise).</summary>
    static int UniformGroupSize(GptqLinear g, int[] perm)
    {
        int gs = g.GroupSize > 0 ? g.GroupSize : g.InFeatures;
        if (gs % 8 != 0) return 0;
        for (int i = 0; i < perm.Length; i++)
            if (g.GIdx[perm[i]] != i / gs) return 0;
        return gs;
    }

    static ulong UploadRaw(DeviceArena ctx, TensorView t, string what)
    {
        ulong p = ctx.Alloc(t.ByteLength, what);
        ctx.Ctx.Upload(p, (void*)t.Data, t.ByteLength);
        return p;
    }

    /// <summary>Uploads a float tensor (f32/f16/bf16) as f16, converting on the host in chunks.</summary>
    public static ulong UploadHalf(DeviceArena ctx, TensorView t, long elements)
    {
        if (t.ElementCount != elements) throw new ModelLoadException($"{t.Name}: {t.ElementCount} elements, expected {elements}");
        if (t.DType == DType.F16) return UploadRaw(ctx, t, t.Name);
        ulong p = ctx.Alloc(elements * 2, t.Name);
        const int Chunk = 1 << 20;
        var f = new float[Chunk];
        var h = new Half[Chunk];
        for (long s = 0; s < elements; s += Chunk)
        {
            int n = (int)Math.Min(Chunk, elements - s);
            GptqFormat.ToFloat(t, s, f.AsSpan(0, n));
            for (int i = 0; i < n; i++) h[i] = (Half)f[i];
            fixed (Half* hp = h) ctx.Ctx.Upload(p + (ulong)(s * 2), hp, n * 2L);
        }
        return p;
    }
}
