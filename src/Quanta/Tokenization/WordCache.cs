using System.Collections.Concurrent;

namespace Quanta.Tokenization;

/// <summary>Thread-safe, bounded cache of encoded words (short keys only; stops growing when full).</summary>
internal sealed class WordCache
{
    const int MaxEntries = 100_000, MaxKeyLength = 64;
    readonly ConcurrentDictionary<string, int[]> _map = new(StringComparer.Ordinal);   // word -> ids
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    int _count;

    public WordCache() => _lookup = _map.GetAlternateLookup<ReadOnlySpan<char>>();

    public bool TryGet(ReadOnlySpan<char> word, out int[] ids) => _lookup.TryGetValue(word, out ids!);

    public void Add(ReadOnlySpan<char> word, List<int> ids)
    {
        if (word.Length > MaxKeyLength || Volatile.Read(ref _count) >= MaxEntries) return;
        if (_map.TryAdd(word.ToString(), [.. ids])) Interlocked.Increment(ref _count);
    }
}
