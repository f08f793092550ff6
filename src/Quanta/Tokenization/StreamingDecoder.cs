using System.Text;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>
/// Turns a stream of token ids into text as it grows, the same text <see cref="ITokenizer.Decode"/> gives for
/// the whole sequence: the bytes of a character spread over several byte-fallback tokens are held until the
/// character is complete (no U+FFFD mid-character), and the dummy-prefix space is dropped only where
/// Decode drops it (the first piece of a sequence, or the piece right after BOS).
/// </summary>
public sealed class StreamingDecoder
{
    readonly ITokenizer _tok;
    readonly bool _skipSpecial;
    readonly Decoder _utf8 = Encoding.UTF8.GetDecoder();
    char[] _chars = new char[32];
    bool _atStart = true;

    /// <summary>
    /// Starts after <paramref name="context"/>, the ids already shown (e.g. the prompt, BOS included):
    /// empty or ending in BOS means the next piece starts the text and loses its leading space;
    /// a continuation of a prompt keeps it.
    /// </summary>
    public StreamingDecoder(ITokenizer tokenizer, ReadOnlySpan<int> context = default, bool skipSpecial = true)
    {
        _tok = tokenizer;
        _skipSpecial = skipSpecial;
        // Run the context through the same state, so a character it leaves incomplete completes here.
        foreach (int id in context) Chars(PieceTokenizer.DecodePiece(_tok, id, _skipSpecial, ref _atStart), flush: false);
    }

    /// <summary>Adds one token; returns the text it completes (often empty while a character is pending).</summary>
    public string Push(int id) => Convert(PieceTokenizer.DecodePiece(_tok, id, _skipSpecial, ref _atStart), flush: false);

    /// <summary>Ends the stream: bytes of an unfinished character come out as U+FFFD, as Decode gives them.</summary>
    public string Flush() => Convert(default, flush: true);

    /// <summary>
    /// How many characters <see cref="Flush"/> would give now (U+FFFD for a character still incomplete, else 0);
    /// the stream's state is unchanged.
    /// </summary>
    public int PendingLength => _utf8.GetCharCount(default, flush: true);

    string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int n = Chars(bytes, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }

    /// <summary>Decodes into <c>_chars</c>; a partial character stays in the decoder.</summary>
    int Chars(ReadOnlySpan<byte> bytes, bool flush)
    {
        int need = _utf8.GetCharCount(bytes, flush);
        if (need > _chars.Length) _chars = new char[Math.Max(need, _chars.Length * 2)];
        return _utf8.GetChars(bytes, _chars, flush);
    }
}
