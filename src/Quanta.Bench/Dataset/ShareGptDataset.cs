using System.Text.Json;

namespace Quanta.Bench.Dataset;

/// <summary>A prompt and, when the file has one, the reply whose token count sets the output length.</summary>
public sealed record ShareGptEntry(string Prompt, string? Reply);

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
    public static async Task<List<BenchPrompt>> SampleAsync(IReadOnlyList<ShareGptEntry> entries, int count, int seed,
        int? fixedOutputLen, ITokenCounter counter, CancellationToken ct, int maxPromptLen = MaxPromptLen, int maxTotalLen = MaxTotalLen)
    {
        if (count <= 0) throw new ArgumentException($"--num-prompts must be positive, not {count}");
        if (fixedOutputLen is null && entries.All(e => e.Reply is null))
            throw new ArgumentException("the dataset has prompts only (no replies): pass --output-len");
        var order = Enumerable.Range(0, entries.Count).ToArray();
        new Random(seed).Shuffle(order);
        var result = new List<BenchPrompt>(count);
        foreach (int idx in order)
        {
            if (result.Count == count) break;
            var e = entries[idx];
            if (fixedOutputLen is null && e.Reply is null) continue;
            int promptLen = await counter.CountAsync(e.Prompt, addBos: true, ct);
            int outputLen = fixedOutputLen ?? await counter.CountAsync(e.Reply!, addBos: false, ct);
            if (IsValid(promptLen, outputLen, fixedOutputLen is null, maxPromptLen, maxTotalLen))
                result.Add(new BenchPrompt(e.Prompt, promptLen, outputLen));
        }
        return result;
    }

    /// <summary>vLLM's filter: prompt (and, unless fixed, output) at least 4 tokens, prompt ≤ 1024, total ≤ 2048.</summary>
    public static bool IsValid(int promptLen, int outputLen, bool checkOutput, int maxPromptLen = MaxPromptLen, int maxTotalLen = MaxTotalLen) =>
        promptLen >= MinLen && (!checkOutput || outputLen >= MinLen)
        && promptLen <= maxPromptLen && promptLen + outputLen <= maxTotalLen;
}
