namespace Quanta.Tokenization;

/// <summary>One symbol of a word being merged: a slice of the normalised text and its token id (-1 = not in vocab).</summary>
internal struct BpeSymbol
{
    public int Start, Len;   // UTF-16 slice of the normalised text
    public int Id;           // token id, -1 when the slice is not a piece
    public int Prev, Next;   // neighbours, -1 at the ends
    public bool Frozen;      // user-defined symbols never merge
}

/// <summary>Decides whether two adjacent symbols merge, into which id, and how urgently.</summary>
internal interface IBpeMerges
{
    /// <summary>True when the pair merges; higher <paramref name="priority"/> merges first, leftmost on ties.</summary>
    bool TryMerge(ReadOnlySpan<char> text, in BpeSymbol left, in BpeSymbol right, out int id, out float priority);
}

/// <summary>
/// BPE merge loop as SentencePiece's bpe_model.cc runs it: repeatedly merge the adjacent pair with the
/// highest priority (leftmost on ties), using a heap and discarding entries made stale by earlier merges.
/// </summary>
internal static class BpeEngine
{
    readonly struct Entry(int left, int right, int leftLen, int rightLen, int id)
    {
        public readonly int Left = left, Right = right, LeftLen = leftLen, RightLen = rightLen, Id = id;
    }

    sealed class PriorityOrder : IComparer<(float Priority, int Left)>
    {
        public static readonly PriorityOrder Instance = new();
        public int Compare((float Priority, int Left) a, (float Priority, int Left) b)
        {
            int c = b.Priority.CompareTo(a.Priority);    // higher priority first
            return c != 0 ? c : a.Left.CompareTo(b.Left); // then leftmost
        }
    }

    /// <summary>
    /// Merges <paramref name="syms"/> in place (a linked list from index 0); dead symbols get Len 0.
    /// <paramref name="history"/>, when given, receives every merge as (start, total length) -> left length.
    /// </summary>
    public static void Merge<T>(ReadOnlySpan<char> text, Span<BpeSymbol> syms, T merges,
                                Dictionary<(int Start, int Len), int>? history = null) where T : IBpeMerges
    {
        if (syms.Length < 2) return;
        var heap = new PriorityQueue<Entry, (float, int)>(syms.Length, PriorityOrder.Instance);
        for (int i = 1; i < syms.Length; i++) TryPush(text, syms, merges, heap, i - 1, i);

        while (heap.TryDequeue(out var e, out _))
        {
            ref var l = ref syms[e.Left];
            ref var r = ref syms[e.Right];
            // Stale: a side was consumed or grew since the entry was pushed (pieces only grow).
            if (l.Len != e.LeftLen || r.Len != e.RightLen || l.Next != e.Right) continue;
            history?.TryAdd((l.Start, l.Len + r.Len), l.Len);
            l.Id = e.Id;
            l.Len += r.Len;
            l.Next = r.Next;
            if (r.Next >= 0) syms[r.Next].Prev = e.Left;
            r.Len = 0;
            r.Prev = r.Next = -1;
            if (l.Prev >= 0) TryPush(text, syms, merges, heap, l.Prev, e.Left);
            if (l.Next >= 0) TryPush(text, syms, merges, heap, e.Left, l.Next);
        }
    }

    static void TryPush<T>(ReadOnlySpan<char> text, Span<BpeSymbol> syms, T merges,
                           PriorityQueue<Entry, (float, int)> heap, int left, int right) where T : IBpeMerges
    {
        ref var l = ref syms[left];
        ref var r = ref syms[right];
        if (l.Frozen || r.Frozen) return;
        if (merges.TryMerge(text, l, r, out int id, out float priority))
            heap.Enqueue(new Entry(left, right, l.Len, r.Len, id), (priority, left));
    }
}
