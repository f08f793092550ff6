using System.Text;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>
/// SentencePiece BPE (<c>tokenizer.model</c>) encoded exactly as sentencepiece does: identity normalisation
/// (spaces to U+2581, dummy prefix), highest-scoring adjacent pair merged first (leftmost on ties),
/// characters that are not pieces through &lt;0xXX&gt; byte-fallback pieces.
/// </summary>
internal sealed class SentencePieceTokenizer : PieceTokenizer
{
    const char Space = '\u2581';

    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _pieces; // normal, user-defined and unused pieces
    readonly float[] _scores;      // [vocab]
    readonly PieceType[] _types;   // [vocab]
    readonly int[] _byteIds;       // [256] id of <0xXX>, -1 when absent
    readonly string[] _userDefined; // longest first; matched whole and never merged
    readonly SentencePieceModel _m;
    readonly bool _hasUnused;
    readonly char _ws;             // the whitespace symbol: U+2581, or ' ' without escaping
    readonly bool _chunked;        // words can be encoded one by one (see Encode)
    readonly WordCache _cache = new();

    SentencePieceTokenizer(SentencePieceModel m, byte[][] bytes, string[] text, TokenKind[] kind, int[] byteIds,
                           Dictionary<string, int> pieces, string[] userDefined)
        : base(bytes, text, kind, m.BosId, m.EosId)
    {
        _m = m;
        _scores = m.Scores;
        _types = m.Types;
        _byteIds = byteIds;
        _pieces = pieces.GetAlternateLookup<ReadOnlySpan<char>>();
        _userDefined = userDefined;
        _hasUnused = Array.IndexOf(m.Types, PieceType.Unused) >= 0;
        _ws = m.EscapeWhitespaces ? Space : ' ';
        _chunked = pieces.ContainsKey(_ws.ToString()) && !pieces.Keys.Any(p => JoinsWordToSpace(p, _ws));
    }

    /// <summary>Builds the tokenizer; <paramref name="file"/> names the source in errors.</summary>
    public static SentencePieceTokenizer Create(SentencePieceModel m, string file)
    {
        if (m.ModelType != 2)
            throw new ModelLoadException($"{file}: unsupported SentencePiece model type {ModelTypeName(m.ModelType)} (only BPE)");
        if (m.HasCharsMap)
            throw new ModelLoadException($"{file}: unsupported SentencePiece normalizer '{m.NormalizerName}' (precompiled charsmap); only identity");
        int n = m.Pieces.Length;
        var bytes = new byte[n][];
        var text = new string[n];
        var kind = new TokenKind[n];
        var byteIds = new int[256];
        Array.Fill(byteIds, -1);
        var pieces = new Dictionary<string, int>(n, StringComparer.Ordinal);
        var userDefined = new List<string>();
        for (int i = 0; i < n; i++)
        {
            string p = m.Pieces[i];
            switch (m.Types[i])
            {
                case PieceType.Control or PieceType.Unknown:
                    kind[i] = TokenKind.Special;
                    text[i] = p;
                    bytes[i] = Encoding.UTF8.GetBytes(p);
                    continue;
                case PieceType.Byte:
                    if (!TryParseBytePiece(p, out byte b))
                        throw new ModelLoadException($"{file}: byte piece {i} is '{p}', expected <0xXX>");
                    kind[i] = TokenKind.Byte;
                    byteIds[b] = i;
                    text[i] = ByteText(b);
                    bytes[i] = [b];
                    continue;
                case PieceType.UserDefined:
                    userDefined.Add(p);
                    break;
            }
            kind[i] = TokenKind.Normal;
            text[i] = p.Replace(Space, ' ');
            bytes[i] = Encoding.UTF8.GetBytes(text[i]);
            pieces.TryAdd(p, i);
        }
        userDefined.Sort((a, b) => b.Length.CompareTo(a.Length));
        return new SentencePieceTokenizer(m, bytes, text, kind, byteIds, pieces, [.. userDefined]);
    }

    static string ModelTypeName(int t) => t switch { 1 => "unigram", 2 => "bpe", 3 => "word", 4 => "char", _ => t.ToString() };

    public override int[] Encode(string text, bool addBos)
    {
        string norm = Normalize(text);
        var ids = new List<int>(norm.Length / 3 + 2);
        if (addBos) ids.Add(BosId);
        if (!_chunked) { EncodeChunk(norm, ids); return [.. ids]; }
        // No piece joins a non-space character to a following space, so merges never cross the start of a
        // word ("x▁" boundaries): words encode independently, and repeated words come from the cache.
        int start = 0;
        for (int i = 1; i <= norm.Length; i++)
        {
            if (i < norm.Length && !(norm[i] == _ws && norm[i - 1] != _ws)) continue;
            var word = norm.AsSpan(start, i - start);
            if (_cache.TryGet(word, out var cached)) ids.AddRange(cached);
            else
            {
                var w = new List<int>();
                EncodeChunk(word.ToString(), w);
                _cache.Add(word, w);
                ids.AddRange(w);
            }
            start = i;
        }
        return [.. ids];
    }

