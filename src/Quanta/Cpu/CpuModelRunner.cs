using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>The CPU backend: fp32 activations, weights read in their stored type (f32/f16/bf16/int4).</summary>
public sealed class CpuModelRunner : IModelRunner
{
    public CpuModelRunner(LoadedModel model, KvCacheOptions kv, int threads = 0) => throw new NotImplementedException("cpu backend: pending");
    public LlamaConfig Config => throw new NotImplementedException();
    public string DeviceName => "cpu";
    public int BlockSize => throw new NotImplementedException();
    public int NumBlocks => throw new NotImplementedException();
    public void Forward(ForwardBatch batch, Span<float> logits) => throw new NotImplementedException();
    public void Dispose() { }
}
