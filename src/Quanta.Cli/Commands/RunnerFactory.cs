using Quanta.Cpu;
using Quanta.Cuda;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cli.Commands;

/// <summary>Picks the backend for --device auto|cpu|cuda and sizes its KV cache.</summary>
internal static class RunnerFactory
{
    /// <param name="maxBatchTotalTokens">KV tokens to allocate; null = computed from memory.</param>
    /// <param name="maxPrefillTokens">CUDA: tokens of the warm-up prefill that sizes activations (null = 4096).</param>
    /// <param name="cudaMemoryFraction">CUDA: share of the memory left after warm-up that becomes KV blocks.</param>
    /// <param name="cudaProfile">CUDA: book GPU time per phase of each step (bench decode --profile).</param>
    /// <remarks>QUANTA_CUDA_GRAPHS=0 turns the CUDA runner's decode graphs off.</remarks>
    public static IModelRunner Create(LoadedModel model, string device, int blockSize, int? maxBatchTotalTokens, TextWriter log,
        int? maxPrefillTokens = null, double cudaMemoryFraction = 0.9, bool cudaProfile = false)
        => Create(model.Config, model.Weights, device, blockSize, maxBatchTotalTokens, log, maxPrefillTokens, cudaMemoryFraction, cudaProfile);

    /// <summary>The same over config and weights alone (no tokenizer), for benchmarks.</summary>
    public static IModelRunner Create(LlamaConfig config, LlamaWeights weights, string device, int blockSize, int? maxBatchTotalTokens,
        TextWriter log, int? maxPrefillTokens = null, double cudaMemoryFraction = 0.9, bool cudaProfile = false)
    {
        if (blockSize <= 0) throw new ArgumentException($"block size must be positive, not {blockSize}");
        if (cudaMemoryFraction is <= 0 or > 1) throw new ArgumentException($"--cuda-memory-fraction must be in (0, 1], not {cudaMemoryFraction}");
        if (DeviceChoice.UseCuda(device, log.WriteLine, "backend"))
        {
            int blocks = maxBatchTotalTokens is { } t ? (t + blockSize - 1) / blockSize : 0;
            int prefill = maxPrefillTokens ?? Math.Min(4096, maxBatchTotalTokens ?? 4096);
            var options = new CudaRunnerOptions(prefill, cudaMemoryFraction, log,
                Graphs: Environment.GetEnvironmentVariable("QUANTA_CUDA_GRAPHS") != "0", Profile: cudaProfile);
            return new CudaModelRunner(config, weights, new KvCacheOptions(blockSize, blocks), options);
        }
        int tokens = maxBatchTotalTokens ?? DefaultCpuTokens(config);
        int cpuBlocks = (tokens + blockSize - 1) / blockSize;
        log.WriteLine($"backend: cpu, KV cache {cpuBlocks} blocks x {blockSize} tokens = {cpuBlocks * blockSize} tokens");
        return new CpuModelRunner(config, weights, new KvCacheOptions(blockSize, cpuBlocks));
    }

    /// <summary>A quarter of the machine's memory for KV (fp32 K and V), capped at 1M tokens.</summary>
    static int DefaultCpuTokens(LlamaConfig c)
    {
        long perToken = 2L * c.NumLayers * c.NumKvHeads * c.EffectiveHeadDim * sizeof(float);
        long budget = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;
        return (int)Math.Clamp(budget / perToken, 1024, 1 << 20);
    }
}
