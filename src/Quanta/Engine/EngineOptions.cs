namespace Quanta.Engine;

/// <summary>Scheduling knobs of <see cref="LlmEngine"/> (TGI's launcher flags of the same names).</summary>
public sealed record EngineOptions
{
    /// <summary>Prompt tokens computed per step; longer prompts are prefilled in chunks.</summary>
    public int MaxBatchPrefillTokens { get; init; } = 4096;
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
