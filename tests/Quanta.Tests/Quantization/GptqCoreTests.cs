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
    [InlineData(32, false, true, true)]
    [InlineData(16, true, true, false, true)]
    [InlineData(40, false, true, false, true)]
    public void MatchesStraightforwardReference(int group, bool sym, bool actOrder, bool mse = false, bool staticGroups = false)
    {
        const int rows = 24, cols = 200;
        var (w, h) = Problem(rows, cols, 400, 7, deadColumn: 5);
        var spec = new QuantSpec(4, group, sym, actOrder, 0.01, mse, staticGroups);
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

    /// <summary>Zero-padded inputs (dead columns) change nothing, damping included: the FFN padding keeps GPTQ's result.</summary>
    [Theory]
    [InlineData(-1, true)]
    [InlineData(16, false)]
    public void DeadPaddedColumnsLeaveTheResultUnchanged(int group, bool actOrder)
    {
        const int rows = 16, cols = 48, padded = 96;
        var (w, h) = Problem(rows, cols, 300, 12);
        var spec = new QuantSpec(4, group, true, actOrder, Damp: 0.1);
        var wp = new double[rows * padded];
        for (int r = 0; r < rows; r++) w.AsSpan(r * cols, cols).CopyTo(wp.AsSpan(r * padded, cols));
        var hp = new double[padded * padded];                  // H with zero rows and columns for the padding
        var hs = h.Scaled();
        for (int i = 0; i < cols; i++) hs.AsSpan(i * cols, cols).CopyTo(hp.AsSpan(i * padded, cols));
        var plain = Gptq.Quantize(w, rows, cols, hs, spec);
        var pad = Gptq.Quantize(wp, rows, padded, hp, spec);
        int differ = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (Math.Abs(plain.Dequant(r, c) - pad.Dequant(r, c)) > 1e-6) differ++;
        Assert.True(differ <= 2, $"{differ} of {rows * cols} weights differ after padding");
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

    /// <summary>Static groups: the grid of every group comes from the original consecutive columns, as RTN's does.</summary>
    [Fact]
    public void StaticGroupsKeepConsecutiveGroupsUnderActOrder()
    {
        const int rows = 8, cols = 64;
        var (w, h) = Problem(rows, cols, 200, 3);
        var spec = new QuantSpec(4, 16, false, true, StaticGroups: true);
        var m = Gptq.Quantize(w, rows, cols, h.Scaled(), spec);
        var rtn = Gptq.RoundToNearest(w, rows, cols, spec);
        Assert.Equal(Enumerable.Range(0, cols).Select(c => c / 16), m.GIdx);
        Assert.True(m.DescAct);
        Assert.Equal(rtn.Scales, m.Scales);
        Assert.Equal(rtn.Zeros, m.Zeros);
        Assert.True(h.OutputError(Delta(w, m), rows) < h.OutputError(Delta(w, rtn), rows));
        Assert.True(GptqCheckpointWriter.QuantizeConfig(new QuantizeOptions(spec))["static_groups"]!.GetValue<bool>());
        Assert.False(GptqCheckpointWriter.QuantizeConfig(new QuantizeOptions(spec with { StaticGroups = false }))["static_groups"]!.GetValue<bool>());
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

public class CholeskyTests
{
    [Fact]
    public void UpperFactorOfTheInverseTimesTheMatrixIsIdentity()
    {
        const int n = 40;
        var (_, h) = GptqCoreTests.Problem(1, n, 300, 9);
        var a = h.Scaled();
        var lower = (double[])a.Clone();
        Assert.True(Cholesky.FactorLower(lower, n));
        var u = Cholesky.UpperOfInverse(lower, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (j < i) Assert.Equal(0, u[i * n + j]);
                double s = 0;                                   // (Uᵀ U A)[i, j]
                for (int k = 0; k < n; k++)
                {
                    double hinv = 0;
                    for (int r = 0; r < n; r++) hinv += u[r * n + i] * u[r * n + k];
                    s += hinv * a[k * n + j];
                }
                Assert.Equal(i == j ? 1 : 0, s, 1e-8);
            }
        var notPd = new double[] { 1, 2, 2, 1 };
        Assert.False(Cholesky.FactorLower(notPd, 2));
    }
}
