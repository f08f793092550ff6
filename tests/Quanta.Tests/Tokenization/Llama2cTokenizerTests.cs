using System.Text.Json;
using Quanta.Tokenization;
using Quanta.Model;

namespace Quanta.Tests.Tokenization;

public class Llama2cTokenizerTests
{
    static IEnumerable<(string Prompt, string Text)> StoriesCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestPaths.SharedPath("models", "stories260K", "expected-greedy.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("prompt").GetString()!, c.GetProperty("text").GetString()!)).ToArray();
    }

    [Theory]
    [MemberData(nameof(TokenizerData.VectorIndices), MemberType = typeof(TokenizerData))]
    public void Llama2BinMatchesTokenizerModel(int index)
    {
        var (text, expected) = TokenizerData.Vector(index);
        Assert.Equal(expected, TokenizerData.Llama2cBin.Encode(text, addBos: false));
    }

    [Fact]
    public void Tok512Layout()
    {
        var tok = TokenizerData.Tok512;
        Assert.Equal((512, 1, 2), (tok.VocabSize, tok.BosId, tok.EosId));
        Assert.Equal("<s>", tok.TokenText(1));
        Assert.Equal("</s>", tok.TokenText(2));
        Assert.True(tok.IsSpecial(0) && tok.IsSpecial(1) && tok.IsSpecial(2) && !tok.IsSpecial(3));
        Assert.Equal([(byte)'\n'], tok.TokenBytes(3 + '\n').ToArray());   // <0x0A>
        Assert.Equal(" the", tok.TokenText(265));
    }

    [Fact]
    public void StoriesPromptsRoundTrip()
    {
        var tok = TokenizerData.Tok512;
        foreach (var (prompt, text) in StoriesCases())
        {
            var ids = tok.Encode(prompt, addBos: true);
            Assert.Equal(1, ids[0]);
            Assert.Equal(prompt, tok.Decode(ids));
            var all = tok.Encode(text, addBos: true);
            Assert.Equal(text, tok.Decode(all));
            Assert.True(all.Length < text.Length, "merges should shorten the text");
        }
    }

    [Fact]
    public void EncodesLikeRunC()
    {
        var tok = TokenizerData.Tok512;
        // run.c: dummy " " for non-empty text only, byte fallback at byte + 3 for characters not in the vocabulary.
        Assert.Empty(tok.Encode("", addBos: false));
        Assert.Equal([1], tok.Encode("", addBos: true));
        Assert.Equal([410, 485], tok.Encode("\u00e9", addBos: false));   // " ", "é": a piece of its own
        var ids = tok.Encode("\u4e2d", addBos: false);                    // 中 is not one of the 512 pieces
        Assert.Equal([410, 0xE4 + 3, 0xB8 + 3, 0xAD + 3], ids);
        Assert.Equal("\u4e2d", tok.Decode([1, .. ids]));
    }

    [Fact]
    public void DecodeStripsSpaceAfterBosOnly()
    {
        var tok = TokenizerData.Tok512;
        var ids = tok.Encode("The cat", addBos: false);
        Assert.Equal("The cat", tok.Decode([1, .. ids]));
        Assert.Equal("The cat The cat", tok.Decode([1, .. ids, .. ids]));
        Assert.Equal("The cat</s>", tok.Decode([1, .. ids, 2], skipSpecial: false)[3..]);
    }

    [Fact]
    public void TruncatedFileNamesTheFile()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, File.ReadAllBytes(TestPaths.SharedPath("models", "stories260K", "tok512.bin"))[..3000]);
            var e = Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromLlama2cFile(path, 512));
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StandaloneFileTakesEveryEntryAsAToken()
    {
        var path = TestPaths.SharedPath("models", "stories260K", "tok512.bin");
        var whole = TokenizerFactory.FromLlama2cFile(path);
        Assert.Equal(512, whole.VocabSize);
        Assert.Same(TokenizerData.Tok512, whole);                                   // the same cached tokenizer
        Assert.Equal(32000, TokenizerFactory.FromLlama2cFile(Path.Combine(TokenizerData.Llama2Dir, "tokenizer.bin")).VocabSize);

        var bad = Path.GetTempFileName();
        try
        {
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(bad, bytes[..3000]);
            var e = Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromLlama2cFile(bad));
            Assert.Contains(bad, e.Message);
            Assert.Contains("truncated", e.Message);
            bytes[8] = 0xFF; bytes[9] = 0xFF; bytes[10] = 0xFF; bytes[11] = 0x7F;      // token 0's length: int.MaxValue
            File.WriteAllBytes(bad, bytes);
            Assert.Contains("token 0 has bad length", Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromLlama2cFile(bad)).Message);
        }
        finally { File.Delete(bad); }
    }
}
