using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>The non-weight files of a written checkpoint: tokenizer and generation settings.</summary>
internal static class CheckpointFiles
{
    static readonly string[] HfFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json"];

    /// <summary>
    /// Copies the HF tokenizer/generation files; for a llama2.c input, writes its tokenizer as tokenizer.model
    /// (SentencePiece BPE) and keeps the original .bin beside it as tokenizer.bin.
    /// </summary>
    public static void CopyTokenizer(LoadedModel model, string dir, Action<string> log)
    {
        if (Directory.Exists(model.Path))
        {
            var copied = new List<string>();
            foreach (var f in HfFiles)
            {
                var src = Path.Combine(model.Path, f);
                if (!File.Exists(src)) continue;
                File.Copy(src, Path.Combine(dir, f), overwrite: true);
                copied.Add(f);
            }
            log(copied.Count > 0 ? $"copied {string.Join(", ", copied)}" : $"warning: {model.Path} has no tokenizer files to copy");
            return;
        }
        var tok = Llama2cTokenizerPath(model.Path, model.Config.VocabSize);
        if (tok is null) { log($"warning: no llama2.c tokenizer beside {model.Path}; the output has no tokenizer"); return; }
        File.Copy(tok, Path.Combine(dir, "tokenizer.bin"), overwrite: true);
        Llama2cSentencePiece.Write(tok, model.Config, dir);
        log($"llama2.c tokenizer {Path.GetFileName(tok)} written as tokenizer.model (+ tokenizer_config.json, tokenizer.bin)");
    }

    static string? Llama2cTokenizerPath(string bin, int vocab)
    {
        var d = Path.GetDirectoryName(Path.GetFullPath(bin))!;
        foreach (var name in new[] { $"tok{vocab}.bin", "tokenizer.bin" })
            if (File.Exists(Path.Combine(d, name))) return Path.Combine(d, name);
        return null;
    }
}
