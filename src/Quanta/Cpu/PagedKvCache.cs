using System.Runtime.InteropServices;

namespace Quanta.Cpu;

/// <summary>
/// Paged KV cache in native memory: K and V each [layer][block][block_size][kv_heads][head_dim] fp32.
/// A slot is block * block_size + offset, so a slot's row is contiguous over kv_heads * head_dim.
/// </summary>
internal sealed unsafe class PagedKvCache : IDisposable
{
    float* _k, _v; // [layers, blocks * block_size, kv_heads * head_dim] fp32 each

    public PagedKvCache(int layers, int numBlocks, int blockSize, int kvDim)
    {
        Layers = layers; NumBlocks = numBlocks; BlockSize = blockSize; KvDim = kvDim;
        nuint n = checked((nuint)layers * (nuint)numBlocks * (nuint)blockSize * (nuint)kvDim * sizeof(float));
        _k = (float*)NativeMemory.AllocZeroed(n);
        _v = (float*)NativeMemory.AllocZeroed(n);
    }

    public int Layers { get; }
    public int NumBlocks { get; }
    public int BlockSize { get; }
    public int KvDim { get; }
    public long Slots => (long)NumBlocks * BlockSize;

    /// <summary>K row [kv_heads * head_dim] of a slot in a layer.</summary>
    public float* K(int layer, long slot) => _k + (layer * Slots + slot) * KvDim;
    /// <summary>V row [kv_heads * head_dim] of a slot in a layer.</summary>
    public float* V(int layer, long slot) => _v + (layer * Slots + slot) * KvDim;

    public void Dispose()
    {
        NativeMemory.Free(_k); NativeMemory.Free(_v);
        _k = _v = null;
    }
}
