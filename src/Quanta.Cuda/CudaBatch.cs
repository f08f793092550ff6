using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>Host-side batches the CUDA runner builds for itself.</summary>
internal static class CudaBatch
{
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
