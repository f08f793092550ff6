using Quanta.Cpu;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cli.Commands;

/// <summary>Picks the backend for --device auto|cpu|cuda and sizes its KV cache.</summary>
internal static class RunnerFactory
{
    /// <param name="maxBatchTotalTokens">KV tokens to allocate; null = computed from memory.</param>
    public static IModelRunner Create(LoadedModel model, string device, int blockSize, int? maxBatchTotalTokens, TextWriter log)
    {
        if (device is not ("auto" or "cpu" or "cuda"))
            throw new ArgumentException($"--device must be auto, cpu or cuda, not '{device}'");
        if (device == "cuda") throw new NotSupportedException("--device cuda: the CUDA backend is not available in this build");
        int tokens = maxBatchTotalTokens ?? DefaultCpuTokens(model.Config);
        int blocks = (tokens + blockSize - 1) / blockSize;
        log.WriteLine($"backend: cpu, KV cache {blocks} blocks x {blockSize} tokens = {blocks * blockSize} tokens");
        return new CpuModelRunner(model, new KvCacheOptions(blockSize, blocks));
    }

    /// <summary>A quarter of the machine's memory for KV (fp32 K and V), capped at 1M tokens.</summary>
    static int DefaultCpuTokens(LlamaConfig c)
    {
        long perToken = 2L * c.NumLayers * c.NumKvHeads * (c.HeadDim > 0 ? c.HeadDim : c.HiddenSize / c.NumHeads) * sizeof(float);
        long budget = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;
        return (int)Math.Clamp(budget / perToken, 1024, 1 << 20);
    }
}
