using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>
/// Causal attention of prompts that start at position 0, through cuBLAS: S = scale·Q·Kᵀ per head
/// (strided-batched over KV heads, once per query head of a group), a causal row softmax to fp16 P,
/// then O = P·V. Q, K, V are the step's own contiguous rows, so no cache reads.
/// </summary>
internal sealed unsafe class BlasAttention(CudaContext ctx, Kernels k, int heads, int kvHeads, int headDim)
{
    /// <summary>Longest prompt taken this way (scores scratch grows with its square).</summary>
    public const int MaxTokens = 2048;

    /// <summary>Bytes of S (f32) and P (f16) for prompts up to <paramref name="len"/> tokens.</summary>
    public static long ScratchBytes(int heads, int len) => (long)heads * len * len * 6;

    /// <summary>
    /// One sequence of <paramref name="len"/> tokens starting at row <paramref name="t0"/>: q [T, H*D], kh/vh [T, KH*D],
    /// output [T, H*D], all f16; s [H, len, len] f32 and p [H, len, len] f16 are scratch.
    /// </summary>
    public void Run(ulong q, ulong kh, ulong vh, ulong output, int t0, int len, ulong s, ulong p, float scale)
    {
        int H = heads, KH = kvHeads, D = headDim, g = H / KH;
        ulong qs = q + 2UL * (ulong)((long)t0 * H * D), os = output + 2UL * (ulong)((long)t0 * H * D);
        ulong ks = kh + 2UL * (ulong)((long)t0 * KH * D), vs = vh + 2UL * (ulong)((long)t0 * KH * D);
        long ll = (long)len * len;
        float alpha = scale, one = 1f, zero = 0f;
        for (int j = 0; j < g; j++)
            Cublas.Check(Cublas.GemmStridedBatchedEx(ctx.Cublas, Cublas.OpT, Cublas.OpN, len, len, D, &alpha,
                ks, Cublas.R16F, KH * D, D, qs + 2UL * (ulong)(j * D), Cublas.R16F, H * D, (long)g * D, &zero,
                s + 4UL * (ulong)(j * ll), Cublas.R32F, len, g * ll, KH, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmStridedBatchedEx(Q·Kᵀ)");
        k.CausalSoftmax(s, p, len, H);
        for (int j = 0; j < g; j++)
            Cublas.Check(Cublas.GemmStridedBatchedEx(ctx.Cublas, Cublas.OpN, Cublas.OpN, D, len, len, &one,
                vs, Cublas.R16F, KH * D, D, p + 2UL * (ulong)(j * ll), Cublas.R16F, len, g * ll, &zero,
                os + 2UL * (ulong)(j * D), Cublas.R16F, H * D, (long)g * D, KH, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmStridedBatchedEx(P·V)");
    }
}
