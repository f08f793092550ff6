using System.Text;
using Quanta.Model;
using Quanta.Tokenization;

namespace Quanta.Engine;

/// <summary>
/// The text of one sequence as it is generated: UTF-8-complete deltas from the tokenizer's
/// <see cref="StreamingDecoder"/> (started after the prompt), and the position of the first stop sequence.
/// </summary>
public sealed class TextStreamer
{
    readonly StreamingDecoder _decoder;
    readonly IReadOnlyList<string> _stops;
    readonly int _maxStop;
    readonly StringBuilder _text = new();
    char[] _window = [];                // [max stop + delta] tail of _text searched for stop sequences

    /// <summary>Index in <see cref="Text"/> where a stop sequence starts, or -1.</summary>
    public int StopAt { get; private set; } = -1;
    /// <summary>All text released so far (stop sequence included).</summary>
    public string Text => _text.ToString();
    /// <summary>
    /// How much of <see cref="Text"/> no stop sequence can still claim: up to the first stop found, and never the
    /// last longest-stop-minus-one characters (a stop may still complete there), nor half a surrogate pair.
    /// </summary>
    public int SafeLength
    {
        get
        {
            int safe = Math.Max(0, _text.Length - Math.Max(0, _maxStop - 1));
            if (StopAt >= 0) safe = Math.Min(safe, StopAt);
            if (safe > 0 && char.IsHighSurrogate(_text[safe - 1])) safe--;
            return safe;
        }
    }
    /// <summary>What <see cref="SafeLength"/> becomes once the generation has ended: all the text, or up to the stop sequence.</summary>
    public int FinalLength => StopAt >= 0 ? StopAt : _text.Length;
    /// <summary>The text cut before the first stop sequence.</summary>
    public string GeneratedText => StopAt >= 0 ? _text.ToString(0, StopAt) : _text.ToString();

    public TextStreamer(ITokenizer tokenizer, ReadOnlySpan<int> promptIds, IReadOnlyList<string> stops)
    {
        _decoder = new StreamingDecoder(tokenizer, promptIds);
        _stops = stops;
        foreach (var s in stops) _maxStop = Math.Max(_maxStop, s.Length);
    }

    /// <summary>Text added by a generated token; "" while a character is incomplete (or for a special token).</summary>
    public string Next(int id) => Append(_decoder.Push(id));

    /// <summary>Releases what is still held back (an unfinished character comes out as U+FFFD).</summary>
    public string Flush() => Append(_decoder.Flush());

    string Append(string delta)
    {
        if (delta.Length == 0) return delta;
        int from = Math.Max(0, _text.Length - _maxStop + 1);
        _text.Append(delta);
        if (_stops.Count == 0 || StopAt >= 0) return delta;
        int length = _text.Length - from;
        if (_window.Length < length) _window = new char[Math.Max(length, _window.Length * 2)];
        _text.CopyTo(from, _window, length);
        var window = _window.AsSpan(0, length);
        int best = -1;
        foreach (var stop in _stops)
        {
            if (stop.Length == 0) continue;
            int i = window.IndexOf(stop.AsSpan());
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        if (best >= 0) StopAt = from + best;
        return delta;
    }
}
