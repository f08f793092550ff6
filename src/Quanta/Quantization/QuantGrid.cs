namespace Quanta.Quantization;

/// <summary>Min/max asymmetric or symmetric uniform grid of one weight row over a group of columns (GPTQ's quantizer).</summary>
internal static class QuantGrid
{
    /// <summary>Scale (rounded to fp16) and zero point for the values of one row within a group.</summary>
    public static (double Scale, int Zero) FindParams(ReadOnlySpan<double> values, int maxQ, bool sym)
    {
        double xmin = 0, xmax = 0;
        foreach (var v in values) { if (v < xmin) xmin = v; if (v > xmax) xmax = v; }
        if (sym)
        {
            xmax = Math.Max(-xmin, xmax);
            if (xmin < 0) xmin = -xmax;
        }
        if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
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

    public static int Quantize(double x, double scale, int zero, int maxQ)
        => (int)Math.Clamp(Math.Round(x / scale) + zero, 0, maxQ);
}
