using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>Checks a <see cref="ForwardBatch"/> on the host before any device memory is indexed with it.</summary>
internal static class CudaBatch
{
    public static void Validate(ForwardBatch b, int blockSize, int numBlocks, int vocab)
    {
        int T = b.NumTokens, S = b.NumSeqs;
        if (T < 0 || b.TokenIds.Length < T || b.Positions.Length < T || b.SlotMapping.Length < T)
            throw new ArgumentException($"batch: {T} tokens but token_ids/positions/slot_mapping are shorter");
        if (S < 0 || b.QueryStart.Length < S + 1 || b.ContextLens.Length < S || b.BlockTables.Length < (long)S * b.MaxBlocksPerSeq)
            throw new ArgumentException($"batch: {S} sequences but query_start/context_lens/block_tables are shorter");
        if (b.QueryStart[0] != 0 || b.QueryStart[S] != T) throw new ArgumentException($"batch: query_start must run from 0 to {T}");
        if (b.NumLogits < 0 || b.LogitIndices.Length < b.NumLogits) throw new ArgumentException("batch: logit_indices shorter than num_logits");
        for (int r = 0; r < b.NumLogits; r++)
            if ((uint)b.LogitIndices[r] >= (uint)T) throw new ArgumentException($"batch: logit index {b.LogitIndices[r]} outside [0, {T})");
        for (int s = 0; s < S; s++)
        {
            if (b.QueryStart[s + 1] < b.QueryStart[s]) throw new ArgumentException($"batch: query_start decreases at sequence {s}");
            int ctx = b.ContextLens[s];
            if (ctx > (long)b.MaxBlocksPerSeq * blockSize) throw new ArgumentException($"batch: sequence {s} context {ctx} exceeds its block table");
            var table = b.BlockTable(s);
            for (int j = 0; j < (ctx + blockSize - 1) / blockSize; j++)
                if ((uint)table[j] >= (uint)numBlocks) throw new ArgumentException($"batch: sequence {s} block {j} is {table[j]}, outside [0, {numBlocks})");
            for (int t = b.QueryStart[s]; t < b.QueryStart[s + 1]; t++)
            {
                if ((uint)b.TokenIds[t] >= (uint)vocab) throw new ArgumentException($"batch: token id {b.TokenIds[t]} outside vocab {vocab}");
                int p = b.Positions[t];
                if (p < 0 || p >= ctx) throw new ArgumentException($"batch: position {p} of sequence {s} outside its context {ctx}");
                if (b.SlotMapping[t] != table[p / blockSize] * blockSize + p % blockSize)
                    throw new ArgumentException($"batch: slot {b.SlotMapping[t]} of sequence {s} position {p} disagrees with its block table");
            }
        }
    }

    /// <summary>A one-sequence prefill batch over blocks 0.. (for warm-up and benchmarks).</summary>
    public static ForwardBatch Prefill(int[] ids, int blockSize, int firstBlock = 0)
    {
        int n = ids.Length, blocks = (n + blockSize - 1) / blockSize;
        var b = new ForwardBatch
        {
            NumTokens = n, TokenIds = ids, Positions = new int[n], SlotMapping = new int[n],
            NumSeqs = 1, QueryStart = [0, n], ContextLens = [n], MaxBlocksPerSeq = blocks, BlockTables = new int[blocks],
            LogitIndices = [n - 1], NumLogits = 1,
        };
        for (int j = 0; j < blocks; j++) b.BlockTables[j] = firstBlock + j;
        for (int t = 0; t < n; t++) { b.Positions[t] = t; b.SlotMapping[t] = (firstBlock + t / blockSize) * blockSize + t % blockSize; }
        return b;
    }
}
