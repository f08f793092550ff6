using System.Buffers.Binary;
using System.Text;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>
/// llama2.c tokenizer .bin (int32 max_token_length, then per token f32 score, int32 length, bytes), encoded
/// exactly as run.c does: dummy prefix " " for non-empty text, one lookup per UTF-8 codepoint with byte
/// fallback to id byte+3, then repeatedly merge the best-scoring adjacent pair (leftmost on ties).
/// </summary>
internal sealed class Llama2cTokenizer : PieceTokenizer
{
    // Vocabulary strings are held as Latin-1 strings: one char per byte, so byte strings compare as text.
    readonly string[] _vocab;     // [vocab] raw piece bytes as Latin-1
    readonly float[] _scores;     // [vocab]
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly int _spaceId;        // id of " ", -1 when absent
    readonly bool _chunked;       // words can be encoded one by one (see Encode)
    readonly WordCache _cache = new();   // keyed by the word's UTF-8 bytes as Latin-1

    Llama2cTokenizer(string[] vocab, float[] scores, byte[][] bytes, string[] text, TokenKind[] kind)
        : base(bytes, text, kind, bos: 1, eos: 2)
    {
        _vocab = vocab;
        _scores = scores;
        var dict = new Dictionary<string, int>(vocab.Length, StringComparer.Ordinal);
        for (int i = 0; i < vocab.Length; i++) dict.TryAdd(vocab[i], i);
        _lookup = dict.GetAlternateLookup<ReadOnlySpan<char>>();
        _spaceId = _lookup.TryGetValue(" ", out int s) ? s : -1;
        _chunked = _spaceId >= 0 && !vocab.Any(v => JoinsWordToSpace(v, ' '));
    }

    /// <summary>Parses the file; <paramref name="file"/> names it in errors.</summary>
    public static Llama2cTokenizer Parse(ReadOnlySpan<byte> data, int vocabSize, string file)
    {
        if (vocabSize < 3) throw new ModelLoadException($"{file}: vocabulary size {vocabSize} is too small (needs <unk>, <s>, </s>)");
        if (data.Length < 4) throw new ModelLoadException($"{file}: truncated header (max_token_length)");
        int p = 4;
        var vocab = new string[vocabSize];
        var scores = new float[vocabSize];
        var bytes = new byte[vocabSize][];
        var text = new string[vocabSize];
        var kind = new TokenKind[vocabSize];
        for (int i = 0; i < vocabSize; i++)
        {
            var raw = Entry(data, ref p, i, $" of {vocabSize}", file, out scores[i]);
            vocab[i] = Encoding.Latin1.GetString(raw);
            if (i < 3)
            {
                kind[i] = TokenKind.Special;
                text[i] = Encoding.UTF8.GetString(raw).Trim('\n');
                bytes[i] = Encoding.UTF8.GetBytes(text[i]);
            }
            else if (TryParseBytePiece(vocab[i], out byte b))
            {
                kind[i] = TokenKind.Byte;
                bytes[i] = [b];
                text[i] = ByteText(b);
            }
            else
            {
                bytes[i] = raw.ToArray();
                text[i] = Encoding.UTF8.GetString(raw);
            }
        }
        return new Llama2cTokenizer(vocab, scores, bytes, text, kind);
    }

    /// <summary>How many tokens the file holds (its entries up to the end): a standalone tokenizer's vocabulary size.</summary>
    public static int EntryCount(ReadOnlySpan<byte> data, string file)
    {
        if (data.Length < 4) throw new ModelLoadException($"{file}: truncated header (max_token_length)");
        int p = 4, n = 0;
        while (p < data.Length) Entry(data, ref p, n++, "", file, out _);
        return n;
    }

