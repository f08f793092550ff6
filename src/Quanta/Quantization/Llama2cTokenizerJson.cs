using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>
/// Converts a llama2.c tokenizer .bin (SentencePiece BPE export: specials, 256 byte pieces, pieces scored by merge
/// rank) into a Hugging Face tokenizer.json (BPE, byte fallback, ▁ for spaces) and tokenizer_config.json.
/// Merges are every split of a multi-character piece into two pieces, ranked by the piece's score, which is
/// the order in which llama2.c merges.
/// </summary>
internal static class Llama2cTokenizerJson
{
    public static void Write(string binPath, LlamaConfig config, string dir)
    {
        var pieces = Read(binPath, config.VocabSize);
        var vocab = new JsonObject();
        var index = new Dictionary<string, int>();
        var names = new string[pieces.Length];
        for (int i = 0; i < pieces.Length; i++)
        {
            names[i] = i switch { 0 => "<unk>", 1 => "<s>", 2 => "</s>", _ => pieces[i].Text.Replace(' ', '\u2581') };
            if (index.TryAdd(names[i], i)) vocab[names[i]] = i;
        }
        var merges = new List<(float Score, int Id, string Merge)>();
        for (int i = 3; i < pieces.Length; i++)
        {
            var s = names[i];
            if (s.StartsWith("<0x", StringComparison.Ordinal) || s.Length < 2) continue;
            for (int k = 1; k < s.Length; k++)
            {
                if (char.IsLowSurrogate(s[k])) continue;
                if (index.ContainsKey(s[..k]) && index.ContainsKey(s[k..])) merges.Add((pieces[i].Score, i, s[..k] + " " + s[k..]));
            }
        }
        var ordered = merges.OrderByDescending(m => m.Score).ThenBy(m => m.Id).Select(m => (JsonNode)m.Merge).ToArray();
        var special = new JsonArray(Enumerable.Range(0, 3).Select(i => (JsonNode)new JsonObject
        {
            ["id"] = i, ["content"] = names[i], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        }).ToArray());
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = special,
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "\u2581" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "\u2581" }),
            },
            ["pre_tokenizer"] = null,
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "\u2581" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = true, ["byte_fallback"] = true, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray(ordered),
            },
        };
        var opts = new JsonSerializerOptions { WriteIndented = false };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString(opts));
        var tc = new JsonObject
        {
            ["tokenizer_class"] = "LlamaTokenizer", ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["unk_token"] = "<unk>",
            ["add_bos_token"] = true, ["add_eos_token"] = false, ["model_max_length"] = config.MaxPositionEmbeddings,
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    static (string Text, float Score)[] Read(string path, int vocab)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        r.ReadInt32();                                                   // max token length
        var pieces = new (string, float)[vocab];
        for (int i = 0; i < vocab; i++)
        {
            float score = r.ReadSingle();
            int len = r.ReadInt32();
            if (len < 0 || len > 1 << 16) throw new InvalidDataException($"{path}: token {i} has length {len}");
            pieces[i] = (Encoding.UTF8.GetString(r.ReadBytes(len)), score);
        }
        return pieces;
    }
}
