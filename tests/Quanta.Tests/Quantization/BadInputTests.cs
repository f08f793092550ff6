using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

public class BadInputTests
{
    [Fact]
    public void AlreadyQuantizedModelIsRejected()
    {
        using var m = QuantTestModels.Open(TestPaths.Fixture("tiny-llama-gptq-g128"));
        var e = Assert.Throws<ArgumentException>(() => QuantLayout.Check(m, new QuantSpec(), _ => { }));
        Assert.Contains("already quantized", e.Message);
    }

    [Theory]
    [InlineData(48, "does not divide hidden_size")]
    [InlineData(0, "--group-size 0")]
    [InlineData(-2, "--group-size -2")]
    public void GroupSizeThatCannotWorkIsRejected(int group, string message)
    {
        using var m = QuantTestModels.Open(TestPaths.Fixture("tiny-llama-f16"));
        var e = Assert.Throws<ArgumentException>(() => QuantLayout.Check(m, new QuantSpec(4, group), _ => { }));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MissingEmptyOrMalformedDatasetIsRejected()
    {
        var dir = Directory.CreateTempSubdirectory("quanta-ds").FullName;
        try
        {
            Assert.Contains("file not found", Assert.Throws<ArgumentException>(() => CalibrationData.ReadText(Path.Combine(dir, "nope.txt"))).Message);
            File.WriteAllText(Path.Combine(dir, "empty.txt"), " \n\n ");
            Assert.Contains("no text", Assert.Throws<ArgumentException>(() => CalibrationData.ReadText(Path.Combine(dir, "empty.txt"))).Message);
            File.WriteAllText(Path.Combine(dir, "bad.jsonl"), "{\"text\": \"a\"}\n{\"body\": \"b\"}\n");
            Assert.Contains("line 2", Assert.Throws<ArgumentException>(() => CalibrationData.ReadText(Path.Combine(dir, "bad.jsonl"))).Message);
            File.WriteAllText(Path.Combine(dir, "ok.jsonl"), "{\"text\": \"one\"}\n\n{\"text\": \"two\"}\n");
            Assert.Equal("one\n\ntwo", CalibrationData.ReadText(Path.Combine(dir, "ok.jsonl")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WindowsAreSeededAndInsideTheText()
    {
        var tokens = Enumerable.Range(0, 1000).ToArray();
        var a = CalibrationData.RandomWindows(tokens, 16, 100, 5);
        var b = CalibrationData.RandomWindows(tokens, 16, 100, 5);
        Assert.Equal(a, b);
        Assert.NotEqual(a, CalibrationData.RandomWindows(tokens, 16, 100, 6));
        Assert.All(a, w => { Assert.Equal(100, w.Length); Assert.Equal(Enumerable.Range(w[0], 100), w); Assert.InRange(w[0], 0, 900); });
        Assert.Contains("fewer than --seqlen", Assert.Throws<ArgumentException>(() => CalibrationData.RandomWindows(tokens, 1, 1000, 0)).Message);
    }
}
