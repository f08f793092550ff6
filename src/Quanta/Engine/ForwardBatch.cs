namespace Quanta.Engine;

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
    public ReadOnlySpan<int> BlockTable(int seq) => BlockTables.AsSpan(seq * MaxBlocksPerSeq, MaxBlocksPerSeq);
}
