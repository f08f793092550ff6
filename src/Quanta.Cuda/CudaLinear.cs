using System.Runtime.InteropServices;
using Quanta.Cuda.Native;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// One linear layer on the GPU, y [T, out] f32 = x [T, in] f16 · Wᵀ. GPTQ 4-bit stays 4-bit: a fused
/// dequantise-GEMV for few rows, dequantise-to-fp16 + cuBLAS above that; act-order by a load-time row
/// permutation (and the activations permuted per step). Dense weights are fp16 through cuBLAS.
/// </summary>
internal sealed unsafe class CudaLinear
{
    /// <summary>Up to this many rows use the fused GEMV (in passes of 16); more use dequantise + GEMM (QUANTA_GEMV_MAX_ROWS).</summary>
    public static int GemvMaxRows { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("QUANTA_GEMV_MAX_ROWS"), out var n) && n >= 0 ? n : 8;

    /// <summary>Passes of <see cref="SplitKMinRows"/>..8 rows use the split-K GEMV; false = one block per 16 columns (QUANTA_GEMV_SPLITK=0).</summary>
    public static bool SplitKGemv { get; set; } = Environment.GetEnvironmentVariable("QUANTA_GEMV_SPLITK") != "0";

    /// <summary>Fewest rows for the split-K GEMV (QUANTA_GEMV_SPLITK_MIN_ROWS); at 1 row its zeroing and atomics cost more than they save.</summary>
    public static int SplitKMinRows { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("QUANTA_GEMV_SPLITK_MIN_ROWS"), out var k) && k >= 1 ? k : 2;

    readonly DeviceArena _mem;
    readonly Kernels _k;
    public readonly int In, Out, GroupSize;
    public readonly ulong QWeight;   // [in/8, out] u32, rows in group order (GPTQ) | 0
    public readonly ulong QZeros;    // [groups, out/8] u32 | 0
    public readonly ulong Scales;    // [groups, out] f16 | 0
    public readonly ulong Perm;      // [in] i32 act-order permutation | 0
    public readonly ulong Dense;     // [out, in] f16 | 0
    public bool IsQuantized => QWeight != 0;
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

    CudaLinear(DeviceArena mem, Kernels k, GptqLinear g, ulong qw, ulong qz, ulong sc, ulong perm, int gs) : this(mem, k, g.InFeatures, g.OutFeatures)
    {
        QWeight = qw; QZeros = qz; Scales = sc; Perm = perm; GroupSize = gs;
        DeviceBytes = g.QWeight.ByteLength + g.QZeros.ByteLength + g.Scales.ByteLength + (perm != 0 ? 4L * g.InFeatures : 0);
    }

    /// <summary>A dense layer over an f16 matrix already on the device (tied lm_head over the embedding).</summary>
    public static CudaLinear Shared(DeviceArena mem, Kernels k, int inF, int outF, ulong dense) => new(mem, k, inF, outF, dense);

    /// <summary>Uploads a layer; GPTQ layers whose groups are not contiguous runs after sorting fall back to fp16.</summary>
    public static CudaLinear Upload(DeviceArena ctx, Kernels k, LinearWeights w)
    {
        if (w is DenseLinear d) return new CudaLinear(ctx, k, w.InFeatures, w.OutFeatures, UploadHalf(ctx, d.Weight, (long)w.InFeatures * w.OutFeatures));
        var g = (GptqLinear)w;
        int inF = g.InFeatures, outF = g.OutFeatures;
        if (g.Bits != 4) throw new NotSupportedException($"{g.Name}: {g.Bits}-bit GPTQ is not supported by the CUDA backend (4-bit only)");
        var perm = SortedPermutation(g.GIdx);
        int gs = UniformGroupSize(g, perm);
        if (gs == 0 || inF % 8 != 0 || outF % 8 != 0)
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
        ulong pp = identity ? 0 : ctx.Upload<int>(perm, g.Name + ".perm");
        return new CudaLinear(ctx, k, g, qw, qz, sc, pp, gs);
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

    /// <summary>Bytes of f16 scratch this layer needs for <paramref name="rows"/> rows (permuted x, dequantised W).</summary>
    public long ScratchBytes(int rows)
        => (Perm != 0 ? 2L * rows * In : 0) + (IsQuantized && rows > GemvMaxRows ? 2L * In * Out : 0);

    /// <summary>y [rows, ldy] f32 (columns 0..out; ldy 0 = out) = x [rows, in] f16 · Wᵀ; scratch holds <see cref="ScratchBytes"/>.</summary>
    public void Forward(ulong x, ulong y, int rows, ulong scratch, int ldy = 0)
    {
        if (rows == 0) return;
        if (ldy == 0) ldy = Out;
        if (!IsQuantized) { Gemm(Dense, Cublas.OpT, In, x, y, rows, ldy); return; }
        if (Perm != 0)
        {
            _k.PermuteCols(x, Perm, scratch, In, rows);
            x = scratch;
            scratch += (ulong)(2L * rows * In);
        }
        if (rows <= GemvMaxRows)
        {
            for (int r = 0; r < rows; r += 16)
            {
                int m = Math.Min(16, rows - r);
                if (SplitKGemv && m >= SplitKMinRows && m <= 8)
                {
                    _mem.Ctx.ZeroFloatsAsync(y + (ulong)(4L * r * ldy), Out, ldy, m);
                    _k.GptqGemvSplitK(x + (ulong)(2L * r * In), QWeight, QZeros, Scales, y + (ulong)(4L * r * ldy), In, Out, GroupSize, m, ldy);
                    continue;
                }
                _k.GptqGemv(x + (ulong)(2L * r * In), QWeight, QZeros, Scales, y + (ulong)(4L * r * ldy), In, Out, GroupSize, m, ldy);
            }
            return;
        }
        _k.GptqDequant(QWeight, QZeros, Scales, scratch, In, Out, GroupSize);
        Gemm(scratch, Cublas.OpN, Out, x, y, rows, ldy);
    }

    /// <summary>cuBLAS: column-major C [out, rows] = op(A) [out, in] · B [in, rows], with B = x row-major [rows, in].</summary>
    void Gemm(ulong a, int opA, int lda, ulong x, ulong y, int rows, int ldy)
    {
        float alpha = 1f, beta = 0f;
        Cublas.Check(Cublas.GemmEx(_mem.Ctx.Cublas, opA, Cublas.OpN, Out, rows, In, &alpha, a, Cublas.R16F, lda,
            x, Cublas.R16F, In, &beta, y, Cublas.R32F, ldy, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
    }
}
