namespace Quanta.Cuda;

/// <summary>
/// The f16 lm_head of a one-row step (Kernels/lm_head.cu) in place of cuBLAS, with a greedy row's choice fused in: no
/// second sweep of the logits. The decode graph runs it after the final norm, so its first weight loads overlap the
/// norm. Steps of more rows take cuBLAS: the kernel would repeat each weight's conversion per row on the CUDA cores.
/// </summary>
internal sealed unsafe class CudaLmHead(CudaContext ctx, CudaLinear head)
{
    /// <summary>Blocks per SM (the kernel's launch bounds let two fit).</summary>
    const int BlocksPerSm = 2;

    /// <summary>Where the fused greedy choice goes (see lm_head.cu): all 0 for logits only.</summary>
    public readonly record struct Greedy(ulong Ids, ulong Logprobs, ulong Parts, ulong Counter, ulong HostIds, ulong HostLogprobs);

    /// <summary>
    /// Blocks of one launch (each writes a greedy part): as few as give no warp more vocab rows than the full grid would,
    /// so the rows divide evenly where they can (32,000 rows on 132 SMs: 250 blocks, 16 rows per warp, rather than 264
    /// blocks whose warps take 15 or 16).
    /// </summary>
    public int Blocks
    {
        get
        {
            int most = ctx.Multiprocessors * BlocksPerSm, vocab = head.Out;
            int perWarp = (vocab + 8 * most - 1) / (8 * most), warps = (vocab + perWarp - 1) / perWarp;
            return Math.Min(most, (warps + 7) / 8);
        }
    }

    /// <summary>An f16 head with rows of a multiple of 8 halves that fit the kernel's shared memory (hidden up to 48K).</summary>
    public static CudaLmHead? For(CudaContext ctx, CudaLinear head) =>
        !head.IsQuantized && head.In % 8 == 0 && head.In * 2 <= 96 * 1024 ? new CudaLmHead(ctx, head) : null;

    /// <summary>Whether a step of this many logits rows takes the kernel: one row.</summary>
    public bool Takes(int rows) => rows == 1;

    /// <summary>logits [vocab] f32 = W · x, x [hidden] f16; with <paramref name="g"/> the greedy choice too.</summary>
    public void Forward(ulong x, ulong logits, Greedy g = default)
    {
        var r = ctx.Kernels;
        nint fn = r.Function("lm_head", "lm_head_1");
        int hidden = head.In, vocab = head.Out, smem = 2 * hidden;
        if (!r.AllowSharedMemory(fn, smem)) throw new InvalidOperationException($"lm_head kernel: {smem} bytes of shared memory refused");
        ulong w = head.Dense, ids = g.Ids, lps = g.Logprobs, parts = g.Parts, counter = g.Counter, hids = g.HostIds, hlps = g.HostLogprobs;
        void** a = stackalloc void*[] { &w, &x, &hidden, &vocab, &logits, &ids, &lps, &parts, &counter, &hids, &hlps };
        r.Launch(fn, ((uint)Blocks, 1, 1), 256, (uint)smem, a, "lm_head_1");
    }
}
