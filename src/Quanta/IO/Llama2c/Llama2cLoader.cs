using System.Text.RegularExpressions;
using Quanta.Tokenization;
using Quanta.Model;

namespace Quanta.IO.Llama2c;

/// <summary>llama2.c checkpoints (.bin, version-0 header of 7 int32, then f32 weights), memory-mapped.</summary>
public static partial class Llama2cLoader
{
    [GeneratedRegex(@"^(tokenizer|tok\d+)\.bin$", RegexOptions.IgnoreCase)]
    private static partial Regex TokenizerFileName();

    /// <summary>The .bin files of <paramref name="dir"/> that are not llama2.c tokenizers (tokenizer.bin, tok512.bin).</summary>
    public static List<string> CheckpointsIn(string dir) =>
        Directory.GetFiles(dir, "*.bin").Where(f => !TokenizerFileName().IsMatch(Path.GetFileName(f)))
                 .Order(StringComparer.Ordinal).ToList();

    /// <summary>Maps <paramref name="path"/>; the tokenizer is tokenizer.bin or tok&lt;vocab&gt;.bin beside it.</summary>
    /// <exception cref="ModelLoadException">bad header or truncated file (names the file).</exception>
    public static ModelCheckpoint Open(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{path}: file not found");
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 28) throw new ModelLoadException($"{path}: truncated llama2.c checkpoint ({fileLength} bytes, header needs 28)");
        var owner = new MappedFile(path);
        try
        {
            var header = Llama2cHeader.Parse(path, owner.Base, owner.Length);
            var config = header.ToConfig();
            var weights = Llama2cWeights.Build(header, owner.Base + 28, owner.Length - 28, path);
            var dir = Path.GetDirectoryName(path)!;
            var tok = FindTokenizer(dir, config.VocabSize);
            var ck = new ModelCheckpoint
            {
                Name = Path.GetFileNameWithoutExtension(path), Path = path, Config = config, Weights = weights,
                TokenizerSource = tok,
                TokenizerLoader = () => File.Exists(tok) ? TokenizerFactory.FromLlama2cFile(tok, config.VocabSize)
                    : throw new ModelLoadException($"{path}: llama2.c tokenizer not found beside it (tok{config.VocabSize}.bin or tokenizer.bin)"),
            };
            ck.Owned.Add(owner);
            return ck;
        }
        catch { owner.Dispose(); throw; }
    }

    static string FindTokenizer(string dir, int vocab)
    {
        var specific = Path.Combine(dir, $"tok{vocab}.bin");
        return File.Exists(specific) ? specific : Path.Combine(dir, "tokenizer.bin");
    }
}
