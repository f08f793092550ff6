using System.Text;
using System.Text.Json.Nodes;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>
/// Turns a llama2.c tokenizer .bin (an export of a SentencePiece BPE model: pieces and scores, spaces as ' ')
/// back into a SentencePiece <c>tokenizer.model</c> plus tokenizer_config.json, so the output folder is a
/// plain Hugging Face Llama checkpoint. SentencePiece BPE merges the best-scoring pair as llama2.c does.
/// </summary>
internal static class Llama2cSentencePiece
{
    enum PieceType { Normal = 1, Unknown = 2, Control = 3, Byte = 6 }

    public static void Write(string binPath, LlamaConfig config, string dir)
    {
        var pieces = Read(binPath, config.VocabSize);
        var model = new MemoryStream();
        for (int i = 0; i < pieces.Length; i++)
        {
            var (text, score) = pieces[i];
            var (piece, type) = i switch
            {
                0 => ("<unk>", PieceType.Unknown),
                _ when i == config.BosTokenId => ("<s>", PieceType.Control),
                _ when config.EosTokenIds.Contains(i) => ("</s>", PieceType.Control),
                _ when text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text.EndsWith('>') => (text, PieceType.Byte),
                _ => (text.Replace(' ', '\u2581'), PieceType.Normal),
            };
            var p = new MemoryStream();
            Bytes(p, 1, Encoding.UTF8.GetBytes(piece));
            Tag(p, 2, 5); p.Write(BitConverter.GetBytes(score));
            Tag(p, 3, 0); Varint(p, (ulong)type);
            Bytes(model, 1, p.ToArray());
        }
        var trainer = new MemoryStream();
        foreach (var (field, value) in new (int, int)[] { (3, 2), (4, pieces.Length), (35, 1), (40, 0), (41, config.BosTokenId), (42, config.EosTokenIds[0]) })
        {
            Tag(trainer, field, 0); Varint(trainer, (ulong)value);
        }
        Bytes(model, 2, trainer.ToArray());
        var norm = new MemoryStream();
        Bytes(norm, 1, "identity"u8.ToArray());
        foreach (var (field, value) in new (int, int)[] { (3, 1), (4, 0), (5, 1) }) { Tag(norm, field, 0); Varint(norm, (ulong)value); }
        Bytes(model, 3, norm.ToArray());
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), model.ToArray());

        var tc = new JsonObject
        {
            ["tokenizer_class"] = "LlamaTokenizer", ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["unk_token"] = "<unk>",
            ["add_bos_token"] = true, ["add_eos_token"] = false, ["model_max_length"] = config.MaxPositionEmbeddings,
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tc.ToJsonString(GptqCheckpointWriter.Indented));
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

    static void Tag(Stream s, int field, int wire) => Varint(s, (ulong)(field << 3 | wire));

    static void Bytes(Stream s, int field, byte[] data)
    {
        Tag(s, field, 2);
        Varint(s, (ulong)data.Length);
        s.Write(data);
    }

    static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }
}