    /// <summary>Reads token <paramref name="i"/>'s (f32 score, int32 length, bytes) at <paramref name="p"/> and moves past it.</summary>
    static ReadOnlySpan<byte> Entry(ReadOnlySpan<byte> data, ref int p, int i, string ofCount, string file, out float score)
    {
        if (p + 8 > data.Length) throw new ModelLoadException($"{file}: truncated at token {i}{ofCount}");
        score = BinaryPrimitives.ReadSingleLittleEndian(data[p..]);
        int len = BinaryPrimitives.ReadInt32LittleEndian(data[(p + 4)..]);
        p += 8;
        if (len < 0 || len > data.Length - p) throw new ModelLoadException($"{file}: token {i} has bad length {len}");
        var raw = data.Slice(p, len);
        p += len;
        return raw;
    }

    public override int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>(text.Length / 2 + 2);
        if (addBos) ids.Add(BosId);
        if (text.Length == 0) return [.. ids];
        // The dummy prefix is the lookup of " ", the same token the text's own spaces start as.
        byte[] utf8 = Encoding.UTF8.GetBytes(_spaceId >= 0 ? " " + text : text);
        if (!_chunked) { EncodeChunk(utf8, ids); return [.. ids]; }
        // No piece joins a non-space to a following space, so merges never cross the start of a word:
        // words encode independently, and repeated words come from the cache.
        var keys = new char[utf8.Length];   // the bytes as Latin-1 chars
        Encoding.Latin1.GetChars(utf8, keys);
        int start = 0;
        for (int i = 1; i <= utf8.Length; i++)
        {
            if (i < utf8.Length && !(utf8[i] == ' ' && utf8[i - 1] != ' ')) continue;
            var key = keys.AsSpan(start, i - start);
            if (_cache.TryGet(key, out var cached)) ids.AddRange(cached);
            else
            {
                var w = new List<int>();
                EncodeChunk(utf8.AsSpan(start, i - start), w);
                _cache.Add(key, w);
                ids.AddRange(w);
            }
            start = i;
        }
        return [.. ids];
    }

    /// <summary>run.c's encode of one stretch of UTF-8: a lookup per codepoint (byte fallback +3), then merges.</summary>
    void EncodeChunk(ReadOnlySpan<byte> utf8, List<int> ids)
    {
        int first = ids.Count;
        Span<char> cp = stackalloc char[4];
        for (int i = 0; i < utf8.Length;)
        {
            int n = 1;   // a lead byte and up to three continuation bytes
            while (i + n < utf8.Length && n < 4 && (utf8[i + n] & 0xC0) == 0x80) n++;
            int len = Encoding.Latin1.GetChars(utf8.Slice(i, n), cp);
            if (_lookup.TryGetValue(cp[..len], out int id)) ids.Add(id);
            else for (int k = 0; k < n; k++) ids.Add(utf8[i + k] + 3);
            i += n;
        }
        if (ids.Count - first < 2) return;

        // Work text = the pieces' strings side by side, so a pair's concatenation is a slice of it.
        var work = new StringBuilder();
        var syms = new BpeSymbol[ids.Count - first];
        for (int k = 0; k < syms.Length; k++)
        {
            string v = _vocab[ids[first + k]];
            syms[k] = new BpeSymbol { Start = work.Length, Len = v.Length, Id = ids[first + k], Prev = k - 1, Next = k + 1 < syms.Length ? k + 1 : -1 };
            work.Append(v);
        }
        BpeEngine.Merge(work.ToString(), syms, new Merges(this));
        ids.RemoveRange(first, ids.Count - first);
        for (int k = 0; k >= 0; k = syms[k].Next) ids.Add(syms[k].Id);
    }

    readonly struct Merges(Llama2cTokenizer t) : IBpeMerges
    {
        public bool TryMerge(ReadOnlySpan<char> text, in BpeSymbol left, in BpeSymbol right, out int id, out float priority)
        {
            // run.c starts its search at best_score = -1e10, so pairs scoring at or below it never merge.
            if (t._lookup.TryGetValue(text.Slice(left.Start, left.Len + right.Len), out id) && t._scores[id] > -1e10f)
            {
                priority = t._scores[id];
                return true;
            }
            priority = 0;
            return false;
        }
    }
}
