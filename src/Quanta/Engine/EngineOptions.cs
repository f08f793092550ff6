namespace Quanta.Engine;

/// <summary>Scheduling knobs of <see cref="LlmEngine"/> (TGI's launcher flags of the same names).</summary>
public sealed record EngineOptions
{
    /// <summary>The default <see cref="MaxBatchPrefillTokens"/> (TGI's launcher default for prompts up to 4,046 tokens).</summary>
    public const int DefaultMaxBatchPrefillTokens = 4096;

    /// <summary>Prompt tokens a step gives prompt chunks however many sequences decode, so every prompt makes progress.</summary>
    public const int MinPrefillTokensPerStep = 16;

    /// <summary>Prompt tokens computed per step; longer prompts are prefilled in chunks.</summary>
    public int MaxBatchPrefillTokens { get; init; } = DefaultMaxBatchPrefillTokens;
    /// <summary>
    /// Most tokens a step computes while sequences decode (vLLM's max_num_batched_tokens): one per decoding sequence
    /// first, prompt chunks take what they leave (at least <see cref="MinPrefillTokensPerStep"/>, at most
    /// <see cref="MaxBatchPrefillTokens"/>). A step with nothing decoding takes <see cref="MaxBatchPrefillTokens"/> of prompt.
    /// 0: no bound beyond the prefill budget (<see cref="StepTokenBudget"/>). On the CUDA backend a step past the int4 GEMM's
    /// rows (256 on Hopper, 128 elsewhere) pays a fixed cost (its GPTQ linears run through a dequantised copy, docs/gemm.md),
    /// so smaller chunks cost more such steps; docs/scheduling.md has the serving measurements behind this default.
    /// </summary>
    public int MaxNumBatchedTokens { get; init; }
    /// <summary>
    /// <see cref="MaxNumBatchedTokens"/>, or with 0 the most a step can hold anyway: every running sequence's decode row
    /// beside a whole <see cref="MaxBatchPrefillTokens"/> of prompt, so prompts are chunked only by the prefill budget.
    /// </summary>
    public int StepTokenBudget => MaxNumBatchedTokens > 0 ? MaxNumBatchedTokens : MaxBatchPrefillTokens + MaxRunningSequences;
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
