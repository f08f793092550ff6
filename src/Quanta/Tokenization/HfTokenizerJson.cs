using System.Text.Json;
using System.Text.RegularExpressions;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>What a Hugging Face <c>tokenizer.json</c> (model BPE) asks of the encoder.</summary>
internal sealed class HfBpeSpec
{
    public required Dictionary<string, int> Vocab { get; init; }
    public required List<(string Left, string Right)> Merges { get; init; }   // in rank order
    public required List<(string Content, int Id)> Added { get; init; }
    public bool ByteLevel { get; init; }
    public Regex? Split { get; init; }                 // byte-level pre-tokenizer pattern (Isolated)
    public bool ByteFallback { get; init; }
    public bool FuseUnk { get; init; }
    public bool IgnoreMerges { get; init; }
    public string? UnkToken { get; init; }
    public string Prepend { get; init; } = "";         // normalizer Prepend: on every segment
    public bool ReplaceSpace { get; init; }            // ' ' -> U+2581 (Replace normalizer or Metaspace)
    public string MetaspacePrepend { get; init; } = "never";   // always | first | never
    public bool MetaspaceSplit { get; init; }
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
}

/// <summary>Reads <c>tokenizer.json</c>: BPE with the U+2581 convention (Llama-2, Mistral) or byte-level BPE (Llama-3).</summary>
internal static class HfTokenizerJson
{
    // GPT-2's pre-tokenizer pattern, used by ByteLevel with use_regex.
    const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static ITokenizer Load(string path, string configPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            using var config = File.Exists(configPath) ? JsonDocument.Parse(File.ReadAllBytes(configPath)) : null;
            return HfBpeTokenizer.Create(Parse(doc.RootElement, config?.RootElement, path), path);
        }
        catch (JsonException e) { throw new ModelLoadException($"{path}: invalid JSON: {e.Message}"); }
        catch (InvalidOperationException e) { throw new ModelLoadException($"{path}: unexpected JSON shape: {e.Message}"); }
        catch (KeyNotFoundException e) { throw new ModelLoadException($"{path}: missing field: {e.Message}"); }
    }

    static HfBpeSpec Parse(JsonElement root, JsonElement? config, string path)
    {
        ModelLoadException Unsupported(string what) => new($"{path}: unsupported tokenizer.json: {what}");
        var model = root.GetProperty("model");
        string type = Str(model, "type") ?? "BPE";
        if (type != "BPE") throw Unsupported($"model type '{type}' (only BPE)");
        if (!string.IsNullOrEmpty(Str(model, "continuing_subword_prefix")) || !string.IsNullOrEmpty(Str(model, "end_of_word_suffix")))
            throw Unsupported("continuing_subword_prefix / end_of_word_suffix");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();
        var merges = new List<(string, string)>();
        if (model.TryGetProperty("merges", out var ms))
            foreach (var m in ms.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.Array) { merges.Add((m[0].GetString()!, m[1].GetString()!)); continue; }
                string s = m.GetString()!;
                int sp = s.IndexOf(' ', 1);
                if (sp < 0) throw new ModelLoadException($"{path}: merge '{s}' is not two tokens");
                merges.Add((s[..sp], s[(sp + 1)..]));
            }
        var added = new List<(string, int)>();
        if (root.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (var a in at.EnumerateArray()) added.Add((a.GetProperty("content").GetString()!, a.GetProperty("id").GetInt32()));

        var norms = Components(root, "normalizer", "normalizers").ToList();
        var pres = Components(root, "pre_tokenizer", "pretokenizers").ToList();
        bool byteLevel = pres.Any(p => Str(p, "type") == "ByteLevel");
        string prepend = "", metaPrepend = "never";
        bool replaceSpace = false, metaSplit = false;
        Regex? split = null;
        foreach (var n in norms)
        {
            switch (Str(n, "type"))
            {
                case "Prepend": prepend = Str(n, "prepend") ?? ""; break;
                case "Replace" when n.GetProperty("pattern").TryGetProperty("String", out var pat) && pat.GetString() == " "
                                     && Str(n, "content") == "\u2581": replaceSpace = true; break;
                default: throw Unsupported($"normalizer {Describe(n)}");
            }
        }
        foreach (var p in pres)
        {
            switch (Str(p, "type"))
            {
                case "Metaspace" when !byteLevel:
                    if ((Str(p, "replacement") ?? "\u2581") != "\u2581") throw Unsupported("Metaspace replacement other than U+2581");
                    replaceSpace = true;
                    metaPrepend = Str(p, "prepend_scheme")
                                  ?? (p.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False ? "never" : "always");
                    metaSplit = !p.TryGetProperty("split", out var spl) || spl.ValueKind != JsonValueKind.False;
                    break;
                case "ByteLevel":
                    if (p.TryGetProperty("add_prefix_space", out var bp) && bp.ValueKind == JsonValueKind.True)
                        throw Unsupported("ByteLevel add_prefix_space");
                    if (!p.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False)
                    {
                        if (split is not null) throw Unsupported("Split followed by ByteLevel use_regex");
                        split = new Regex(Gpt2Pattern, RegexOptions.CultureInvariant);
                    }
                    break;
                case "Split" when byteLevel && Str(p, "behavior") == "Isolated" && !(p.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True)
                                  && p.GetProperty("pattern").TryGetProperty("Regex", out var rx):
                    split = new Regex(rx.GetString()!, RegexOptions.CultureInvariant);
                    break;
                default: throw Unsupported($"pre_tokenizer {Describe(p)}");
            }
        }
        if (byteLevel && (prepend != "" || replaceSpace)) throw Unsupported("ByteLevel combined with U+2581 normalizers");
        if (!byteLevel && !replaceSpace) throw Unsupported("BPE with neither a ByteLevel pre-tokenizer nor the U+2581 space convention");

        return new HfBpeSpec
        {
            Vocab = vocab, Merges = merges, Added = added, ByteLevel = byteLevel, Split = split,
            ByteFallback = Bool(model, "byte_fallback"), FuseUnk = Bool(model, "fuse_unk"), IgnoreMerges = Bool(model, "ignore_merges"),
            UnkToken = Str(model, "unk_token"), Prepend = prepend, ReplaceSpace = replaceSpace,
            MetaspacePrepend = metaPrepend, MetaspaceSplit = metaSplit,
            BosToken = ConfigToken(config, "bos_token"), EosToken = ConfigToken(config, "eos_token"),
        };
    }

    /// <summary>The element itself, or the members of a Sequence.</summary>
    static IEnumerable<JsonElement> Components(JsonElement root, string name, string listName)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.Object) yield break;
        if (Str(e, "type") == "Sequence" && e.TryGetProperty(listName, out var list))
            foreach (var x in list.EnumerateArray()) yield return x;
        else yield return e;
    }

    static string Describe(JsonElement e) => Str(e, "type") ?? e.GetRawText();

    static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>tokenizer_config.json's bos_token / eos_token: a string or {"content": ...}.</summary>
    static string? ConfigToken(JsonElement? config, string name)
    {
        if (config is not { } c || c.ValueKind != JsonValueKind.Object || !c.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object => Str(v, "content"),
            _ => null,
        };
    }
}
