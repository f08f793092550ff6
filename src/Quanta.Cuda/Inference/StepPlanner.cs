using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>What the planner knows of the model, the GPU and the runner; fixed for a runner's life.</summary>
/// <param name="Graphs">decode steps may run as CUDA graphs (options, and not while profiling).</param>
/// <param name="AllQuantized">every layer linear is GPTQ (graphs hold only the fused kernels' launches).</param>
/// <param name="HeadKernel">an f16 lm_head the one-row kernel takes (see <see cref="CudaLmHead.For"/>).</param>
/// <param name="GraphRows">
/// most rows of a decode graph: the int4 kernels' launches are captured, cuBLAS's (past <see cref="GemmPlanner.MaxRowsFor"/>) are not.
/// </param>
internal readonly record struct StepShape(bool Graphs, bool AllQuantized, bool HeadKernel, int Heads, int HeadDim, int Multiprocessors,
                                          int GraphRows = GemmPlanner.MaxRows);

/// <summary>
/// Plans a CUDA step from its batch alone: rows and bucket, graph or eager, attention kind and splits, where the logits rows
/// are and where lm_head runs. No CUDA calls, so the plans are testable on the CPU; <see cref="CudaModelRunner"/> executes them.
/// </summary>
internal sealed class StepPlanner(StepShape shape)
{
    /// <param name="scratchTokens">rows the activation buffers hold now (they grow to the step's rows first).</param>
    /// <param name="sampler">which rows the sampler chooses (<see cref="SamplerRows.None"/> for logits only).</param>
    public StepPlan Plan(ForwardBatch b, int scratchTokens, SamplerRows sampler)
    {
        int n = b.NumLogits, maxQuery = 0;
        for (int q = 0; q < b.NumSeqs; q++) maxQuery = Math.Max(maxQuery, b.QueryLen(q));
        bool decode = maxQuery == 1 && b.NumTokens == b.NumSeqs;
        bool graph = shape.Graphs && decode && b.NumTokens <= shape.GraphRows && shape.AllQuantized;
        int T = b.NumTokens;
        if (graph) T = Bucket(T);
        int maxCtx = 0;
        for (int t = 0; t < b.NumTokens; t++) maxCtx = Math.Max(maxCtx, b.Positions[t] + 1);
        int splits = T <= CudaScratch.SplitTokens ? AttentionSplits(shape.Multiprocessors, T, shape.Heads, maxCtx) : 1;
        int maxb = graph ? (b.MaxBlocksPerSeq + 63) / 64 * 64 : b.MaxBlocksPerSeq;
        // Prompts from position 0 that fit the GEMM attention's buffers take it. Not in a decode graph: one-token prompts
        // would capture it under the key later decode steps of that bucket replay, and paged attention serves them as well.
        int blasTokens = CudaScratch.BlasTokensFor(Math.Max(scratchTokens, T));
        bool fresh = !graph && T > CudaScratch.SplitTokens && BlasAttention.MaxTokens > 0;
        for (int q = 0; q < b.NumSeqs && fresh; q++)
            fresh = b.QueryLen(q) <= blasTokens && (b.QueryLen(q) == 0 || b.Positions[b.QueryStart[q]] == 0);
        // Tiles of up to 64 queries pay off for prompt chunks; a wide decode step (a query or a few per sequence) stays paged.
        var tiles = !fresh && T > CudaScratch.SplitTokens && maxQuery >= 8 && shape.HeadDim <= Kernels.PrefillMaxHeadDim && shape.HeadDim % 4 == 0
            ? Kernels.PrefillTiles(b.QueryStart, b.NumSeqs, b.Positions) : null;
        // Rotating K/V inside attention pays while the grid is about one wave (2 blocks per SM); each further wave repeats its latency.
        bool rope = decode && !fresh && tiles is null && (long)shape.Heads * T * splits <= 2L * shape.Multiprocessors;
        var attention = new AttentionPlan(splits, (tiles?.Length ?? 0) / 2, fresh ? b.QueryStart[..(b.NumSeqs + 1)] : null, rope, AttentionWarps(T));
        // A decode step whose logits rows are its tokens in order reads them straight from the final norm's output;
        // other steps gather the rows first (a padded graph gathers every row it computes, the padding row 0).
        bool inXn = graph && n == b.NumTokens && IsIdentity(b.LogitIndices.AsSpan(0, n));
        int gather = inXn ? 0 : graph && n == b.NumTokens ? T : Math.Min(n, CudaScratch.LogitRows);
        // A one-row decode graph runs lm_head itself, with a greedy row's choice.
        var head = !(inXn && shape.HeadKernel && n == 1) ? HeadPlacement.Outside
            : sampler == SamplerRows.Greedy ? HeadPlacement.InGraphGreedy : HeadPlacement.InGraph;
        return new StepPlan(T, decode, graph, maxb, tiles, attention, inXn, gather, head);
    }

    /// <summary>Most rows of a decode graph (<see cref="StepShape.GraphRows"/>).</summary>
    public int GraphRows => shape.GraphRows;

    /// <summary>
    /// The padded size of a decode step of <paramref name="n"/> sequences: 1, 2, 4, 8, then multiples of 8 (as vLLM's
    /// capture sizes). Padding is nearly free: the fused GPTQ kernels compute 8 rows per tensor-core tile, the GEMM 64 per block.
    /// </summary>
    public static int Bucket(int n) => n <= 0 ? throw new ArgumentOutOfRangeException(nameof(n)) : n <= 2 ? n : n <= 4 ? 4 : n <= 8 ? 8 : (n + 7) / 8 * 8;

    /// <summary>Warps per paged-attention block: 8 below 32 tokens (more keys in flight per block), 4 from 32 (more blocks per SM).</summary>
    public static int AttentionWarps(int tokens) => tokens >= 32 ? 4 : 8;

    /// <summary>
    /// Split-K for paged attention: none below 256 keys (merging the splits costs more than it saves), else splits of at
    /// least 128 keys, up to enough blocks to cover the GPU twice, at most <see cref="CudaScratch.MaxSplits"/>.
    /// </summary>
    public static int AttentionSplits(int sms, int tokens, int heads, int maxCtx)
    {
        if (maxCtx < 256) return 1;
        int want = Math.Max(1, 2 * sms / Math.Max(1, tokens * heads));
        return Math.Clamp(Math.Min(want, maxCtx / 128), 1, CudaScratch.MaxSplits);
    }

    static bool IsIdentity(ReadOnlySpan<int> idx)
    {
        for (int i = 0; i < idx.Length; i++)
            if (idx[i] != i) return false;
        return true;
    }
}
