using Quanta.Engine;

namespace Quanta.Tests.Engine;

public class TextStreamerTests
{
    [Fact]
    public void MultiByteCharacterIsReleasedWhenComplete()
    {
        var s = new TextStreamer(new FakeTokenizer(), [1, 3], []);   // after "<s>a"
        string Add(int id) => s.Next(id);
        Assert.Equal("b", Add(4));
        Assert.Equal("", Add(31));                     // first byte of é
        Assert.Equal("é", Add(32));
        Assert.Equal(" ", Add(29));
        Assert.Equal("", Add(2));                      // EOS adds no text
        Assert.Equal("bé ", s.GeneratedText);
    }

    [Fact]
    public void StopSequenceSpanningTokensIsFoundAndCut()
    {
        var s = new TextStreamer(new FakeTokenizer(), [1], ["cd"]);
        foreach (int id in new[] { 3, 4, 5 }) s.Next(id);
        Assert.Equal(-1, s.StopAt);
        s.Next(6);
        Assert.Equal(2, s.StopAt);
        Assert.Equal("ab", s.GeneratedText);
    }

    [Theory]
    [InlineData("ab😀😀c😀xyz tail", new[] { "😀x", "yz" }, 7)]          // the stop found first
    [InlineData("no stop here 😀 at all 😀", new[] { "zz" }, 23)]       // 25 less 1 would split the last 😀
    [InlineData("plain 😀 text", new string[0], 13)]
    [InlineData("stop at the very end", new[] { "nd", "the very" }, 8)]
    public void SafeLengthHoldsBackWhatAStopCanStillClaim(string generated, string[] stops, int expectedFinal)
    {
        var tok = new Quanta.Tests.Server.ByteTokenizer();
        var s = new TextStreamer(tok, [1], stops);
        int holdBack = Math.Max(0, stops.Select(x => x.Length).DefaultIfEmpty(0).Max() - 1);
        int last = 0;
        foreach (int id in tok.Encode(generated, addBos: false))
        {
            s.Next(id);
            string text = s.Text;
            // Reference: the rule `quanta generate` used to apply itself.
            int safe = text.Length - holdBack;
            foreach (var stop in stops)
                if (text.IndexOf(stop, StringComparison.Ordinal) is var at and >= 0) safe = Math.Min(safe, at);
            if (safe > 0 && char.IsHighSurrogate(text[safe - 1])) safe--;
            Assert.Equal(Math.Max(0, safe), s.SafeLength);
            Assert.True(s.SafeLength >= last);
            last = s.SafeLength;
            if (s.StopAt >= 0) break;
        }
        Assert.Equal(expectedFinal, s.SafeLength);
    }
}
