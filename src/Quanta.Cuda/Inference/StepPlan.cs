namespace Quanta.Cuda;

/// <summary>Where a step's lm_head runs: after the layers (cuBLAS or the kernel, per logits rows), or inside the decode graph.</summary>
internal enum HeadPlacement
{
    /// <summary>After the layers, on the gathered rows (<see cref="CudaModelRunner"/>'s Head).</summary>
    Outside,
    /// <summary>The one-row lm_head kernel inside the graph, writing logits only (a sampled row, or no sampler).</summary>
    InGraph,
    /// <summary>The one-row lm_head kernel inside the graph with the greedy row's choice fused in.</summary>
    InGraphGreedy,
}

/// <summary>
/// Which rows of the next step the sampler chooses, as the planner needs to know: none (logits only), all greedy and free
/// (a kernel may fuse the choice), or some sampled or masked (the logits rows are kept for the sampler).
/// </summary>
internal enum SamplerRows { None, Greedy, Sampled }

/// <summary>
/// How a step's attention runs: GEMMs per fresh prompt (PromptStarts), tiled prefill tiles, or paged with Splits over
/// Warps-warp blocks; RopeInAttention (paged decode steps whose attention grid fits about one wave): the attention kernel
/// rotates q and the step's K/V and writes the cache itself, in place of rope_kv.
/// </summary>
internal readonly record struct AttentionPlan(int Splits, int NumTiles, int[]? PromptStarts, bool RopeInAttention, int Warps);

/// <summary>
/// Every decision of one CUDA step, made before any launch (see <see cref="StepPlanner"/>).
/// </summary>
/// <param name="Tokens">rows computed: the batch's tokens, or its bucket for a padded decode graph (padding rows write no KV).</param>
/// <param name="Decode">one query per sequence, its newest position.</param>
/// <param name="Graph">the step runs as a CUDA graph (captured on its second use, replayed after).</param>
/// <param name="MaxBlocks">block-table row width (rounded up to 64 in a graph, so nearby contexts share one).</param>
/// <param name="Tiles">prefill tiles [n, 2] (first token, count) of the tiled prefill attention, or null.</param>
/// <param name="Attention">how attention runs.</param>
/// <param name="LogitsInXn">the logits rows are rows 0..n-1 of the final norm's output, so nothing is gathered.</param>
/// <param name="GatherRows">rows gathered from the final norm's output inside the step (a padded graph gathers every row it computes).</param>
/// <param name="Head">where lm_head runs.</param>
internal sealed record StepPlan(int Tokens, bool Decode, bool Graph, int MaxBlocks, int[]? Tiles, AttentionPlan Attention,
                                bool LogitsInXn, int GatherRows, HeadPlacement Head);
