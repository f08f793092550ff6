using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

/// <summary>
/// GPTQ the slow, obvious way (the paper's OBS form): after each column, remove it from the explicit
/// inverse Hessian by one Gaussian elimination step. No Cholesky, no blocks, no row tiles.
/// </summary>
internal static class GptqReference
{
    public static QuantizedMatrix Quantize(double[] weight, int rows, int cols, double[] h, QuantSpec spec)
    {
        int gs = spec.EffectiveGroup(cols), maxQ = spec.MaxQ;
        var H = (double[])h.Clone();
        var w = (double[])weight.Clone();
        double mean = Enumerable.Range(0, cols).Select(i => H[i * cols + i]).Where(d => d != 0).DefaultIfEmpty(1).Average();
        for (int i = 0; i < cols; i++)
            if (H[i * cols + i] == 0) { H[i * cols + i] = 1; for (int r = 0; r < rows; r++) w[r * cols + i] = 0; }
        var order = Enumerable.Range(0, cols).ToArray();
        if (spec.ActOrder) order = order.OrderByDescending(i => H[i * cols + i]).ThenBy(i => i).ToArray();
        for (int i = 0; i < cols; i++) H[i * cols + i] += spec.Damp * mean;
        var hinv = Invert(H, cols);

        int groups = (cols + gs - 1) / gs;
        var q = new byte[rows * cols];
        var scales = new float[groups * rows];
        var zeros = new int[groups * rows];
        var gIdx = new int[cols];
        bool fixedGroups = spec.StaticGroups && gs < cols;
        if (fixedGroups)
            for (int g = 0; g < groups; g++)
                for (int r = 0; r < rows; r++)
                {
                    var (s, z) = QuantGrid.FindParams(w.Skip(r * cols + g * gs).Take(Math.Min(gs, cols - g * gs)).ToArray(), maxQ, spec.Sym, spec.MseGrid);
                    scales[g * rows + r] = (float)s; zeros[g * rows + r] = z;
                }
        for (int p = 0; p < cols; p++)
        {
            int c = order[p], g = fixedGroups ? c / gs : p / gs;
            gIdx[c] = g;
            for (int r = 0; r < rows; r++)
            {
                if (!fixedGroups && p % gs == 0)
                {
                    var vals = order.Skip(p).Take(gs).Select(k => w[r * cols + k]).ToArray();
                    var (s, z) = QuantGrid.FindParams(vals, maxQ, spec.Sym, spec.MseGrid);
                    scales[g * rows + r] = (float)s; zeros[g * rows + r] = z;
                }
                double scale = scales[g * rows + r]; int zero = zeros[g * rows + r];
                int level = QuantGrid.Quantize(w[r * cols + c], scale, zero, maxQ);
                q[r * cols + c] = (byte)level;
                double e = (w[r * cols + c] - scale * (level - zero)) / hinv[c * cols + c];
                for (int k = 0; k < cols; k++) w[r * cols + k] -= e * hinv[c * cols + k];
            }
            double d = hinv[c * cols + c];                        // drop column c from the inverse
            var rowC = Enumerable.Range(0, cols).Select(k => hinv[c * cols + k]).ToArray();
            for (int i = 0; i < cols; i++)
                for (int k = 0; k < cols; k++) hinv[i * cols + k] -= rowC[i] * rowC[k] / d;
            hinv[c * cols + c] = 1;                               // keep later divisions finite; column c is done
        }
        return new QuantizedMatrix
        {
            Rows = rows, Columns = cols, Bits = spec.Bits, GroupSize = gs, Sym = spec.Sym, DescAct = spec.ActOrder,
            Q = q, Scales = scales, Zeros = zeros, GIdx = gIdx,
        };
    }

    static double[] Invert(double[] a, int n)
    {
        var m = (double[])a.Clone();
        var inv = new double[n * n];
        for (int i = 0; i < n; i++) inv[i * n + i] = 1;
        for (int p = 0; p < n; p++)
        {
            double d = m[p * n + p];
            for (int k = 0; k < n; k++) { m[p * n + k] /= d; inv[p * n + k] /= d; }
            for (int i = 0; i < n; i++)
            {
                if (i == p) continue;
                double f = m[i * n + p];
                for (int k = 0; k < n; k++) { m[i * n + k] -= f * m[p * n + k]; inv[i * n + k] -= f * inv[p * n + k]; }
            }
        }
        return inv;
    }
}
