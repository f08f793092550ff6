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
}
