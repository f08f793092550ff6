using System.Collections.Concurrent;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>Opens the tokenizer that belongs to a checkpoint.</summary>
public static class TokenizerFactory
{
    // Tokenizers are immutable: one parse per file version and vocabulary size.
    static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written, int Vocab), ITokenizer> Cache = new();

    /// <summary>From a Hugging Face folder: tokenizer.json when present, else tokenizer.model (SentencePiece).</summary>
    /// <exception cref="ModelLoadException">names the file and the problem.</exception>
    public static ITokenizer FromModelDirectory(string dir)
    {
        if (!Directory.Exists(dir)) throw new ModelLoadException($"{dir}: tokenizer folder not found");
        string json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json)) return Cached(json, 0, () => HfTokenizerJson.Load(json, Path.Combine(dir, "tokenizer_config.json")));
        string model = Path.Combine(dir, "tokenizer.model");
        if (File.Exists(model)) return FromSentencePieceFile(model);
        throw new ModelLoadException($"{dir}: no tokenizer.json or tokenizer.model");
    }

    /// <summary>From a llama2.c tokenizer .bin (e.g. tok512.bin) with the model's vocabulary size.</summary>
    /// <exception cref="ModelLoadException">names the file and the problem.</exception>
    public static ITokenizer FromLlama2cFile(string path, int vocabSize)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{path}: tokenizer file not found");
        return Cached(path, vocabSize, () => Llama2cTokenizer.Parse(File.ReadAllBytes(path), vocabSize, path));
    }

    /// <summary>From a standalone llama2.c tokenizer .bin: every entry in the file is a token.</summary>
    /// <exception cref="ModelLoadException">names the file and the problem.</exception>
    public static ITokenizer FromLlama2cFile(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{path}: tokenizer file not found");
        var data = File.ReadAllBytes(path);
        int vocabSize = Llama2cTokenizer.EntryCount(data, path);
        return Cached(path, vocabSize, () => Llama2cTokenizer.Parse(data, vocabSize, path));
    }

    /// <summary>From a SentencePiece <c>tokenizer.model</c> file.</summary>
    /// <exception cref="ModelLoadException">names the file and the problem.</exception>
    public static ITokenizer FromSentencePieceFile(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{path}: tokenizer file not found");
        return Cached(path, 0, () => SentencePieceTokenizer.Create(SentencePieceModel.Parse(File.ReadAllBytes(path), path), path));
    }

    static ITokenizer Cached(string path, int vocab, Func<ITokenizer> load)
    {
        var info = new FileInfo(Path.GetFullPath(path));
        var key = (info.FullName, info.Length, info.LastWriteTimeUtc, vocab);
        if (Cache.TryGetValue(key, out var t)) return t;
        t = load();
        return Cache.GetOrAdd(key, t);
    }
}
