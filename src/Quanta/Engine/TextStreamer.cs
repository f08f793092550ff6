using System.Runtime.InteropServices;
using System.Text;
using Quanta.IO;

namespace Quanta.Engine;

/// <summary>
/// Incremental detokenization of one sequence (TGI's decode_token with prefix/read offsets): a delta is
/// released only when it does not end in an incomplete UTF-8 character. Also watches for stop sequences.
/// </summary>
public sealed class TextStreamer
{
    const int PrefixWindow = 5;
    readonly ITokenizer _tokenizer;
    readonly IReadOnlyList<string> _stops;
    readonly int _maxStop;
    readonly StringBuilder _text = new();
    int _prefixOffset, _readOffset;

    /// <summary>Index in <see cref="Text"/> where a stop sequence starts, or -1.</summary>
    public int StopAt { get; private set; } = -1;
    /// <summary>All text released so far (stop sequence included).</summary>
    public string Text => _text.ToString();

    public TextStreamer(ITokenizer tokenizer, int promptLength, IReadOnlyList<string> stops)
    {
        _tokenizer = tokenizer;
        _stops = stops;
        foreach (var s in stops) _maxStop = Math.Max(_maxStop, s.Length);
        _prefixOffset = Math.Max(0, promptLength - PrefixWindow);
        _readOffset = promptLength;
    }

    /// <summary>Text added by the newest token of <paramref name="tokens"/> (prompt + generated); "" while a character is incomplete.</summary>
    public string Next(List<int> tokens)
    {
        var ids = CollectionsMarshal.AsSpan(tokens);
        string prefix = _tokenizer.Decode(ids[_prefixOffset.._readOffset]);
        string full = _tokenizer.Decode(ids[_prefixOffset..]);
        if (full.Length <= prefix.Length || full.EndsWith('\uFFFD')) return "";
        string delta = full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : full;
        _prefixOffset = _readOffset;
        _readOffset = ids.Length;
        Append(delta);
        return delta;
    }

    /// <summary>Releases whatever is still held back (an incomplete character at the end).</summary>
    public string Flush(List<int> tokens)
    {
        var ids = CollectionsMarshal.AsSpan(tokens);
        if (_readOffset >= ids.Length) return "";
        string prefix = _tokenizer.Decode(ids[_prefixOffset.._readOffset]);
        string full = _tokenizer.Decode(ids[_prefixOffset..]);
        _prefixOffset = _readOffset = ids.Length;
        if (full.Length <= prefix.Length) return "";
        string delta = full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : full;
        Append(delta);
        return delta;
    }

    /// <summary>The generated text, cut before the first stop sequence.</summary>
    public string GeneratedText => StopAt >= 0 ? _text.ToString(0, StopAt) : _text.ToString();

    void Append(string delta)
    {
        int from = Math.Max(0, _text.Length - _maxStop + 1);
        _text.Append(delta);
        if (_stops.Count == 0 || StopAt >= 0) return;
        string window = _text.ToString(from, _text.Length - from);
        int best = -1;
        foreach (var stop in _stops)
        {
            if (stop.Length == 0) continue;
            int i = window.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        if (best >= 0) StopAt = from + best;
    }
}
