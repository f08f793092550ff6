using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

public class QuantGridTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MseGridIsNeverWorseThanMinMaxAndClipsGaussianTails(bool sym)
    {
        var rng = new Random(4);
        double shrink = 0;
        for (int r = 0; r < 50; r++)
        {
            var row = Enumerable.Range(0, 64).Select(_ => Normal(rng)).ToArray();
            var minMax = QuantGrid.FindParams(row, 15, sym);
            var mse = QuantGrid.FindParams(row, 15, sym, mse: true);
            Assert.True(Error(row, mse) <= Error(row, minMax), $"row {r}: mse grid {Error(row, mse):g4} > min/max {Error(row, minMax):g4}");
            Assert.True(mse.Scale <= minMax.Scale * (1 + 1e-3), $"row {r}: scale {mse.Scale:g4} above min/max {minMax.Scale:g4}");
            shrink += mse.Scale / minMax.Scale / 50;
        }
        Assert.True(shrink < 0.98, $"mean scale ratio {shrink:F3}: the search did not clip");
    }

    /// <summary>Per channel the grid is a property of the row alone: GPTQ (any order) and RTN get the same scales and zeros.</summary>
    [Theory]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    [InlineData(false, true, true)]
    public void PerChannelGptqUsesTheRoundToNearestGrid(bool sym, bool actOrder, bool mse)
    {
        const int rows = 16, cols = 64;
        var (w, h) = GptqCoreTests.Problem(rows, cols, 300, 8);
        var spec = new QuantSpec(4, -1, sym, actOrder, MseGrid: mse);
        var gptq = Gptq.Quantize(w, rows, cols, h.Scaled(), spec);
        var rtn = Gptq.RoundToNearest(w, rows, cols, spec);
        Assert.Equal(rtn.Scales, gptq.Scales);
        Assert.Equal(rtn.Zeros, gptq.Zeros);
        Assert.NotEqual(rtn.Q, gptq.Q);
    }

    static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    static double Error(double[] row, (double Scale, int Zero) g)
        => row.Sum(v => Math.Pow(Math.Abs(v - g.Scale * (QuantGrid.Quantize(v, g.Scale, g.Zero, 15) - g.Zero)), 2.4));
}
