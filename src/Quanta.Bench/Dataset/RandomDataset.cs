namespace Quanta.Bench.Dataset;

/// <summary>
/// <c>--dataset random</c>: prompts of random common words cut to exactly <c>inputLen</c> tokens (or the
/// longest prefix not over it), each asking for <c>outputLen</c> tokens. Seeded, so runs repeat.
/// </summary>
public static class RandomDataset
{
    static readonly string[] Words =
    [
        "the", "time", "little", "girl", "boy", "dog", "cat", "park", "happy", "sun", "tree", "house", "water",
        "friend", "play", "run", "big", "red", "blue", "green", "ball", "day", "night", "mother", "father",
        "school", "book", "story", "bird", "flower", "garden", "cake", "toy", "car", "road", "river", "sky",
        "small", "kind", "brave", "quick", "slow", "warm", "cold", "light", "dark", "song", "game", "door",
    ];

    public static async Task<List<BenchPrompt>> CreateAsync(int count, int inputLen, int outputLen, int seed,
        ITokenCounter counter, CancellationToken ct)
    {
        if (count <= 0) throw new ArgumentException($"--num-prompts must be positive, not {count}");
        if (inputLen < 1) throw new ArgumentException($"--input-len must be at least 1 for --dataset random, not {inputLen}");
        if (outputLen < 1) throw new ArgumentException($"--output-len must be at least 1 for --dataset random, not {outputLen}");
        var rng = new Random(seed);
        var list = new List<BenchPrompt>(count);
        for (int i = 0; i < count; i++)
        {
            // Each word is at least one token, so inputLen words always reach the target.
            var words = new string[inputLen];
            for (int w = 0; w < inputLen; w++) words[w] = Words[rng.Next(Words.Length)];
            var (text, len) = await LongestPrefixAsync(words, inputLen, counter, ct);
            list.Add(new BenchPrompt(text, len, outputLen));
        }
        return list;
    }

    /// <summary>Binary search for the most words whose token count (with BOS) is at most <paramref name="target"/>.</summary>
    static async Task<(string Text, int Len)> LongestPrefixAsync(string[] words, int target, ITokenCounter counter, CancellationToken ct)
    {
        int lo = 1, hi = words.Length;
        string best = words[0];
        int bestLen = await counter.CountAsync(best, true, ct);
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            var text = string.Join(' ', words, 0, mid);
            int len = await counter.CountAsync(text, true, ct);
            if (len <= target) { lo = mid; best = text; bestLen = len; }
            else hi = mid - 1;
        }
        return (best, bestLen);
    }
}
