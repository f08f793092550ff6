namespace Quanta.Server.Api;

/// <summary>GET /info: TGI's Info fields (current and older router versions) plus Quanta's engine settings, read from the engine.</summary>
internal sealed record InfoResponse(
    string ModelId,
    string? ModelSha,
    string ModelDtype,
    string ModelDeviceType,
    string Device,
    string ModelPipelineTag,
    int MaxConcurrentRequests,
    int MaxBestOf,
    int MaxStopSequences,
    int MaxInputTokens,
    int MaxInputLength,
    int MaxTotalTokens,
    int MaxBatchTotalTokens,
    int MaxBatchPrefillTokens,
    int MaxNumBatchedTokens,
    double WaitingServedRatio,
    int MaxWaitingTokens,
    int? MaxBatchSize,
    int ValidationWorkers,
    int MaxClientBatchSize,
    int BlockSize,
    string ChatTemplate,
    string Router,
    string Version,
    string? Sha,
    string? DockerLabel)
{
    public static InfoResponse From(ServerState s)
    {
        var o = s.Options;
        var e = s.Model.Engine.Options;
        return new InfoResponse(
            s.Model.ModelId, null, o.Dtype, s.ComputeType.StartsWith("gpu") ? "cuda" : "cpu", s.Model.DeviceName, "text-generation",
            o.MaxConcurrentRequests, s.Limits.MaxBestOf, s.Limits.MaxStopSequences,
            s.Limits.MaxInputTokens, s.Limits.MaxInputTokens, s.Limits.MaxTotalTokens,
            s.Model.Engine.MaxBatchTotalTokens, e.MaxBatchPrefillTokens, e.StepTokenBudget, e.WaitingServedRatio, e.MaxWaitingTokens,
            e.MaxRunningSequences, o.ValidationWorkers, o.MaxClientBatchSize, s.Model.Engine.Stats.BlockSize, s.Chat.Name,
            "quanta", QuantaServer.Version, null, null);
    }
}
