namespace Quanta.Engine;

/// <summary>Scheduling knobs of <see cref="LlmEngine"/> (TGI's launcher flags of the same names).</summary>
public sealed record EngineOptions
{
    /// <summary>
    /// Step budget used when <see cref="MaxNumBatchedTokens"/> is 0: the default <see cref="MaxBatchPrefillTokens"/>, so
    /// prompts are not chunked beyond it. On the CUDA backend a step past 128 rows pays a fixed cost (its GPTQ linears run
    /// through a dequantised copy, docs/gemm.md), so smaller chunks cost more such steps; docs/scheduling.md has the
    /// serving measurements behind this default.
    /// </summary>
    public const int DefaultMaxNumBatchedTokens = 4096;

    /// <summary>Prompt tokens a step gives prompt chunks however many sequences decode, so every prompt makes progress.</summary>
    public const int MinPrefillTokensPerStep = 16;

    /// <summary>Prompt tokens computed per step; longer prompts are prefilled in chunks.</summary>
    public int MaxBatchPrefillTokens { get; init; } = 4096;
    /// <summary>
    /// Most tokens a step computes while sequences decode (vLLM's max_num_batched_tokens): one per decoding sequence
    /// first, prompt chunks take what they leave (at least <see cref="MinPrefillTokensPerStep"/>, at most
    /// <see cref="MaxBatchPrefillTokens"/>). A step with nothing decoding takes <see cref="MaxBatchPrefillTokens"/> of prompt.
    /// 0: <see cref="DefaultMaxNumBatchedTokens"/>.
    /// </summary>
    public int MaxNumBatchedTokens { get; init; }
    /// <summary><see cref="MaxNumBatchedTokens"/> with 0 resolved to its default.</summary>
    public int StepTokenBudget => MaxNumBatchedTokens > 0 ? MaxNumBatchedTokens : DefaultMaxNumBatchedTokens;
    /// <summary>New prefills join a running batch only when at least running * ratio of them fit.</summary>
    public double WaitingServedRatio { get; init; } = 0.3;
    /// <summary>Decode steps after which waiting requests are admitted regardless of the ratio.</summary>
    public int MaxWaitingTokens { get; init; } = 20;
    public int MaxRunningSequences { get; init; } = 256;
    public bool PrefixCaching { get; init; } = true;
    /// <summary>Let a runner that implements <see cref="IDeviceSampler"/> choose the tokens of steps whose every row it can sample.</summary>
    public bool DeviceSampling { get; init; } = true;
    /// <summary>
    /// With such a runner, queue each decode step before the previous one is collected (its tokens fed on the device),
    /// so the host's work per step overlaps the device's.
    /// </summary>
    public bool QueueAhead { get; init; } = true;
}
