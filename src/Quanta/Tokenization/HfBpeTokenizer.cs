using System.Buffers;
using System.Text;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>
/// Hugging Face <c>tokenizer.json</c> BPE as the tokenizers library runs it: added tokens split out first (they
/// are special), then per segment the U+2581 normalisation (Prepend/Replace or Metaspace) or the byte-level
/// regex split and byte-to-unicode mapping, then merges by rank (lowest first, leftmost on ties).
/// </summary>
internal sealed class HfBpeTokenizer : PieceTokenizer
{
    readonly HfBpeSpec _s;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocab;
    readonly Dictionary<long, (int Rank, int Id)> _merges;   // (left id, right id) -> rank, merged id
    readonly (string Content, int Id)[] _added;              // longest first
    readonly SearchValues<char> _addedFirst;                 // first characters of the added tokens
    readonly int[] _byteIds;                                 // [256] <0xXX> ids for byte_fallback, -1 when absent
    readonly int _unk;

    HfBpeTokenizer(HfBpeSpec s, byte[][] bytes, string[] text, TokenKind[] kind, int bos, int eos,
                   Dictionary<long, (int, int)> merges, int[] byteIds)
        : base(bytes, text, kind, bos, eos, dummyPrefix: !s.ByteLevel && (s.Prepend.Length > 0 || s.MetaspacePrepend != "never"))
    {
        _s = s;
        _vocab = s.Vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _merges = merges;
        _added = [.. s.Added.Where(a => a.Content.Length > 0).OrderByDescending(a => a.Content.Length)];
        _addedFirst = SearchValues.Create([.. _added.Select(a => a.Content[0]).Distinct()]);
        _byteIds = byteIds;
        _unk = s.UnkToken is { } u && s.Vocab.TryGetValue(u, out int id) ? id : -1;
    }

