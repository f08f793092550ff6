using System.Text;
using System.Text.Json;
using Quanta.Tokenization;
using Quanta.Model;

namespace Quanta.Tests.Tokenization;

/// <summary>The tests' generated tokenizer folders, removed after the class has run.</summary>
public sealed class HfJsonFolders : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("quanta-tok-json").FullName;
    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public class HfTokenizerJsonTests(HfJsonFolders folders) : IClassFixture<HfJsonFolders>
{
    const string LegacyNormalizer = """{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}""";
    const string MetaspacePre = """{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}""";

    static readonly Lazy<(string Vocab, string Merges)> Llama2Json = new(BuildFromTokenizerModel);

    /// <summary>vocab + merges from tokenizer.model's pieces, ordered as transformers' SentencePieceExtractor orders them.</summary>
    static (string, string) BuildFromTokenizerModel()
    {
        var path = Path.Combine(TokenizerData.Llama2Dir, "tokenizer.model");
        var m = SentencePieceModel.Parse(File.ReadAllBytes(path), path);
        var vocab = new Dictionary<string, int>();
        for (int i = 0; i < m.Pieces.Length; i++) vocab.TryAdd(m.Pieces[i], i);
        var merges = new List<(string L, string R, float Score)>();
        for (int i = 0; i < m.Pieces.Length; i++)
        {
            string p = m.Pieces[i];
            var local = new List<(string, string, float)>();
            for (int k = 1; k < p.Length; k++)
                if (vocab.ContainsKey(p[..k]) && vocab.ContainsKey(p[k..])) local.Add((p[..k], p[k..], m.Scores[i]));
            merges.AddRange(local.OrderBy(x => vocab[x.Item1]).ThenBy(x => vocab[x.Item2]));
        }
        var ordered = merges.OrderByDescending(x => x.Score).Select(x => new[] { x.L, x.R });
        return (JsonSerializer.Serialize(vocab), JsonSerializer.Serialize(ordered));
    }

    string WriteFolder(string name, string normalizer, string preTokenizer, string vocab, string merges,
                              string added, string model = "", string? config = null)
    {
        var dir = Path.Combine(folders.Root, name);
        Directory.CreateDirectory(dir);
        string json = "{\"version\":\"1.0\",\"added_tokens\":[" + added + "],\"normalizer\":" + normalizer
            + ",\"pre_tokenizer\":" + preTokenizer
            + ",\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"continuing_subword_prefix\":null,"
            + "\"end_of_word_suffix\":null,\"fuse_unk\":true,\"byte_fallback\":true" + model
            + ",\"vocab\":" + vocab + ",\"merges\":" + merges + "}}";
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        if (config is not null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config);
        return dir;
    }

    const string Llama2Added = """{"id":0,"content":"<unk>","special":true},{"id":1,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true}""";

    // Written once per class instance folder: rewriting the file would change its time stamp and defeat the factory's cache.
    ITokenizer Legacy()
    {
        var dir = Path.Combine(folders.Root, "legacy");
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
            WriteFolder("legacy", LegacyNormalizer, "null", Llama2Json.Value.Vocab, Llama2Json.Value.Merges, Llama2Added);
        return TokenizerFactory.FromModelDirectory(dir);
    }

    [Theory]
    [MemberData(nameof(TokenizerData.VectorIndices), MemberType = typeof(TokenizerData))]
    public void GeneratedJsonMatchesTokenizerModel(int index)
    {
        var (text, expected) = TokenizerData.Vector(index);
        var tok = Legacy();
        Assert.Equal(expected, tok.Encode(text, addBos: false));
        Assert.Equal(text, tok.Decode(expected));
    }

    [Fact]
    public void WikitextAgreesAcrossAllThreeFormats()
    {
        // tokenizer.model and tokenizer.bin encode word by word (cached); tokenizer.json merges the whole text at once.
        var text = File.ReadAllText(TestPaths.SharedPath("datasets", "wikitext2", "wikitext2-test.txt"))[..30000];
        var ids = TokenizerData.Llama2Model.Encode(text, addBos: true);
        Assert.Equal(ids, Legacy().Encode(text, addBos: true));
        Assert.Equal(ids, TokenizerData.Llama2cBin.Encode(text, addBos: true));
        Assert.Equal(text, TokenizerData.Llama2Model.Decode(ids));
    }

    [Fact]
    public void AddedTokensAreSpecialAndSplitOut()
    {
        var tok = Legacy();
        Assert.Equal((32000, 1, 2), (tok.VocabSize, tok.BosId, tok.EosId));
        Assert.Equal([1, 1, 15043, 2], tok.Encode("<s>Hello</s>", addBos: true));
        Assert.True(tok.IsSpecial(1) && tok.IsSpecial(2) && tok.IsSpecial(0) && !tok.IsSpecial(15043));
        Assert.Equal("Hello", tok.Decode([1, 15043, 2]));
        Assert.Equal("<s>Hello</s>", tok.Decode([1, 15043, 2], skipSpecial: false));
        Assert.Equal(" Hello", tok.TokenText(15043));
    }

    [Fact]
    public void MetaspaceVariantAgreesWhereNoLeadingSpace()
    {
        var (vocab, merges) = Llama2Json.Value;
        var tok = TokenizerFactory.FromModelDirectory(WriteFolder("metaspace", "null", MetaspacePre, vocab, merges, Llama2Added));
        int checkedCount = 0;
        for (int i = 0; i < TokenizerData.VectorCount; i++)
        {
            var (text, expected) = TokenizerData.Vector(i);
            if (text.Length == 0 || char.IsWhiteSpace(text[0])) continue;
            Assert.Equal(expected, tok.Encode(text, addBos: false));
            checkedCount++;
        }
        Assert.True(checkedCount > 20);
    }

    [Fact]
    public void MetaspaceSplitAndNoPrefix()
    {
        var (vocab, merges) = Llama2Json.Value;
        const string split = """{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}""";
        var tok = TokenizerFactory.FromModelDirectory(WriteFolder("metaspace-split", "null", split, vocab, merges, Llama2Added));
        Assert.Equal([15043, 29871, 3186], tok.Encode("Hello  world", addBos: false));   // ▁Hello ▁ ▁world: words never merge
        Assert.Equal("Hello  world", tok.Decode([15043, 29871, 3186]));
        const string never = """{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false}""";
        var raw = TokenizerFactory.FromModelDirectory(WriteFolder("metaspace-never", "null", never, vocab, merges, Llama2Added));
        Assert.Equal(" Hello", raw.Decode(raw.Encode(" Hello", addBos: true)));          // no prefix added, none taken away
        Assert.Equal([1, 15043], raw.Encode(" Hello", addBos: true));                     // the space itself becomes ▁Hello
    }

    // A byte-level vocabulary: the 256 byte symbols, then "he", "Ġt", "Ġthe"; specials after.
    ITokenizer ByteLevel()
    {
        var vocab = new Dictionary<string, int>();
        string chars = ByteLevelMapChars();
        for (int b = 0; b < 256; b++) vocab[chars[b].ToString()] = b;
        vocab["he"] = 256; vocab["Ġt"] = 257; vocab["Ġthe"] = 258;
        const string merges = """["h e","Ġ t","Ġt he"]""";
        const string pre = """{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}""";
        const string added = """{"id":300,"content":"<|begin_of_text|>","special":true},{"id":301,"content":"<|end_of_text|>","special":true}""";
        return TokenizerFactory.FromModelDirectory(WriteFolder("bytelevel", "null", pre, JsonSerializer.Serialize(vocab), merges, added,
            model: ",\"ignore_merges\":true", config: """{"bos_token":"<|begin_of_text|>","eos_token":{"content":"<|end_of_text|>"}}"""));
    }

    static string ByteLevelMapChars()
    {
        var sb = new StringBuilder();
        int next = 256;
        for (int b = 0; b < 256; b++)
            sb.Append((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE) ? (char)b : (char)next++);
        return sb.ToString();
    }

    [Fact]
    public void ByteLevelBpe()
    {
        var tok = ByteLevel();
        Assert.Equal((302, 300, 301), (tok.VocabSize, tok.BosId, tok.EosId));
        // "the" -> t, he; " the" -> Ġthe; "\n" is byte 10; é is two bytes.
        Assert.Equal([300, 't', 256, 258, 10, 0xC3, 0xA9, 301], tok.Encode("the the\né<|end_of_text|>", addBos: true));
        Assert.Equal(" the", tok.TokenText(258));
        Assert.Equal(" the the", tok.Decode([258, 258]));    // no dummy prefix: the leading space stays
        const string text = "Grüße, 世界 🚀!\n  x";
        var ids = tok.Encode(text, addBos: true);
        Assert.Equal(text, tok.Decode(ids));
        var d = new StreamingDecoder(tok, [300]);
        Assert.Equal(text, string.Concat(ids.Skip(1).Select(d.Push)) + d.Flush());
    }

    [Theory]
    [InlineData("""{"type":"NFKC"}""", "null", "normalizer NFKC")]
    [InlineData("null", """{"type":"Whitespace"}""", "pre_tokenizer Whitespace")]
    [InlineData("null", "null", "BPE with neither a ByteLevel pre-tokenizer nor")]
    public void UnsupportedPartsAreNamed(string normalizer, string pre, string what)
    {
        var dir = WriteFolder("bad-" + what.Split(' ')[^1], normalizer, pre, """{"<unk>":0,"a":1}""", "[]", "");
        var e = Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromModelDirectory(dir));
        Assert.Contains("tokenizer.json: unsupported tokenizer.json: " + what, e.Message);
    }

    [Fact]
    public void UnigramIsUnsupported()
    {
        var dir = Path.Combine(folders.Root, "unigram");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """{"model":{"type":"Unigram","vocab":[["a",0.0]]}}""");
        var e = Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromModelDirectory(dir));
        Assert.Contains("unsupported tokenizer.json: model type 'Unigram'", e.Message);
    }
}
