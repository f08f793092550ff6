using System.Numerics.Tensors;

namespace Quanta.Quantization;

/// <summary>Accumulates XᵀX over the calibration inputs of one linear layer (fp64).</summary>
public sealed class Hessian(int columns) : IHessianSum
{
    public int Columns { get; } = columns;
    public double[] Sum { get; } = new double[columns * columns];   // [in, in] Σ_t x_t x_tᵀ
    public long Tokens { get; private set; }

    /// <summary>Adds the rows of <paramref name="x"/> [tokens, in] fp32.</summary>
    public void Add(ReadOnlySpan<float> x, int tokens)
    {
        int n = Columns;
        var t = new double[n * tokens];                                // [in, tokens] transposed
        for (int r = 0; r < tokens; r++)
            for (int c = 0; c < n; c++) t[c * tokens + r] = x[r * n + c];
        Parallel.For(0, n, i =>
        {
            var xi = t.AsSpan(i * tokens, tokens);
            for (int j = 0; j <= i; j++)
            {
                double s = TensorPrimitives.Dot<double>(xi, t.AsSpan(j * tokens, tokens));
                Sum[i * n + j] += s;
                if (j != i) Sum[j * n + i] += s;
            }
        });
        Tokens += tokens;
    }

    /// <summary>GPTQ's H = 2 XᵀX / tokens, a fresh copy.</summary>
    public double[] Scaled()
    {
        var h = new double[Sum.Length];
        double f = Tokens > 0 ? 2.0 / Tokens : 0;
        for (int i = 0; i < h.Length; i++) h[i] = Sum[i] * f;
        return h;
    }

    /// <summary>‖(W − Ŵ)X‖² over the accumulated inputs; <paramref name="delta"/> is W − Ŵ [out, in].</summary>
    public double OutputError(ReadOnlySpan<double> delta, int rows)
    {
        int n = Columns;
        double total = 0;
        var tmp = new double[n];
        for (int r = 0; r < rows; r++)
        {
            var d = delta.Slice(r * n, n);
            for (int i = 0; i < n; i++) tmp[i] = TensorPrimitives.Dot<double>(Sum.AsSpan(i * n, n), d);
            total += TensorPrimitives.Dot<double>(tmp, d);
        }
        return total;
    }
}
