using Quanta.Model;

namespace Quanta.Grammar;

/// <summary>
/// A tokenizer's vocabulary as the bytes each token adds to the output (SentencePiece's '▁' as a space, byte-fallback
/// tokens as their byte), in a trie laid out in preorder so that a walk can skip a whole subtree when its prefix dies.
/// Special tokens and empty tokens are left out; the end-of-sequence ids are kept apart.
/// </summary>
public sealed class TokenVocabulary
{
    /// <summary>Width of a logits row (ids at or above the tokenizer's vocabulary never enter the trie).</summary>
    public int Size { get; }
    public IReadOnlyList<int> EosIds { get; }
    /// <summary>Mask words per row: ceil(Size / 32).</summary>
    public int MaskWords => (Size + 31) / 32;

    readonly byte[]?[] _bytes;     // [Size] bytes of each token, null where left out
    // The trie, one entry per node in preorder:
    internal readonly byte[] Label;    // [nodes] the byte on the edge into the node
    internal readonly int[] Depth;     // [nodes] 1 for children of the root
    internal readonly int[] Skip;      // [nodes] index of the first node after the subtree
    internal readonly int[] TokenStart; // [nodes + 1] tokens ending at node n: Tokens[TokenStart[n]..TokenStart[n + 1]]
    internal readonly int[] Tokens;    // [tokens in the trie]
    public int MaxDepth { get; }

    public TokenVocabulary(ITokenizer tokenizer, int size, IEnumerable<int> eosIds)
    {
        Size = size;
        EosIds = eosIds.Where(id => (uint)id < (uint)size).Distinct().Order().ToArray();
        _bytes = new byte[]?[size];
        var eos = new HashSet<int>(EosIds);
        var entries = new List<(byte[] Bytes, int Id)>();
        for (int id = 0; id < Math.Min(size, tokenizer.VocabSize); id++)
        {
            if (eos.Contains(id) || tokenizer.IsSpecial(id)) continue;
            var b = tokenizer.TokenBytes(id);
            if (b.IsEmpty) continue;
            _bytes[id] = b.ToArray();
            entries.Add((_bytes[id]!, id));
        }
        entries.Sort((x, y) => x.Bytes.AsSpan().SequenceCompareTo(y.Bytes) is var c && c != 0 ? c : x.Id.CompareTo(y.Id));

        var label = new List<byte>();
        var depth = new List<int>();
        var skip = new List<int>();
        var tokenStart = new List<int>();
        var tokens = new List<int>();
        var path = new List<int>();   // nodes on the path to the last token's node
        byte[] prev = [];
        foreach (var (bytes, id) in entries)
        {
            int lcp = 0;
            while (lcp < prev.Length && lcp < bytes.Length && prev[lcp] == bytes[lcp]) lcp++;
            while (path.Count > lcp) { skip[path[^1]] = label.Count; path.RemoveAt(path.Count - 1); }
            for (int k = lcp; k < bytes.Length; k++)
            {
                path.Add(label.Count);
                label.Add(bytes[k]);
                depth.Add(k + 1);
                skip.Add(0);
                tokenStart.Add(tokens.Count);
            }
            tokens.Add(id);   // tokens of one node arrive together: a string sorts right before its extensions
            prev = bytes;
            MaxDepth = Math.Max(MaxDepth, bytes.Length);
        }
        while (path.Count > 0) { skip[path[^1]] = label.Count; path.RemoveAt(path.Count - 1); }
        tokenStart.Add(tokens.Count);
        Label = [.. label];
        Depth = [.. depth];
        Skip = [.. skip];
        TokenStart = [.. tokenStart];
        Tokens = [.. tokens];
    }

    public int NodeCount => Label.Length;

    /// <summary>The bytes <paramref name="id"/> adds to the output; empty for EOS, specials and ids out of range.</summary>
    public ReadOnlySpan<byte> Bytes(int id) => (uint)id < (uint)Size ? _bytes[id] : default;

    public bool IsEos(int id) => Array.BinarySearch((int[])EosIds, id) >= 0;
}
