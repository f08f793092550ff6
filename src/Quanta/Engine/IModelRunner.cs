using Quanta.Model;

namespace Quanta.Engine;

/// <summary>Sizes of the paged KV cache a runner allocates.</summary>
public sealed record KvCacheOptions(int BlockSize = 16, int NumBlocks = 0);

/// <summary>One backend's arithmetic: owns its weights layout and its KV cache.</summary>
public interface IModelRunner : IDisposable
{
    LlamaConfig Config { get; }
    /// <summary>"cpu", "cuda:0 (NVIDIA H100 80GB HBM3)", ...</summary>
    string DeviceName { get; }
    int BlockSize { get; }
    int NumBlocks { get; }
    /// <summary>
    /// Runs the batch; writes fp32 logits for batch.LogitIndices into
    /// <paramref name="logits"/> [batch.NumLogits, vocab] row-major.
    /// </summary>
    void Forward(ForwardBatch batch, Span<float> logits);

    /// <summary>
    /// Device memory in use and in all, as read once after the runner allocated its weights, activations and KV cache
    /// (a runner allocates nothing later, so the figure holds); null where there is no device memory to report (CPU).
    /// </summary>
    DeviceMemoryUse? DeviceMemory => null;
}

/// <summary>Bytes of device memory in use (by every process on the device) and in all.</summary>
public readonly record struct DeviceMemoryUse(long UsedBytes, long TotalBytes);
