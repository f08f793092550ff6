using Quanta.Model;
using Quanta.Server.Api;
using Quanta.Tests.Tokenization;

namespace Quanta.Tests.Server;

/// <summary>/tokenize's one-pass offsets equal those of decoding every prefix of the ids.</summary>
public class TokenizeOffsetsTests
{
    const string MultiByte = "Crème brûlée à São Paulo: 你好，世界！ 🚀😶‍🌫️ naïve façade 日本語 ÅÄÖ 🇫🇷 ok \u0001 tab\tend";

    static string LongInput(string prefix) => prefix + string.Concat(Enumerable.Repeat(MultiByte, 20));

    /// <summary>The former quadratic /tokenize: each token ends where the decode of the ids up to it ends.</summary>
    static List<(int Id, string Text, int Start, int Stop)> PerPrefix(ITokenizer tok, string inputs)
    {
        var ids = tok.Encode(inputs, addBos: true);
        var list = new List<(int, string, int, int)>();
        int start = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            int stop = Math.Clamp(tok.Decode(ids.AsSpan(0, i + 1)).Length, start, inputs.Length);
            if (tok.IsSpecial(ids[i])) stop = start;
            list.Add((ids[i], inputs[start..stop], start, stop));
            start = stop;
        }
        return list;
    }

    static void AssertSame(ITokenizer tok, string inputs)
    {
        var expected = PerPrefix(tok, inputs);
        var actual = TgiEndpoints.Tokenize(tok, inputs).Select(t => (t.Id, t.Text, t.Start, t.Stop)).ToList();
        Assert.True(expected.Count > 100);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Byte_tokenizer_long_multibyte_input() => AssertSame(new ByteTokenizer(), LongInput("x"));

    [Theory]
    [InlineData("model", "")]
    [InlineData("model", "  leading spaces ")]
    [InlineData("bin", "")]
    [InlineData("bin", " 😶")]
    public void Llama2_tokenizers_long_multibyte_input(string which, string prefix)
        => AssertSame(which == "model" ? TokenizerData.Llama2Model : TokenizerData.Llama2cBin, LongInput(prefix));
}
