using System.Numerics.Tensors;

namespace Quanta.Quantization;

/// <summary>GPTQ (Frantar et al. 2022) and plain round-to-nearest for one weight matrix.</summary>
public static class Gptq
{
    const int BaseBlock = 128;
    const int RowTile = 8;

    /// <summary>
    /// Quantizes <paramref name="weight"/> [out, in] given the layer's input Hessian <paramref name="h"/> [in, in]
    /// (GPTQ's 2XᵀX/n; any positive multiple gives the same result).
    /// </summary>
    public static QuantizedMatrix Quantize(ReadOnlySpan<double> weight, int rows, int cols, double[] h, QuantSpec spec)
    {
        int gs = spec.EffectiveGroup(cols), maxQ = spec.MaxQ;
        var w = weight.ToArray();                           // [out, in] updated in place (permuted order)
        var H = (double[])h.Clone();                        // [in, in]
        // Damping is relative to the mean diagonal of the live inputs, so that dead (e.g. zero-padded) inputs leave
        // the result unchanged.
        double diagSum = 0;
        int live = 0;
        for (int i = 0; i < cols; i++)
            if (H[i * cols + i] != 0) { diagSum += H[i * cols + i]; live++; }
        double dampAbs = spec.Damp * (live > 0 ? diagSum / live : 1);
        for (int i = 0; i < cols; i++)
            if (H[i * cols + i] == 0)                       // dead input: never active, weight irrelevant
            {
                H[i * cols + i] = 1;
                for (int r = 0; r < rows; r++) w[r * cols + i] = 0;
            }

        int groups = (cols + gs - 1) / gs;
        var scales = new float[groups * rows];
        var zeros = new int[groups * rows];
        bool fixedGroups = spec.StaticGroups && gs < cols;
        if (fixedGroups)                                    // groups of consecutive original columns, fixed up front
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < groups; g++)
                {
                    var (s, z) = QuantGrid.FindParams(w.AsSpan(r * cols + g * gs, Math.Min(gs, cols - g * gs)), maxQ, spec.Sym, spec.MseGrid);
                    scales[g * rows + r] = (float)s;
                    zeros[g * rows + r] = z;
                }

        var perm = Enumerable.Range(0, cols).ToArray();    // [in] permuted position -> original column
        if (spec.ActOrder)
        {
            var diag = new double[cols];
            for (int i = 0; i < cols; i++) diag[i] = H[i * cols + i];
            perm = perm.OrderByDescending(i => diag[i]).ThenBy(i => i).ToArray();
            w = PermuteColumns(w, rows, cols, perm);
            H = PermuteSymmetric(H, cols, perm);
        }
        var u = InverseFactor(H, cols, dampAbs);            // [in, in] upper Cholesky of H⁻¹

        var q = new byte[rows * cols];
        // Blocks of 128 columns, aligned so that a group never straddles a block: its parameters are then taken
        // from fully updated weights (per channel there is one group, at column 0).
        int block = gs >= cols ? BaseBlock : gs <= BaseBlock ? gs * (BaseBlock / gs) : gs;
        int tiles = (rows + RowTile - 1) / RowTile;
        Parallel.For(0, tiles, t =>
        {
            int r0 = t * RowTile, r1 = Math.Min(rows, r0 + RowTile);
            var scale = new double[RowTile];
            var zero = new int[RowTile];
            var err = new double[RowTile * block];           // [tile rows, block] scaled errors
            for (int i1 = 0; i1 < cols; i1 += block)
            {
                int i2 = Math.Min(cols, i1 + block);
                for (int i = i1; i < i2; i++)
                {
                    double d = u[i * cols + i];
                    var uRow = u.AsSpan(i * cols + i + 1, i2 - i - 1);
                    for (int r = r0; r < r1; r++)
                    {
                        var row = w.AsSpan(r * cols, cols);
                        int k = r - r0;
                        if (fixedGroups)
                        {
                            int g = perm[i] / gs;
                            (scale[k], zero[k]) = (scales[g * rows + r], zeros[g * rows + r]);
                        }
                        else if (i % gs == 0)
                        {
                            (scale[k], zero[k]) = QuantGrid.FindParams(row[i..Math.Min(cols, i + gs)], maxQ, spec.Sym, spec.MseGrid);
                            scales[i / gs * rows + r] = (float)scale[k];
                            zeros[i / gs * rows + r] = zero[k];
                        }
                        int level = QuantGrid.Quantize(row[i], scale[k], zero[k], maxQ);
                        q[r * cols + perm[i]] = (byte)level;
                        double e = (row[i] - scale[k] * (level - zero[k])) / d;
                        err[k * block + i - i1] = e;
                        TensorPrimitives.MultiplyAdd<double>(uRow, -e, row.Slice(i + 1, i2 - i - 1), row.Slice(i + 1, i2 - i - 1));
                    }
                }
                for (int r = r0; r < r1 && i2 < cols; r++)  // lazy update of the columns after the block
                {
                    var rest = w.AsSpan(r * cols + i2, cols - i2);
                    for (int i = i1; i < i2; i++)
                        TensorPrimitives.MultiplyAdd<double>(u.AsSpan(i * cols + i2, cols - i2), -err[(r - r0) * block + i - i1], rest, rest);
                }
            }
        });

