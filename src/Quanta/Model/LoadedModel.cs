namespace Quanta.Model;

/// <summary>Sampling defaults from generation_config.json.</summary>
public sealed record GenerationDefaults(float? Temperature = null, float? TopP = null, int? TopK = null, float? RepetitionPenalty = null);

/// <summary>A checkpoint opened for inference: architecture, weights (memory-mapped) and tokenizer.</summary>
public sealed class LoadedModel : IDisposable
{
    public required string Name { get; init; }          // model id shown in /info and /v1/models
    public required string Path { get; init; }
    public required LlamaConfig Config { get; init; }
    public required LlamaWeights Weights { get; init; }
    public required ITokenizer Tokenizer { get; init; }
    public GenerationDefaults Defaults { get; init; } = new();
    /// <summary>Memory maps and native buffers that back the weights.</summary>
    public List<IDisposable> Owned { get; } = [];

    public void Dispose()
    {
        foreach (var d in Owned) d.Dispose();
        Owned.Clear();
    }
}

/// <summary>A checkpoint that cannot be loaded; the message names the file or tensor and the problem.</summary>
public sealed class ModelLoadException(string message) : Exception(message);
