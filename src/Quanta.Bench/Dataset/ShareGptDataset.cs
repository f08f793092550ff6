using System.Text.Json;

namespace Quanta.Bench.Dataset;

/// <summary>A prompt and, when the file has one, the reply whose token count sets the output length.</summary>
public sealed record ShareGptEntry(string Prompt, string? Reply);

/// <summary>The sampled requests, and how many examined prompts were skipped as too long, cut, or had their output lowered.</summary>
public sealed record ShareGptSample(List<BenchPrompt> Prompts, int TooLong, int OutputsLowered, int PromptsCut = 0);

/// <summary>
/// Reads ShareGPT files and samples them as vLLM's benchmark does: shuffle with the seed, drop prompts
/// or replies under 4 tokens, prompts over 1024 tokens and prompt + output over 2048.
/// </summary>
public static class ShareGptDataset
{
    public const int MinLen = 4, MaxPromptLen = 1024, MaxTotalLen = 2048;

    /// <summary>
    /// Parses the standard format (<c>[{"conversations": [{"from": "human", "value"}, {"from": "gpt", ...}]}]</c>:
    /// first human turn = prompt, the turn after it = reply) or the sample format (<c>[{"prompt", "response"}]</c>).
    /// </summary>
    /// <exception cref="InvalidDataException">the file is not JSON or not one of these shapes (message names the file).</exception>
    public static List<ShareGptEntry> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset {path}: file not found", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"dataset {path}: not valid JSON ({e.Message})"); }
        using (doc) return Parse(doc.RootElement, path);
    }

    internal static List<ShareGptEntry> Parse(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"dataset {path}: expected a JSON array of conversations, found {root.ValueKind}");
        var list = new List<ShareGptEntry>();
        int i = 0;
        foreach (var item in root.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"dataset {path}: entry {i} is {item.ValueKind}, expected an object");
            var entry = FromConversations(item) ?? FromPromptField(item);
            if (entry is null && !item.TryGetProperty("conversations", out _) && !item.TryGetProperty("prompt", out _))
                throw new InvalidDataException($"dataset {path}: entry {i} has neither \"conversations\" (array) nor \"prompt\" (string)");
            if (entry is not null) list.Add(entry);
            i++;
        }
        if (list.Count == 0) throw new InvalidDataException($"dataset {path}: no entry with a human prompt");
        return list;
    }

    static ShareGptEntry? FromConversations(JsonElement item)
    {
        if (!item.TryGetProperty("conversations", out var conv) || conv.ValueKind != JsonValueKind.Array) return null;
        var turns = conv.EnumerateArray().ToList();
        for (int t = 0; t < turns.Count; t++)
        {
            if (Str(turns[t], "from") is not ("human" or "user")) continue;
            var prompt = Str(turns[t], "value");
            if (prompt is null) return null;
            var reply = t + 1 < turns.Count ? Str(turns[t + 1], "value") : null;
            return new ShareGptEntry(prompt, reply);
        }
        return null;
    }

    static ShareGptEntry? FromPromptField(JsonElement item)
    {
        var prompt = Str(item, "prompt");
        return prompt is null ? null : new ShareGptEntry(prompt, Str(item, "response"));
    }

    static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>
    /// Samples up to <paramref name="count"/> requests. With <paramref name="fixedOutputLen"/> every request
    /// generates that many tokens and the reply is ignored; without it the reply's token count is used.
    /// </summary>
    /// <param name="maxPromptLen">vLLM's 1024, lowered to what the server accepts when it says.</param>
    /// <param name="maxTotalLen">vLLM's 2048, likewise.</param>
    /// <param name="fit">instead of skipping what does not fit (vLLM's filter): a prompt over <paramref name="maxPromptLen"/>
    /// is cut at a word boundary to at most <see cref="CutLength"/> tokens, and an output that would pass
    /// <paramref name="maxTotalLen"/> is lowered to what is left.</param>
    public static async Task<ShareGptSample> SampleAsync(IReadOnlyList<ShareGptEntry> entries, int count, int seed,
        int? fixedOutputLen, ITokenCounter counter, CancellationToken ct, int maxPromptLen = MaxPromptLen, int maxTotalLen = MaxTotalLen,
        bool fit = false)
    {
        if (count <= 0) throw new ArgumentException($"--num-prompts must be positive, not {count}");
        if (fixedOutputLen is null && entries.All(e => e.Reply is null))
            throw new ArgumentException("the dataset has prompts only (no replies): pass --output-len (e.g. 128)");
        var order = Enumerable.Range(0, entries.Count).ToArray();
        new Random(seed).Shuffle(order);
        var result = new List<BenchPrompt>(count);
        int tooLong = 0, lowered = 0, cut = 0;
        bool checkOutput = fixedOutputLen is null;
        foreach (int idx in order)
        {
            if (result.Count == count) break;
            var e = entries[idx];
            if (checkOutput && e.Reply is null) continue;
            string prompt = e.Prompt;
            int promptLen = await counter.CountAsync(prompt, addBos: true, ct);
            if (promptLen < MinLen) continue;
            if (promptLen > maxPromptLen)
            {
                if (!fit || await CutAsync(prompt, CutLength(maxPromptLen, maxTotalLen), counter, ct) is not { } shorter) { tooLong++; continue; }
                (prompt, promptLen) = shorter;
                cut++;
            }
            int outputLen = fixedOutputLen ?? await counter.CountAsync(e.Reply!, addBos: false, ct);
            if (checkOutput && outputLen < MinLen) continue;
            if ((long)promptLen + outputLen > maxTotalLen)
            {
                int left = maxTotalLen - promptLen;
                if (!fit || left < (checkOutput ? MinLen : 1)) { tooLong++; continue; }
                outputLen = left;
                lowered++;
            }
            result.Add(new BenchPrompt(prompt, promptLen, outputLen));
        }
        return new ShareGptSample(result, tooLong, lowered, cut);
    }

    /// <summary>Tokens a cut prompt keeps at most: half the total, so that the reply has room too.</summary>
    public static int CutLength(int maxPromptLen, int maxTotalLen) => Math.Min(maxPromptLen, maxTotalLen / 2);

    /// <summary>The longest prefix of <paramref name="text"/> ending at a word that counts at most <paramref name="max"/> tokens.</summary>
    static async Task<(string Text, int Tokens)?> CutAsync(string text, int max, ITokenCounter counter, CancellationToken ct)
    {
        var ends = new List<int>();   // word ends: a character that is not whitespace followed by one that is
        for (int i = 1; i < text.Length; i++)
            if (char.IsWhiteSpace(text[i]) && !char.IsWhiteSpace(text[i - 1])) ends.Add(i);
        (string, int)? best = null;
        int lo = 0, hi = ends.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            string prefix = text[..ends[mid]];
            int n = await counter.CountAsync(prefix, addBos: true, ct);
            if (n > max) { hi = mid - 1; continue; }
            if (n >= MinLen) best = (prefix, n);
            lo = mid + 1;
        }
        return best;
    }

    /// <summary>vLLM's filter: prompt (and, unless fixed, output) at least 4 tokens, prompt ≤ 1024, total ≤ 2048.</summary>
    public static bool IsValid(int promptLen, int outputLen, bool checkOutput, int maxPromptLen = MaxPromptLen, int maxTotalLen = MaxTotalLen) =>
        promptLen >= MinLen && (!checkOutput || outputLen >= MinLen)
        && promptLen <= maxPromptLen && promptLen + outputLen <= maxTotalLen;
}
