using System.Text;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>How a token decodes.</summary>
internal enum TokenKind : byte { Normal, Byte, Special }

/// <summary>
/// Decoding shared by every Llama-style tokenizer: a table of the bytes each id stands for, byte-fallback
/// pieces joined before UTF-8 decoding, and SentencePiece's dummy-prefix rule (the first piece of a
/// sequence, or the piece right after BOS, loses its leading space).
/// </summary>
internal abstract class PieceTokenizer : ITokenizer
{
    readonly byte[][] _bytes;     // [vocab] UTF-8 bytes each token stands for
    readonly string[] _text;      // [vocab] TGI token.text
    readonly TokenKind[] _kind;   // [vocab]

    protected PieceTokenizer(byte[][] bytes, string[] text, TokenKind[] kind, int bos, int eos, bool dummyPrefix = true)
    {
        _bytes = bytes; _text = text; _kind = kind;
        BosId = bos; EosId = eos;
        DummyPrefix = dummyPrefix;
    }

    /// <summary>Encoding adds a leading space that decoding takes away again (SentencePiece style).</summary>
    internal bool DummyPrefix { get; }

    public int VocabSize => _bytes.Length;
    public int BosId { get; }
    public int EosId { get; }

    public abstract int[] Encode(string text, bool addBos);

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = true)
    {
        var buf = new List<byte>(ids.Length * 4);
        bool atStart = true;
        foreach (int id in ids) buf.AddRange(DecodePiece(this, id, skipSpecial, ref atStart));
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(buf));
    }

    public ReadOnlySpan<byte> TokenBytes(int id) => InRange(id) ? _bytes[id] : default;
    public string TokenText(int id) => InRange(id) ? _text[id] : "";
    public bool IsSpecial(int id) => InRange(id) && _kind[id] == TokenKind.Special;
    internal TokenKind Kind(int id) => InRange(id) ? _kind[id] : TokenKind.Normal;

    bool InRange(int id) => (uint)id < (uint)_bytes.Length;

    /// <summary>
    /// The bytes <paramref name="id"/> adds to a decoded sequence. <paramref name="atStart"/> is true at the
    /// start of a sequence and after BOS; the next normal piece then drops one leading space.
    /// </summary>
    internal static ReadOnlySpan<byte> DecodePiece(ITokenizer t, int id, bool skipSpecial, ref bool atStart)
    {
        if (t.IsSpecial(id))
        {
            if (id == t.BosId) atStart = true;
            return skipSpecial ? default : t.TokenBytes(id);
        }
        var b = t.TokenBytes(id);
        bool strippable = t is not PieceTokenizer p || (p.DummyPrefix && p.Kind(id) != TokenKind.Byte);
        bool strip = atStart && strippable && b.Length > 0 && b[0] == (byte)' ';
        atStart = false;
        return strip ? b[1..] : b;
    }

    /// <summary>Whether the piece has a whitespace symbol right after another character (a merge across a word start).</summary>
    protected static bool JoinsWordToSpace(string piece, char ws)
    {
        for (int i = 1; i < piece.Length; i++)
            if (piece[i] == ws && piece[i - 1] != ws) return true;
        return false;
    }

    /// <summary>TGI's token text of a byte piece: the character when ASCII, else U+FFFD.</summary>
    protected static string ByteText(byte b) => b < 0x80 ? ((char)b).ToString() : "\uFFFD";

    /// <summary>Parses "&lt;0xXX&gt;" (exactly two hex digits).</summary>
    protected static bool TryParseBytePiece(ReadOnlySpan<char> piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x") && piece[5] == '>'
               && byte.TryParse(piece.Slice(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }
}