        var gIdx = new int[cols];
        for (int p = 0; p < cols; p++) gIdx[perm[p]] = (fixedGroups ? perm[p] : p) / gs;
        return new QuantizedMatrix
        {
            Rows = rows, Columns = cols, Bits = spec.Bits, GroupSize = gs, Sym = spec.Sym, DescAct = spec.ActOrder,
            Q = q, Scales = scales, Zeros = zeros, GIdx = gIdx,
        };
    }

    /// <summary>Round-to-nearest with the same grid, groups of consecutive columns.</summary>
    public static QuantizedMatrix RoundToNearest(ReadOnlySpan<double> weight, int rows, int cols, QuantSpec spec)
    {
        int gs = spec.EffectiveGroup(cols), maxQ = spec.MaxQ, groups = (cols + gs - 1) / gs;
        var q = new byte[rows * cols];
        var scales = new float[groups * rows];
        var zeros = new int[groups * rows];
        for (int r = 0; r < rows; r++)
        {
            var row = weight.Slice(r * cols, cols);
            for (int g = 0; g < groups; g++)
            {
                int c0 = g * gs, c1 = Math.Min(cols, c0 + gs);
                var (s, z) = QuantGrid.FindParams(row[c0..c1], maxQ, spec.Sym, spec.MseGrid);
                scales[g * rows + r] = (float)s;
                zeros[g * rows + r] = z;
                for (int c = c0; c < c1; c++) q[r * cols + c] = (byte)QuantGrid.Quantize(row[c], s, z, maxQ);
            }
        }
        var gIdx = new int[cols];
        for (int c = 0; c < cols; c++) gIdx[c] = c / gs;
        return new QuantizedMatrix
        {
            Rows = rows, Columns = cols, Bits = spec.Bits, GroupSize = gs, Sym = spec.Sym, DescAct = false,
            Q = q, Scales = scales, Zeros = zeros, GIdx = gIdx,
        };
    }

    /// <summary>Upper factor of the inverse of H + damp·I; the damping grows tenfold while that is not positive definite.</summary>
    static double[] InverseFactor(double[] h, int n, double damp)
    {
        for (int attempt = 0; attempt < 6; attempt++, damp *= 10)
        {
            var a = (double[])h.Clone();
            for (int i = 0; i < n; i++) a[i * n + i] += damp;
            if (Cholesky.FactorLower(a, n)) return Cholesky.UpperOfInverse(a, n);
        }
        throw new InvalidOperationException("Hessian is not positive definite even with damping");
    }

    static double[] PermuteColumns(double[] w, int rows, int cols, int[] perm)
    {
        var p = new double[w.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) p[r * cols + c] = w[r * cols + perm[c]];
        return p;
    }

    static double[] PermuteSymmetric(double[] h, int n, int[] perm)
    {
        var p = new double[h.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) p[i * n + j] = h[perm[i] * n + perm[j]];
        return p;
    }
}
