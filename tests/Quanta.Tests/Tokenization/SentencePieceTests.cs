using Quanta.Tokenization;
using Quanta.Model;

namespace Quanta.Tests.Tokenization;

public class SentencePieceTests
{
    [Theory]
    [MemberData(nameof(TokenizerData.VectorIndices), MemberType = typeof(TokenizerData))]
    public void LlamaCppVector(int index)
    {
        var (text, expected) = TokenizerData.Vector(index);
        Assert.Equal(expected, TokenizerData.Llama2Model.Encode(text, addBos: false));
    }

    [Theory]
    [MemberData(nameof(TokenizerData.VectorIndices), MemberType = typeof(TokenizerData))]
    public void LlamaCppVectorDecodesBack(int index)
    {
        var (text, expected) = TokenizerData.Vector(index);
        var tok = TokenizerData.Llama2Model;
        // SentencePiece drops exactly the dummy-prefix space; the rest of the text comes back unchanged.
        Assert.Equal(text, tok.Decode(tok.Encode(text, addBos: true)));
        Assert.Equal(text, tok.Decode(expected));
    }

    [Fact]
    public void FixtureInputIdsWithBos()
    {
        foreach (var fixture in TokenizerData.Fixtures)
        {
            var tok = TokenizerFactory.FromModelDirectory(TestPaths.Fixture(fixture));
            foreach (var (prompt, ids) in TokenizerData.FixtureCases(fixture))
                Assert.Equal(ids, tok.Encode(prompt, addBos: true));
        }
    }

    [Fact]
    public void SpecialsAndTokenText()
    {
        var tok = TokenizerData.Llama2Model;
        Assert.Equal((32000, 1, 2), (tok.VocabSize, tok.BosId, tok.EosId));
        Assert.True(tok.IsSpecial(0) && tok.IsSpecial(1) && tok.IsSpecial(2));
        Assert.False(tok.IsSpecial(13) || tok.IsSpecial(15043));
        Assert.Equal("<s>", tok.TokenText(1));
        Assert.Equal(" Hello", tok.TokenText(15043));           // ▁Hello
        Assert.Equal("\n", tok.TokenText(13));                   // <0x0A>
        Assert.Equal("\uFFFD", tok.TokenText(243));              // <0xF0>: not ASCII
        Assert.Equal([(byte)0xF0], tok.TokenBytes(243).ToArray());
        Assert.Equal("<s></s>", System.Text.Encoding.UTF8.GetString(tok.TokenBytes(1)) + tok.TokenText(2));
    }

    [Fact]
    public void DecodeSkipsOrShowsSpecials()
    {
        var tok = TokenizerData.Llama2Model;
        int[] ids = [1, 15043, 3186, 2];
        Assert.Equal("Hello world", tok.Decode(ids));
        Assert.Equal("<s>Hello world</s>", tok.Decode(ids, skipSpecial: false));
        Assert.Equal("world world", tok.Decode([3186, 3186]));   // the dummy-prefix space goes only once
    }

    [Fact]
    public void ConcurrentEncodingAgrees()
    {
        var tok = TokenizerFactory.FromSentencePieceFile(Path.Combine(TokenizerData.Llama2Dir, "tokenizer.model"));
        var results = new int[TokenizerData.VectorCount * 8][];
        Parallel.For(0, results.Length, i => results[i] = tok.Encode(TokenizerData.Vector(i % TokenizerData.VectorCount).Text, addBos: false));
        for (int i = 0; i < results.Length; i++) Assert.Equal(TokenizerData.Vector(i % TokenizerData.VectorCount).Ids, results[i]);
    }

    [Fact]
    public void TextThatLooksSpecialIsPlainText()
    {
        var tok = TokenizerData.Llama2Model;
        var ids = tok.Encode("<s>", addBos: false);
        Assert.DoesNotContain(1, ids);
        Assert.Equal("<s>", tok.Decode(ids));
    }

    [Fact]
    public void BadFilesNameTheFile()
    {
        var dir = Directory.CreateTempSubdirectory("quanta-tok").FullName;
        try
        {
            var missing = Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromModelDirectory(dir));
            Assert.Contains(dir, missing.Message);
            var bytes = File.ReadAllBytes(Path.Combine(TokenizerData.Llama2Dir, "tokenizer.model"));
            var path = Path.Combine(dir, "tokenizer.model");
            File.WriteAllBytes(path, bytes[..1000]);
            var truncated = Assert.Throws<ModelLoadException>(() => TokenizerFactory.FromModelDirectory(dir));
            Assert.Contains("tokenizer.model", truncated.Message);
            Assert.Contains("truncated", truncated.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
