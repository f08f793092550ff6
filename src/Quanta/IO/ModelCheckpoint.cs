using Quanta.Model;

namespace Quanta.IO;

/// <summary>
/// A checkpoint's architecture and memory-mapped weights, before its tokenizer is opened
/// (for tools that need only the weights, e.g. quantization and tests).
/// </summary>
public sealed class ModelCheckpoint : IDisposable
{
    public required string Name { get; init; }
    public required string Path { get; init; }
    public required LlamaConfig Config { get; init; }
    public required LlamaWeights Weights { get; init; }
    public GenerationDefaults Defaults { get; init; } = new();
    /// <summary>Where the tokenizer comes from (folder or llama2.c tokenizer file), for messages.</summary>
    public required string TokenizerSource { get; init; }
    /// <summary>Memory maps that back the weights.</summary>
    public List<IDisposable> Owned { get; } = [];
    /// <summary>Opens the tokenizer (called by <see cref="OpenTokenizer"/>).</summary>
    public required Func<ITokenizer> TokenizerLoader { get; init; }

    /// <summary>Opens the checkpoint's tokenizer.</summary>
    public ITokenizer OpenTokenizer() => TokenizerLoader();

    /// <summary>Opens the tokenizer and hands the mapped weights over to a <see cref="LoadedModel"/> (this object is then empty).</summary>
    public LoadedModel ToLoadedModel()
    {
        var tokenizer = OpenTokenizer();
        var model = new LoadedModel { Name = Name, Path = Path, Config = Config, Weights = Weights, Tokenizer = tokenizer, Defaults = Defaults };
        model.Owned.AddRange(Owned);
        Owned.Clear();
        return model;
    }

    public void Dispose()
    {
        foreach (var d in Owned) d.Dispose();
        Owned.Clear();
    }
}
