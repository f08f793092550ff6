using Quanta.Model;

namespace Quanta.IO;

/// <summary>Opens any checkpoint Quanta reads: a Hugging Face folder (fp16/bf16/fp32 or GPTQ) or a llama2.c .bin.</summary>
public static class ModelLoader
{
    /// <summary>The built-in stories260K shipped beside the program (models/stories260K).</summary>
    public static string DefaultModelPath => Path.Combine(AppContext.BaseDirectory, "models", "stories260K");

    /// <summary>Loads <paramref name="modelId"/> (a folder or a .bin file); null = the built-in default model.</summary>
    /// <exception cref="ModelLoadException">names the file or tensor and the problem.</exception>
    public static LoadedModel Load(string? modelId) => throw new NotImplementedException("model loading: pending");
}
