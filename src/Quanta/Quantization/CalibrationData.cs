using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>Calibration and evaluation text: a plain text file or JSONL with a "text" field.</summary>
public static partial class CalibrationData
{
    const int ChunkChars = 8192;

    /// <summary>The dataset's text; JSONL records are joined with blank lines (as GPTQ's wikitext loader does).</summary>
    /// <exception cref="ArgumentException">missing file, unreadable JSONL, or no text.</exception>
    public static string ReadText(string path)
    {
        var (parts, jsonl) = Read(path);
        return jsonl ? string.Join("\n\n", parts) : parts[0];
    }

    /// <summary>
    /// The dataset as documents: JSONL records, or the blocks of a plain text file between blank lines
    /// (e.g. samples generated one by one); empty ones are dropped.
    /// </summary>
    /// <exception cref="ArgumentException">missing file, unreadable JSONL, or no text.</exception>
    public static List<string> ReadDocuments(string path)
    {
        var (parts, jsonl) = Read(path);
        var docs = jsonl ? parts : [.. BlankLine().Split(parts[0].Replace("\r\n", "\n"))];
        return docs.Where(d => !string.IsNullOrWhiteSpace(d)).Select(d => d.Trim('\n')).ToList();
    }

    static (List<string> Parts, bool Jsonl) Read(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"dataset {path}: file not found");
        var parts = new List<string>();
        bool jsonl = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        if (jsonl)
        {
            int lineNo = 0;
            foreach (var line in File.ReadLines(path))
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.ValueKind == JsonValueKind.Object
                        && doc.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
                        parts.Add(t.GetString()!);
                    else throw new ArgumentException($"dataset {path}: line {lineNo} has no string field \"text\"");
                }
                catch (JsonException e) { throw new ArgumentException($"dataset {path}: line {lineNo} is not JSON ({e.Message})"); }
            }
        }
        else parts.Add(File.ReadAllText(path, Encoding.UTF8));
        if (parts.All(string.IsNullOrWhiteSpace)) throw new ArgumentException($"dataset {path}: no text");
        return (parts, jsonl);
    }

    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex BlankLine();

    /// <summary>
    /// Tokenizes <paramref name="text"/> in paragraph-aligned chunks (BOS once, at the start), stopping after
    /// <paramref name="maxTokens"/> tokens when given.
    /// </summary>
    public static int[] Tokenize(ITokenizer tokenizer, string text, bool addBos, int maxTokens = int.MaxValue)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(tokenizer.BosId);
        int pos = 0;
        while (pos < text.Length && ids.Count < maxTokens)
        {
            int end = Math.Min(text.Length, pos + ChunkChars);
            if (end < text.Length)
            {
                int cut = text.LastIndexOf("\n\n", end, end - pos, StringComparison.Ordinal);
                if (cut > pos) end = cut;
            }
            ids.AddRange(tokenizer.Encode(text[pos..end], addBos: false));
            pos = end;
        }
        return ids.Count > maxTokens ? ids.GetRange(0, maxTokens).ToArray() : ids.ToArray();
    }

    /// <summary><paramref name="count"/> random windows of <paramref name="length"/> tokens (seeded, may overlap).</summary>
    public static int[][] RandomWindows(int[] tokens, int count, int length, int seed)
    {
        if (count < 1) throw new ArgumentException("--nsamples must be at least 1");
        if (length < 2) throw new ArgumentException("--seqlen must be at least 2");
        if (tokens.Length < length + 1)
            throw new ArgumentException($"dataset has {tokens.Length} tokens, fewer than --seqlen {length} + 1");
        var rng = new Random(seed);
        var windows = new int[count][];
        for (int i = 0; i < count; i++)
        {
            int start = rng.Next(0, tokens.Length - length);
            windows[i] = tokens.AsSpan(start, length).ToArray();
        }
        return windows;
    }
}
