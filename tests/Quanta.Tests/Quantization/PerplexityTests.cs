using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

public class PerplexityTests
{
    [Theory]
    [InlineData(8, 4)]
    [InlineData(8, 8)]
    [InlineData(32, 5)]
    public void SlidingWindowEqualsPerTokenPrefixComputation(int ctx, int stride)
    {
        using var m = QuantTestModels.Open(TestPaths.DefaultModel);
        using var runner = QuantTestModels.Runner(m, 64);
        var tokens = new[] { 1, 403, 407, 261, 378, 426, 259, 260, 280, 350, 335, 290, 267, 261, 289, 272, 375, 370, 271, 301, 277 };
        var r = Perplexity.Evaluate(runner, tokens, ctx, stride, ct: TestContext.Current.CancellationToken);

        double nll = 0;                                  // by hand: token p sees the window that first covers it
        int count = 0;
        for (int p = 1; p < tokens.Length; p++)
        {
            int k = p < ctx ? 0 : (p - ctx) / stride + 1, begin = k * stride;
            if (begin == p) continue;                    // first token of a window without overlap: no context, not scored
            count++;
            var prefix = tokens[begin..p];
            var logits = QuantTestModels.RunnerLogits(runner, prefix);
            int v = m.Config.VocabSize;
            nll -= Perplexity.LogProb(logits.AsSpan((prefix.Length - 1) * v, v), tokens[p]);
        }
        Assert.Equal(count, r.TokensScored);
        Assert.Equal(stride < ctx ? tokens.Length - 1 : tokens.Length - 1 - (tokens.Length - 1) / ctx, count);
        Assert.Equal(nll / count, r.MeanNll, 1e-5);
        Assert.Equal(Math.Exp(r.MeanNll), r.Perplexity, 1e-9);
    }

    [Fact]
    public void StrideLongerThanContextIsRejected()
    {
        using var m = QuantTestModels.Open(TestPaths.DefaultModel);
        using var runner = QuantTestModels.Runner(m, 64);
        Assert.Contains("--stride", Assert.Throws<ArgumentException>(() => Perplexity.Evaluate(runner, [1, 2, 3], 4, 5, ct: TestContext.Current.CancellationToken)).Message);
    }
}
