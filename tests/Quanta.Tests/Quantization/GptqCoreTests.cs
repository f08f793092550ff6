using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

public class GptqCoreTests
{
    /// <summary>Correlated inputs X [tokens, cols] and weights W [rows, cols], seeded.</summary>
    internal static (double[] W, Hessian H) Problem(int rows, int cols, int tokens, int seed, int deadColumn = -1)
    {
        var rng = new Random(seed);
        var mix = new double[cols * cols];
        for (int i = 0; i < mix.Length; i++) mix[i] = rng.NextDouble() - 0.5;
        var x = new float[tokens * cols];
        var z = new double[cols];
        for (int t = 0; t < tokens; t++)
        {
            for (int c = 0; c < cols; c++) z[c] = Normal(rng) * (1 + 3 * (c % 5));
            for (int c = 0; c < cols; c++)
            {
                double s = z[c];
                for (int k = 0; k < cols; k++) s += 0.3 * mix[c * cols + k] * z[k];
                x[t * cols + c] = c == deadColumn ? 0 : (float)s;
            }
        }
        var h = new Hessian(cols);
        h.Add(x, tokens);
        var w = new double[rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = Normal(rng) * 0.05;
        return (w, h);
    }

    static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Theory]
    [InlineData(-1, true, false)]
    [InlineData(16, false, false)]
    [InlineData(16, false, true)]
    [InlineData(32, true, true)]
    public void MatchesStraightforwardReference(int group, bool sym, bool actOrder)
    {
        const int rows = 24, cols = 200;
        var (w, h) = Problem(rows, cols, 400, 7, deadColumn: 5);
        var spec = new QuantSpec(4, group, sym, actOrder, 0.01);
        var fast = Gptq.Quantize(w, rows, cols, h.Scaled(), spec);
        var slow = GptqReference.Quantize(w, rows, cols, h.Scaled(), spec);

        int differ = 0;
        for (int i = 0; i < rows * cols; i++) if (fast.Q[i] != slow.Q[i]) differ++;
        Assert.True(differ <= rows * cols / 200, $"{differ} of {rows * cols} levels differ");
        Assert.Equal(slow.GIdx, fast.GIdx);
        double ef = h.OutputError(Delta(w, fast), rows), es = h.OutputError(Delta(w, slow), rows);
        Assert.InRange(ef / es, 0.99, 1.01);
    }

    [Theory]
    [InlineData(-1, true, false)]
    [InlineData(32, false, true)]
    public void GptqBeatsRoundToNearestOnItsInputs(int group, bool sym, bool actOrder)
    {
        const int rows = 32, cols = 128;
        var (w, h) = Problem(rows, cols, 512, 11);
        var spec = new QuantSpec(4, group, sym, actOrder);
        double gptq = h.OutputError(Delta(w, Gptq.Quantize(w, rows, cols, h.Scaled(), spec)), rows);
        double rtn = h.OutputError(Delta(w, Gptq.RoundToNearest(w, rows, cols, spec)), rows);
        Assert.True(gptq < 0.8 * rtn, $"gptq {gptq:g4} rtn {rtn:g4}");
    }

    [Fact]
    public void ActOrderGroupIndexIsAPermutationOfGroups()
    {
        const int rows = 8, cols = 64;
        var (w, h) = Problem(rows, cols, 200, 3);
        var m = Gptq.Quantize(w, rows, cols, h.Scaled(), new QuantSpec(4, 16, false, true));
        Assert.Equal(4, m.Groups);
        Assert.All(Enumerable.Range(0, 4), g => Assert.Equal(16, m.GIdx.Count(x => x == g)));
        Assert.NotEqual(Enumerable.Range(0, cols).Select(c => c / 16), m.GIdx);
    }

    [Fact]
    public void RoundToNearestIsWithinHalfAStep()
    {
        const int rows = 4, cols = 32;
        var (w, _) = Problem(rows, cols, 10, 5);
        var m = Gptq.RoundToNearest(w, rows, cols, new QuantSpec(4, 8, false));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                Assert.InRange(Math.Abs(w[r * cols + c] - m.Dequant(r, c)), 0, m.Scales[c / 8 * rows + r] * 0.5 + 1e-6);
        Assert.All(m.Scales, s => Assert.Equal(s, (float)(Half)s));
    }

    internal static double[] Delta(double[] w, QuantizedMatrix m)
    {
        var dq = m.Dequantize();
        var d = new double[w.Length];
        for (int i = 0; i < d.Length; i++) d[i] = w[i] - dq[i];
        return d;
    }
}
