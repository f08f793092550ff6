using System.Runtime.CompilerServices;
using Quanta.Engine;

namespace Quanta.Cpu;

/// <summary>Rejects a malformed <see cref="ForwardBatch"/> before any memory is touched.</summary>
internal static class BatchCheck
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Validate(ForwardBatch b, PagedKvCache cache, int vocab)
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
        int bs = cache.BlockSize;
        for (int s = 0; s < S; s++)
        {
            if (b.QueryStart[s + 1] < b.QueryStart[s]) throw new ArgumentException($"batch: query_start decreases at sequence {s}");
            int ctx = b.ContextLens[s];
            if (ctx > (long)b.MaxBlocksPerSeq * bs) throw new ArgumentException($"batch: sequence {s} context {ctx} exceeds its block table");
            var table = b.BlockTable(s);
            for (int j = 0; j < (ctx + bs - 1) / bs; j++)
                if ((uint)table[j] >= (uint)cache.NumBlocks) throw new ArgumentException($"batch: sequence {s} block {j} is {table[j]}, outside [0, {cache.NumBlocks})");
            for (int t = b.QueryStart[s]; t < b.QueryStart[s + 1]; t++)
            {
                if ((uint)b.TokenIds[t] >= (uint)vocab) throw new ArgumentException($"batch: token id {b.TokenIds[t]} outside vocab {vocab}");
                int p = b.Positions[t];
                if (p < 0 || p >= ctx) throw new ArgumentException($"batch: position {p} of sequence {s} outside its context {ctx}");
                if (b.SlotMapping[t] != table[p / bs] * bs + p % bs) throw new ArgumentException($"batch: slot {b.SlotMapping[t]} of sequence {s} position {p} disagrees with its block table");
            }
        }
    }
}
