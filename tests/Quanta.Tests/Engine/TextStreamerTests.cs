using Quanta.Engine;

namespace Quanta.Tests.Engine;

public class TextStreamerTests
{
    [Fact]
    public void MultiByteCharacterIsReleasedWhenComplete()
    {
        var tokens = new List<int> { 1, 3 };           // "<s>a"
        var s = new TextStreamer(new FakeTokenizer(), tokens.Count, []);
        string Add(int id) { tokens.Add(id); return s.Next(tokens); }
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
        var tokens = new List<int> { 1 };
        var s = new TextStreamer(new FakeTokenizer(), 1, ["cd"]);
        foreach (int id in new[] { 3, 4, 5 }) { tokens.Add(id); s.Next(tokens); }
        Assert.Equal(-1, s.StopAt);
        tokens.Add(6);
        s.Next(tokens);
        Assert.Equal(2, s.StopAt);
        Assert.Equal("ab", s.GeneratedText);
    }
}
