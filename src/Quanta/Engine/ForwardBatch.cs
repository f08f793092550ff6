namespace Quanta.Engine;

/// <summary>One sequence of <see cref="ForwardBatch.Of"/>: new tokens at positions Start.. through the block table Blocks.</summary>
public readonly record struct SeqTokens(int[] Blocks, int Start, int[] Tokens, bool AllLogits = false);

/// <summary>
/// Everything a backend needs to run one step: the whole contract between the engine and a model
/// runner (vLLM's slot_mapping / block_tables). Sequence i's tokens are
/// [QueryStart[i], QueryStart[i+1]) of the token arrays.
/// </summary>
public sealed class ForwardBatch
{
    public int NumTokens;          // tokens computed this step
    public int[] TokenIds = [];    // [tokens]
    public int[] Positions = [];   // [tokens] position of each token in its sequence
    public int[] SlotMapping = []; // [tokens] KV slot = block * block_size + offset

    public int NumSeqs;
    public int[] QueryStart = [];  // [seqs + 1] prefix sums of query lengths
    public int[] ContextLens = []; // [seqs] KV length after this step (cached + new)
    public int MaxBlocksPerSeq;    // row stride of BlockTables
    public int[] BlockTables = []; // [seqs, MaxBlocksPerSeq] physical block ids, -1 padded

    /// <summary>Token indices (into the token arrays) whose logits are returned, in output-row order.</summary>
    public int[] LogitIndices = [];
    public int NumLogits;

    public int QueryLen(int seq) => QueryStart[seq + 1] - QueryStart[seq];

    /// <summary>
    /// A batch of these sequences' new tokens (tools, warm-up, tests; the engine fills its own batch in place): the block
    /// tables are the sequences' Blocks, -1 padded to the longest; logits rows for each sequence's last token, or for every
    /// token of those with AllLogits.
    /// </summary>
    public static ForwardBatch Of(int blockSize, params ReadOnlySpan<SeqTokens> seqs)
    {
        int S = seqs.Length, T = 0, maxb = 0, rows = 0;
        foreach (var q in seqs) { T += q.Tokens.Length; maxb = Math.Max(maxb, q.Blocks.Length); rows += q.AllLogits ? q.Tokens.Length : 1; }
        var b = new ForwardBatch
        {
            NumTokens = T, TokenIds = new int[T], Positions = new int[T], SlotMapping = new int[T],
            NumSeqs = S, QueryStart = new int[S + 1], ContextLens = new int[S], MaxBlocksPerSeq = maxb,
            BlockTables = new int[S * maxb], LogitIndices = new int[rows],
        };
        b.BlockTables.AsSpan().Fill(-1);
        int t = 0;
        for (int s = 0; s < S; s++)
        {
            var q = seqs[s];
            q.Blocks.CopyTo(b.BlockTables, s * maxb);
            for (int i = 0; i < q.Tokens.Length; i++, t++)
            {
                int p = q.Start + i;
                if (q.AllLogits || i == q.Tokens.Length - 1) b.LogitIndices[b.NumLogits++] = t;
                b.TokenIds[t] = q.Tokens[i];
                b.Positions[t] = p;
                b.SlotMapping[t] = q.Blocks[p / blockSize] * blockSize + p % blockSize;
            }
            b.QueryStart[s + 1] = t;
            b.ContextLens[s] = q.Start + q.Tokens.Length;
        }
        return b;
    }
    public ReadOnlySpan<int> BlockTable(int seq) => BlockTables.AsSpan(seq * MaxBlocksPerSeq, MaxBlocksPerSeq);

    /// <summary>Rejects a malformed batch before a backend indexes memory with it.</summary>
    /// <exception cref="ArgumentException">names the field and the problem.</exception>
    public void Validate(int blockSize, int numBlocks, int vocab)
    {
        int T = NumTokens, S = NumSeqs;
        if (T < 0 || TokenIds.Length < T || Positions.Length < T || SlotMapping.Length < T)
            throw new ArgumentException($"batch: {T} tokens but token_ids/positions/slot_mapping are shorter");
        if (S < 0 || QueryStart.Length < S + 1 || ContextLens.Length < S || BlockTables.Length < (long)S * MaxBlocksPerSeq)
            throw new ArgumentException($"batch: {S} sequences but query_start/context_lens/block_tables are shorter");
        if (QueryStart[0] != 0 || QueryStart[S] != T) throw new ArgumentException($"batch: query_start must run from 0 to {T}");
        if (NumLogits < 0 || LogitIndices.Length < NumLogits) throw new ArgumentException("batch: logit_indices shorter than num_logits");
        for (int r = 0; r < NumLogits; r++)
            if ((uint)LogitIndices[r] >= (uint)T) throw new ArgumentException($"batch: logit index {LogitIndices[r]} outside [0, {T})");
        for (int s = 0; s < S; s++)
        {
            if (QueryStart[s + 1] < QueryStart[s]) throw new ArgumentException($"batch: query_start decreases at sequence {s}");
            int ctx = ContextLens[s];
            if (ctx > (long)MaxBlocksPerSeq * blockSize) throw new ArgumentException($"batch: sequence {s} context {ctx} exceeds its block table");
            var table = BlockTable(s);
            for (int j = 0; j < (ctx + blockSize - 1) / blockSize; j++)
                if ((uint)table[j] >= (uint)numBlocks) throw new ArgumentException($"batch: sequence {s} block {j} is {table[j]}, outside [0, {numBlocks})");
            for (int t = QueryStart[s]; t < QueryStart[s + 1]; t++)
            {
                if ((uint)TokenIds[t] >= (uint)vocab) throw new ArgumentException($"batch: token id {TokenIds[t]} outside vocab {vocab}");
                int p = Positions[t];
                if (p < 0 || p >= ctx) throw new ArgumentException($"batch: position {p} of sequence {s} outside its context {ctx}");
                if (SlotMapping[t] != table[p / blockSize] * blockSize + p % blockSize) throw new ArgumentException($"batch: slot {SlotMapping[t]} of sequence {s} position {p} disagrees with its block table");
            }
        }
    }
}
