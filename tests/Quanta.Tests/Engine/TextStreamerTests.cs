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
}