    void EncodeChunk(string norm, List<int> ids)
    {
        var syms = Split(norm);
        var history = _hasUnused ? new Dictionary<(int, int), int>() : null;
        BpeEngine.Merge(norm, syms, new Merges(this), history);
        bool prevUnk = false;
        for (int i = 0; i >= 0 && syms.Length > 0; i = syms[i].Next)
        {
            ref var s = ref syms[i];
            if (s.Id >= 0) { Resegment(norm, s.Start, s.Len, s.Id, history, ids); prevUnk = false; continue; }
            if (_m.ByteFallback && AppendBytes(norm.AsSpan(s.Start, s.Len), ids)) { prevUnk = false; continue; }
            if (!prevUnk) ids.Add(_m.UnkId);   // sentencepiece folds a run of unknowns into one <unk>
            prevUnk = true;
        }
    }

    /// <summary>An unused piece is split back into the two symbols that formed it (sentencepiece's rev_merge).</summary>
    void Resegment(string norm, int start, int len, int id, Dictionary<(int, int), int>? history, List<int> ids)
    {
        if (_types[id] != PieceType.Unused || history is null || !history.TryGetValue((start, len), out int leftLen))
        {
            ids.Add(id);
            return;
        }
        foreach (var (s, l) in new[] { (start, leftLen), (start + leftLen, len - leftLen) })
        {
            if (_pieces.TryGetValue(norm.AsSpan(s, l), out int sub)) Resegment(norm, s, l, sub, history, ids);
            else if (!(_m.ByteFallback && AppendBytes(norm.AsSpan(s, l), ids))) ids.Add(_m.UnkId);
        }
    }

    bool AppendBytes(ReadOnlySpan<char> s, List<int> ids)
    {
        Span<byte> buf = s.Length <= 64 ? stackalloc byte[s.Length * 3] : new byte[s.Length * 3];
        int n = Encoding.UTF8.GetBytes(s, buf);
        foreach (byte b in buf[..n]) if (_byteIds[b] < 0) return false;
        foreach (byte b in buf[..n]) ids.Add(_byteIds[b]);
        return true;
    }

    string Normalize(string text)
    {
        ReadOnlySpan<char> s = text;
        if (_m.RemoveExtraWhitespaces) s = s.Trim(' ');
        if (s.IsEmpty) return "";
        char sp = _m.EscapeWhitespaces ? Space : ' ';
        var sb = new StringBuilder(s.Length + 1);
        if (_m.AddDummyPrefix) sb.Append(sp);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != ' ') { sb.Append(s[i]); continue; }
            if (_m.RemoveExtraWhitespaces && i > 0 && s[i - 1] == ' ') continue;
            sb.Append(sp);
        }
        return sb.ToString();
    }

    /// <summary>One symbol per character (surrogate pairs kept whole), user-defined pieces matched first.</summary>
    BpeSymbol[] Split(string norm)
    {
        var list = new List<BpeSymbol>(norm.Length);
        for (int i = 0; i < norm.Length;)
        {
            int len = char.IsHighSurrogate(norm[i]) && i + 1 < norm.Length && char.IsLowSurrogate(norm[i + 1]) ? 2 : 1;
            bool frozen = false;
            foreach (var u in _userDefined)
                if (norm.AsSpan(i).StartsWith(u, StringComparison.Ordinal)) { len = u.Length; frozen = true; break; }
            int id = _pieces.TryGetValue(norm.AsSpan(i, len), out int v) ? v : -1;
            list.Add(new BpeSymbol { Start = i, Len = len, Id = id, Prev = list.Count - 1, Next = -1, Frozen = frozen });
            i += len;
        }
        var syms = list.ToArray();
        for (int k = 0; k + 1 < syms.Length; k++) syms[k].Next = k + 1;
        return syms;
    }

    readonly struct Merges(SentencePieceTokenizer t) : IBpeMerges
    {
        public bool TryMerge(ReadOnlySpan<char> text, in BpeSymbol left, in BpeSymbol right, out int id, out float priority)
        {
            if (t._pieces.TryGetValue(text.Slice(left.Start, left.Len + right.Len), out id))
            {
                priority = t._scores[id];
                return true;
            }
            priority = 0;
            return false;
        }
    }
}
