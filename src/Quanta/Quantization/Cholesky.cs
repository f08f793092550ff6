namespace Quanta.Quantization;

/// <summary>Dense fp64 Cholesky helpers for GPTQ's inverse Hessian.</summary>
internal static class Cholesky
{
    /// <summary>In place: the lower factor L of a = L Lᵀ (upper triangle zeroed). False when a is not positive definite.</summary>
    public static bool FactorLower(double[] a, int n)
    {
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.AsSpan(j * n, j);
            double d = a[j * n + j] - Dot(rowJ, rowJ);
            if (!(d > 0)) return false;
            double l = Math.Sqrt(d);
            a[j * n + j] = l;
            Parallel.For(j + 1, n, i =>
            {
                var rowI = a.AsSpan(i * n, j);
                a[i * n + j] = (a[i * n + j] - Dot(rowI, a.AsSpan(j * n, j))) / l;
            });
            for (int k = j + 1; k < n; k++) a[j * n + k] = 0;
        }
        return true;
    }

    /// <summary>
    /// The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U), from the lower factor L of H:
    /// H⁻¹ = L⁻ᵀ L⁻¹, and with M = L⁻¹ (lower) the factor is obtained by factoring H⁻¹ again.
    /// </summary>
    public static double[] UpperOfInverse(double[] lower, int n)
    {
        var inv = InvertLower(lower, n);                 // [n, n] M = L⁻¹, lower
        var hinv = new double[n * n];                    // [n, n] Mᵀ M
        var cols = Transpose(inv, n);                    // column k of M as a row
        Parallel.For(0, n, i =>
        {
            for (int j = 0; j <= i; j++)
            {
                int from = Math.Max(i, j);               // M[k, i] nonzero only for k >= i
                double s = Dot(cols.AsSpan(i * n + from, n - from), cols.AsSpan(j * n + from, n - from));
                hinv[i * n + j] = s; hinv[j * n + i] = s;
            }
        });
        if (!FactorLower(hinv, n)) throw new InvalidOperationException("inverse Hessian is not positive definite");
        return Transpose(hinv, n);
    }

    static double[] InvertLower(double[] l, int n)
    {
        var m = new double[n * n];
        Parallel.For(0, n, c =>                          // column c of L⁻¹ by forward substitution
        {
            m[c * n + c] = 1 / l[c * n + c];
            for (int i = c + 1; i < n; i++)
            {
                double s = 0;
                for (int k = c; k < i; k++) s += l[i * n + k] * m[k * n + c];
                m[i * n + c] = -s / l[i * n + i];
            }
        });
        return m;
    }

    static double[] Transpose(double[] a, int n)
    {
        var t = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
        return t;
    }

    static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
        => System.Numerics.Tensors.TensorPrimitives.Dot(x, y);
}
