using Quanta.Cpu;
using Quanta.Cuda;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Cli.Commands;

/// <summary>Picks the backend for --device auto|cpu|cuda and sizes its KV cache.</summary>
internal static class RunnerFactory
{
    /// <param name="maxBatchTotalTokens">KV tokens to allocate; null = CUDA: from free memory; CPU: what <paramref name="demand"/> can use.</param>
    /// <param name="maxPrefillTokens">CUDA: tokens of the warm-up prefill that sizes activations (null = 4096).</param>
    /// <param name="cudaMemoryFraction">CUDA: share of the memory left after warm-up that becomes KV blocks.</param>
    /// <param name="cudaProfile">CUDA: book GPU time per phase of each step (bench decode --profile).</param>
    /// <param name="demand">CPU: the most sequences held at once and tokens each (null = one sequence of the model's context).</param>
    /// <remarks>QUANTA_CUDA_GRAPHS=0 turns the CUDA runner's decode graphs off.</remarks>
    /// <param name="warmGraphs">CUDA: capture the decode graphs of every batch size at load (serve).</param>
    public static IModelRunner Create(LoadedModel model, string device, int blockSize, int? maxBatchTotalTokens, TextWriter log,
        int? maxPrefillTokens = null, double cudaMemoryFraction = 0.9, bool cudaProfile = false, KvDemand? demand = null, bool warmGraphs = false)
        => Create(model.Config, model.Weights, device, blockSize, maxBatchTotalTokens, log, maxPrefillTokens, cudaMemoryFraction, cudaProfile, demand,
            warmGraphs);

    /// <summary>The same over config and weights alone (no tokenizer), for benchmarks.</summary>
    public static IModelRunner Create(LlamaConfig config, LlamaWeights weights, string device, int blockSize, int? maxBatchTotalTokens,
        TextWriter log, int? maxPrefillTokens = null, double cudaMemoryFraction = 0.9, bool cudaProfile = false, KvDemand? demand = null,
        bool warmGraphs = false)
    {
        if (blockSize <= 0) throw new ArgumentException($"block size must be positive, not {blockSize}");
        if (cudaMemoryFraction is <= 0 or > 1) throw new ArgumentException($"--cuda-memory-fraction must be in (0, 1], not {cudaMemoryFraction}");
        if (DeviceChoice.UseCuda(device, log.WriteLine, "backend"))
        {
            int blocks = maxBatchTotalTokens is { } t ? (t + blockSize - 1) / blockSize : 0;
            int prefill = maxPrefillTokens ?? Math.Min(EngineOptions.DefaultMaxBatchPrefillTokens, maxBatchTotalTokens ?? EngineOptions.DefaultMaxBatchPrefillTokens);
            var options = new CudaRunnerOptions(prefill, cudaMemoryFraction, log,
                Graphs: Environment.GetEnvironmentVariable("QUANTA_CUDA_GRAPHS") != "0", Profile: cudaProfile, WarmGraphs: warmGraphs);
            return new CudaModelRunner(config, weights, new KvCacheOptions(blockSize, blocks), options);
        }
        var d = demand ?? new KvDemand(1, config.MaxPositionEmbeddings);
        int tokens = maxBatchTotalTokens ?? DefaultCpuTokens(config, d, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        int cpuBlocks = (tokens + blockSize - 1) / blockSize;
        long bytes = (long)cpuBlocks * blockSize * CpuBytesPerToken(config);
        string why = maxBatchTotalTokens is null ? $"{d.Sequences} sequences x {d.TokensPerSequence} tokens at most; --max-batch-total-tokens sets it" : "--max-batch-total-tokens";
        log.WriteLine($"backend: cpu, KV cache {cpuBlocks} blocks x {blockSize} tokens = {cpuBlocks * blockSize} tokens, {bytes / 1048576.0:F1} MiB ({why})");
        return new CpuModelRunner(config, weights, new KvCacheOptions(blockSize, cpuBlocks));
    }

    /// <summary>fp32 K and V of one token over all layers.</summary>
    public static long CpuBytesPerToken(LlamaConfig c) => 2L * c.NumLayers * c.NumKvHeads * c.EffectiveHeadDim * sizeof(float);

    /// <summary>
    /// What the sequences can fill (sequences x tokens each), capped by a quarter of <paramref name="memoryBytes"/> and
    /// 1M tokens: a small model gets megabytes, not a share of the machine it can never use.
    /// </summary>
    public static int DefaultCpuTokens(LlamaConfig c, KvDemand demand, long memoryBytes)
    {
        long want = (long)demand.Sequences * demand.TokensPerSequence;
        long fit = memoryBytes / 4 / CpuBytesPerToken(c);
        return (int)Math.Clamp(Math.Min(want, fit), Math.Min(want, 1024), 1 << 20);
    }
}

/// <summary>How much KV cache the engine can use: the most sequences held at once and the most tokens each holds.</summary>
internal sealed record KvDemand(int Sequences, int TokensPerSequence);
