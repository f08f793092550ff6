using Quanta.IO.Hf;
using Quanta.IO.Llama2c;
using Quanta.IO.Safetensors;
using Quanta.Tokenization;
using Quanta.Model;

namespace Quanta.IO;

/// <summary>Opens any checkpoint Quanta reads: a Hugging Face folder (fp16/bf16/fp32 or GPTQ) or a llama2.c .bin.</summary>
public static class ModelLoader
{
    /// <summary>The built-in stories260K shipped beside the program (models/stories260K).</summary>
    public static string DefaultModelPath => Path.Combine(AppContext.BaseDirectory, "models", "stories260K");

    /// <summary>Loads <paramref name="modelId"/> (a folder or a .bin file); null = the built-in default model.</summary>
    /// <exception cref="ModelLoadException">names the file or tensor and the problem.</exception>
    public static LoadedModel Load(string? modelId)
    {
        using var ck = Open(modelId);
        try { return ck.ToLoadedModel(); }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException)
        {
            throw new ModelLoadException($"{ck.TokenizerSource}: cannot read the tokenizer ({e.Message})");
        }
    }

    /// <summary>Opens config and memory-mapped weights without the tokenizer; null = the built-in default model.</summary>
    /// <exception cref="ModelLoadException">names the file or tensor and the problem.</exception>
    public static ModelCheckpoint Open(string? modelId)
    {
        var path = Path.GetFullPath(modelId ?? DefaultModelPath);
        if (File.Exists(path))
        {
            if (path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cLoader.Open(path);
            if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return OpenHf(Path.GetDirectoryName(path)!);
            throw new ModelLoadException($"{path}: not a model (expected a Hugging Face folder or a llama2.c .bin)");
        }
        if (!Directory.Exists(path)) throw new ModelLoadException($"{path}: model folder or file not found");
        if (File.Exists(Path.Combine(path, "config.json"))) return OpenHf(path);
        var bins = Llama2cLoader.CheckpointsIn(path);
        if (bins.Count == 1) return Llama2cLoader.Open(bins[0]);
        if (bins.Count > 1) throw new ModelLoadException($"{path}: several llama2.c checkpoints ({string.Join(", ", bins.Select(Path.GetFileName))}); name one");
        throw new ModelLoadException($"{path}: no config.json and no llama2.c .bin checkpoint");
    }

    static ModelCheckpoint OpenHf(string dir)
    {
        var (config, defaults) = HfConfigReader.Read(dir);
        var st = SafetensorsCheckpoint.Open(dir);
        try
        {
            config = config with { Quantization = GptqSettings.Read(dir, st) };
            var weights = HfWeightsLoader.Load(st, config);
            var ck = new ModelCheckpoint
            {
                Name = Path.GetFileName(dir.TrimEnd(Path.DirectorySeparatorChar)),
                Path = dir, Config = config, Weights = weights, Defaults = defaults,
                TokenizerSource = dir, TokenizerLoader = () => TokenizerFactory.FromModelDirectory(dir),
            };
            ck.Owned.Add(st);
            return ck;
        }
        catch { st.Dispose(); throw; }
    }
}