    public static HfBpeTokenizer Create(HfBpeSpec s, string path)
    {
        int n = Math.Max(s.Vocab.Count == 0 ? 0 : s.Vocab.Values.Max(), s.Added.Count == 0 ? 0 : s.Added.Max(a => a.Id)) + 1;
        var bytes = new byte[n][];
        var text = new string[n];
        var kind = new TokenKind[n];
        Array.Fill(bytes, []);
        Array.Fill(text, "");
        var byteIds = new int[256];
        Array.Fill(byteIds, -1);
        foreach (var (piece, id) in s.Vocab)
        {
            if (id < 0) throw new ModelLoadException($"{path}: token '{piece}' has negative id {id}");
            if (s.ByteLevel) bytes[id] = ByteLevelMap.ToBytes(piece);
            else if (s.ByteFallback && TryParseBytePiece(piece, out byte b))
            {
                kind[id] = TokenKind.Byte;
                byteIds[b] = id;
                bytes[id] = [b];
                text[id] = ByteText(b);
                continue;
            }
            else bytes[id] = Encoding.UTF8.GetBytes(piece.Replace('\u2581', ' '));
            text[id] = Encoding.UTF8.GetString(bytes[id]);
        }
        foreach (var (content, id) in s.Added)
        {
            if (id < 0) throw new ModelLoadException($"{path}: added token '{content}' has negative id {id}");
            kind[id] = TokenKind.Special;
            text[id] = content;
            bytes[id] = Encoding.UTF8.GetBytes(content);
        }
        var merges = new Dictionary<long, (int, int)>(s.Merges.Count);
        for (int r = 0; r < s.Merges.Count; r++)
        {
            var (a, b) = s.Merges[r];
            if (!s.Vocab.TryGetValue(a, out int ia) || !s.Vocab.TryGetValue(b, out int ib) || !s.Vocab.TryGetValue(a + b, out int im))
                throw new ModelLoadException($"{path}: merge {r} '{a} {b}' uses a token that is not in the vocab");
            merges.TryAdd(Key(ia, ib), (r, im));
        }
        int Find(string? configured, string fallback)
        {
            foreach (var name in new[] { configured, fallback })
            {
                if (name is null) continue;
                foreach (var (content, id) in s.Added) if (content == name) return id;
                if (s.Vocab.TryGetValue(name, out int v)) return v;
            }
            return -1;
        }
        int bos = Find(s.BosToken, s.ByteLevel ? "<|begin_of_text|>" : "<s>");
        int eos = Find(s.EosToken, s.ByteLevel ? "<|end_of_text|>" : "</s>");
        return new HfBpeTokenizer(s, bytes, text, kind, bos, eos, merges, byteIds);
    }

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    public override int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>(text.Length / 2 + 2);
        if (addBos && BosId >= 0) ids.Add(BosId);
        int start = 0;
        for (int i = 0; i < text.Length;)
        {
            int next = text.AsSpan(i).IndexOfAny(_addedFirst);
            if (next < 0) break;
            i += next;
            int added = MatchAdded(text, i, out int len);
            if (added < 0) { i++; continue; }
            if (i > start) EncodeSegment(text, start, i - start, ids);
            ids.Add(added);
            i += len;
            start = i;
        }
        if (start < text.Length) EncodeSegment(text, start, text.Length - start, ids);
        return [.. ids];
    }

    int MatchAdded(string text, int i, out int len)
    {
        foreach (var (content, id) in _added)
            if (text.AsSpan(i).StartsWith(content, StringComparison.Ordinal)) { len = content.Length; return id; }
        len = 0;
        return -1;
    }

    void EncodeSegment(string text, int start, int len, List<int> ids)
    {
        string seg = text.Substring(start, len);
        if (_s.ByteLevel)
        {
            if (_s.Split is null) { EncodeWord(ByteLevelMap.ToChars(seg), ids); return; }
            int pos = 0;   // Isolated: both the matches and the text between them are words
            foreach (var m in _s.Split.EnumerateMatches(seg))
            {
                if (m.Index > pos) EncodeWord(ByteLevelMap.ToChars(seg[pos..m.Index]), ids);
                if (m.Length > 0) EncodeWord(ByteLevelMap.ToChars(seg.Substring(m.Index, m.Length)), ids);
                pos = m.Index + m.Length;
            }
            if (pos < seg.Length) EncodeWord(ByteLevelMap.ToChars(seg[pos..]), ids);
            return;
        }
        if (_s.Prepend.Length > 0) seg = _s.Prepend + seg;
        if (_s.ReplaceSpace) seg = seg.Replace(' ', '\u2581');
        if ((_s.MetaspacePrepend == "always" || (_s.MetaspacePrepend == "first" && start == 0)) && !seg.StartsWith('\u2581'))
            seg = "\u2581" + seg;
        if (!_s.MetaspaceSplit) { EncodeWord(seg, ids); return; }
        int w = 0;   // Metaspace split: every U+2581 starts a new word
        for (int i = 1; i <= seg.Length; i++)
            if (i == seg.Length || seg[i] == '\u2581') { EncodeWord(seg[w..i], ids); w = i; }
    }

    void EncodeWord(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (_s.IgnoreMerges && _vocab.TryGetValue(word, out int whole)) { ids.Add(whole); return; }
        var syms = new List<BpeSymbol>(word.Length);
        bool lastUnk = false;
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var ch = word.AsSpan(i, len);
            i += len;
            if (_vocab.TryGetValue(ch, out int id)) { Add(syms, id); lastUnk = false; continue; }
            if (_s.ByteFallback && TryBytes(ch, out var bytes)) { foreach (int b in bytes) Add(syms, b); lastUnk = false; continue; }
            if (_unk < 0) throw new InvalidOperationException($"tokenizer.json: character U+{char.ConvertToUtf32(ch.ToString(), 0):X4} is not in the vocab and there is no unk_token");
            if (!(lastUnk && _s.FuseUnk)) Add(syms, _unk);
            lastUnk = true;
        }
        var arr = syms.ToArray();
        BpeEngine.Merge(word, arr, new Merges(this));
        for (int k = 0; k >= 0; k = arr[k].Next) ids.Add(arr[k].Id);
    }

    static void Add(List<BpeSymbol> syms, int id)
    {
        int k = syms.Count;
        if (k > 0) { var last = syms[k - 1]; last.Next = k; syms[k - 1] = last; }
        syms.Add(new BpeSymbol { Start = k, Len = 1, Id = id, Prev = k - 1, Next = -1 });
    }

    bool TryBytes(ReadOnlySpan<char> ch, out int[] ids)
    {
        Span<byte> buf = stackalloc byte[8];
        int n = Encoding.UTF8.GetBytes(ch, buf);
        ids = new int[n];
        for (int i = 0; i < n; i++)
            if ((ids[i] = _byteIds[buf[i]]) < 0) return false;
        return true;
    }

    readonly struct Merges(HfBpeTokenizer t) : IBpeMerges
    {
        public bool TryMerge(ReadOnlySpan<char> text, in BpeSymbol left, in BpeSymbol right, out int id, out float priority)
        {
            if (t._merges.TryGetValue(Key(left.Id, right.Id), out var m))
            {
                id = m.Id;
                priority = -m.Rank;
                return true;
            }
            id = -1;
            priority = 0;
            return false;
        }
    }
}
