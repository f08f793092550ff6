using Quanta.Model;
using Quanta.Tokenization;

namespace Quanta.Tests.Tokenization;

public class StreamingDecoderTests
{
    const string MultiByte = "Crème brûlée à São Paulo: 你好，世界！ 🚀😶‍🌫️ naïve façade 日本語 ÅÄÖ 🇫🇷 ok";

    static List<string> Stream(ITokenizer tok, ReadOnlySpan<int> ids, ReadOnlySpan<int> context = default)
    {
        var d = new StreamingDecoder(tok, context);
        var parts = new List<string>();
        foreach (int id in ids) parts.Add(d.Push(id));
        parts.Add(d.Flush());
        return parts;
    }

    static void AssertWholeCharacters(IEnumerable<string> parts)
    {
        foreach (var p in parts)
        {
            Assert.DoesNotContain('\uFFFD', p);
            if (p.Length == 0) continue;
            Assert.False(char.IsLowSurrogate(p[0]), $"part starts mid-character: {p}");
            Assert.False(char.IsHighSurrogate(p[^1]), $"part ends mid-character: {p}");
        }
    }

    public static TheoryData<string> Tokenizers => ["model", "bin"];

    static ITokenizer Get(string which) => which == "model" ? TokenizerData.Llama2Model : TokenizerData.Llama2cBin;

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void TokenByTokenEqualsWholeDecode(string which)
    {
        var tok = Get(which);
        var ids = tok.Encode(MultiByte, addBos: true);
        Assert.Contains(ids, id => tok.TokenBytes(id).Length == 1 && tok.TokenBytes(id)[0] >= 0x80);   // byte fallback in use
        var parts = Stream(tok, ids);
        AssertWholeCharacters(parts);
        Assert.Equal(tok.Decode(ids), string.Concat(parts));
        Assert.Equal(MultiByte, string.Concat(parts));
        Assert.Contains(parts, p => p.Length == 0);   // some pushes only held bytes back
    }

    [Fact]
    public void ContinuationKeepsItsSpaceAndCompletesAPendingCharacter()
    {
        var tok = TokenizerData.Llama2Model;
        var ids = tok.Encode("Hello 世界 world", addBos: true);
        string whole = tok.Decode(ids);
        for (int k = 1; k < ids.Length; k++)
        {
            var parts = Stream(tok, ids.AsSpan(k), ids.AsSpan(0, k));
            AssertWholeCharacters(parts);
            string head = tok.Decode(ids.AsSpan(0, k));
            string tail = string.Concat(parts);
            if (!head.EndsWith('\uFFFD')) Assert.Equal(whole, head + tail);          // split between characters
            else Assert.EndsWith(tail, whole);                                       // split inside 世 or 界: the tail carries it whole
        }
    }

    [Fact]
    public void StartsAfterBosOrAtTheStart()
    {
        var tok = TokenizerData.Llama2Model;
        Assert.Equal("Hello", string.Concat(Stream(tok, [15043])));
        Assert.Equal("Hello", string.Concat(Stream(tok, [15043], [1])));
        Assert.Equal(" Hello", string.Concat(Stream(tok, [15043], [1, 15043])));
    }

    [Fact]
    public void SpecialsSkippedOrShown()
    {
        var tok = TokenizerData.Llama2Model;
        Assert.Equal("Hello", string.Concat(Stream(tok, [1, 15043, 2])));
        var d = new StreamingDecoder(tok, skipSpecial: false);
        Assert.Equal("<s>Hello</s>", d.Push(1) + d.Push(15043) + d.Push(2) + d.Flush());
    }

    [Fact]
    public void UnfinishedCharacterFlushesLikeDecode()
    {
        var tok = TokenizerData.Llama2Model;
        int[] ids = [1, 15043, 231, 187, 31, 3186];   // "Hello", <0xE4><0xB8> (two of 中's three bytes), <0x1C>, "▁world"
        var parts = Stream(tok, ids);
        Assert.Equal(tok.Decode(ids), string.Concat(parts));
        Assert.Equal("", parts[2]);
        Assert.Contains('\uFFFD', parts[4]);
        int[] open = [1, 15043, 231, 187];
        var partsOpen = Stream(tok, open);
        Assert.Equal("", partsOpen[^2]);
        Assert.Equal(tok.Decode(open), string.Concat(partsOpen));
        Assert.Equal("\uFFFD", partsOpen[^1]);
    }

    [Fact]
    public void PendingLengthCountsWhatFlushWouldGiveWithoutChangingTheStream()
    {
        var tok = TokenizerData.Llama2Model;
        int[] ids = [1, 15043, 231, 187, 176, 3186];   // "Hello", <0xE4><0xB8><0xAD> (中), "▁world"
        var d = new StreamingDecoder(tok);
        var text = "";
        var pending = new List<int>();
        foreach (int id in ids)
        {
            text += d.Push(id);
            pending.Add(d.PendingLength);
            pending.Add(d.PendingLength);
        }
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0], pending);
        Assert.Equal(tok.Decode(ids), text + d.Flush());
    }
}
