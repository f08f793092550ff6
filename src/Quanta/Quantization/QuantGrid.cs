namespace Quanta.Quantization;

/// <summary>
/// Uniform grid of one weight row over a group of columns (GPTQ's quantizer): min/max, symmetric or asymmetric,
/// optionally with the published quantizer's clipping search (shrink the range while the Lp error drops).
/// </summary>
internal static class QuantGrid
{
    const int Steps = 100;          // shrink factors 1, 0.99, ... 0.21 (AutoGPTQ: grid 100, maxshrink 0.8)
    const int ShrinkSteps = 80;
    const double Norm = 2.4;        // the error norm of AutoGPTQ's search

    /// <summary>Scale (rounded to fp16) and zero point for the values of one row within a group.</summary>
    /// <param name="mse">search the clipping range that minimises Σ|x − x̂|^2.4 (min/max is the first candidate).</param>
    public static (double Scale, int Zero) FindParams(ReadOnlySpan<double> values, int maxQ, bool sym, bool mse = false)
    {
        double xmin = 0, xmax = 0;
        foreach (var v in values) { if (v < xmin) xmin = v; if (v > xmax) xmax = v; }
        if (sym)
        {
            xmax = Math.Max(-xmin, xmax);
            if (xmin < 0) xmin = -xmax;
        }
        if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
        var best = Range(xmin, xmax, maxQ, sym);
        if (!mse) return best;
        double bestErr = Error(values, best, maxQ);
        for (int i = 1; i < ShrinkSteps; i++)
        {
            double p = 1 - (double)i / Steps;
            var cand = Range(p * xmin, p * xmax, maxQ, sym);
            double err = Error(values, cand, maxQ);
            if (err < bestErr) (best, bestErr) = (cand, err);
        }
        return best;
    }

    public static int Quantize(double x, double scale, int zero, int maxQ)
        => (int)Math.Clamp(Math.Round(x / scale) + zero, 0, maxQ);

    static (double Scale, int Zero) Range(double xmin, double xmax, int maxQ, bool sym)
    {
        double scale = (double)(Half)((xmax - xmin) / maxQ);
        if (scale == 0) scale = (double)Half.Epsilon;
        if (double.IsInfinity(scale)) throw new InvalidDataException($"weight range {xmax - xmin:g3} overflows an fp16 scale");
        if (sym) return (scale, (maxQ + 1) / 2);
        int zero = (int)Math.Clamp(Math.Round(-xmin / scale), 0, maxQ);
        if (zero == 0)
        {
            // The checkpoint stores zero - 1 in 4 bits, so a zero of 0 cannot be written: shift the grid by one
            // step (levels -1..maxQ-1 in units of scale still cover [0, xmax]).
            zero = 1;
            scale = (double)(Half)(xmax / (maxQ - 1));
            if (scale == 0) scale = (double)Half.Epsilon;
        }
        return (scale, zero);
    }

    static double Error(ReadOnlySpan<double> values, (double Scale, int Zero) g, int maxQ)
    {
        double e = 0;
        foreach (var v in values) e += Math.Pow(Math.Abs(v - g.Scale * (Quantize(v, g.Scale, g.Zero, maxQ) - g.Zero)), Norm);
        return e;
    }
}
