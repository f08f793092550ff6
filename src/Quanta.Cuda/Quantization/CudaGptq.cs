using Quanta.Cuda.Native;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>
/// GPTQ and RTN of one linear layer on the GPU in fp64, the same algorithm as <see cref="Quantization.Gptq"/>:
/// dead inputs, damping relative to the live diagonal, static groups, act-order. The inverse Hessian's upper Cholesky
/// factor comes from one blocked Cholesky (cuBLAS Dtrsm/Dsyrk around a one-block kernel) of the index-reversed H and a
/// triangular solve; each block of at most 128 columns is one kernel (a thread per row), then one Dgemm updates the
/// columns after it.
/// </summary>
internal sealed unsafe class CudaGptq(CudaContext ctx, QuantKernels k)
{
    const int BaseBlock = 128;      // as Gptq.cs; also the kernel's largest block (QS_MAX_BLOCK)
    const int CholBlock = 64;       // QS_CHOL_NB
    const int DotBlocks = 512;

    public QuantizedMatrix RoundToNearest(double[] weight, int rows, int cols, QuantSpec spec)
    {
        Check(weight.Length, rows, cols);
        int gs = spec.EffectiveGroup(cols), groups = (cols + gs - 1) / gs;
        using var m = new DeviceArena(ctx);
        ulong raw = m.UploadAsync<double>(weight, "weights");                        // [rows, cols] f64
        ulong wt = m.Alloc(8L * rows * cols, "weights transposed");             // [cols, rows] f64
        k.Transpose(raw, wt, rows, cols);
        ulong scales = m.Alloc(4L * groups * rows, "scales"), zeros = m.Alloc(4L * groups * rows, "zeros");   // [groups, rows]
        ulong q = m.Alloc((long)rows * cols, "levels");                          // [rows, cols] u8
        k.GroupParams(wt, rows, cols, gs, spec.MaxQ, spec.Sym ? 1 : 0, spec.MseGrid ? 1 : 0, scales, zeros, q);
        var gIdx = new int[cols];
        for (int c = 0; c < cols; c++) gIdx[c] = c / gs;
        return Result(rows, cols, groups, gs, spec, false, q, scales, zeros, gIdx);
    }

    public QuantizedMatrix Gptq(CudaHessian h, double[] weight, int rows, int cols, QuantSpec spec)
    {
        Check(weight.Length, rows, cols);
        if (h.Columns != cols) throw new ArgumentException($"Hessian of {h.Columns} columns for a weight of {cols}");
        int gs = spec.EffectiveGroup(cols), maxQ = spec.MaxQ, groups = (cols + gs - 1) / gs;
        bool fixedGroups = spec.StaticGroups && gs < cols;
        h.Ready();
        using var m = new DeviceArena(ctx);
        double f = h.Tokens > 0 ? 2.0 / h.Tokens : 0;
        ulong diagDev = m.Alloc(8L * cols, "Hessian diagonal");
        k.Diagonal(h.Sum, diagDev, cols);
        var diag = ctx.Download<double>(diagDev, cols);                          // [in] of H = 2XᵀX/n
        double diagSum = 0;
        int live = 0;
        var dead = new byte[cols];
        for (int i = 0; i < cols; i++)
        {
            diag[i] *= f;
            if (diag[i] != 0) { diagSum += diag[i]; live++; }
        }
        for (int i = 0; i < cols; i++)
            if (diag[i] == 0) { diag[i] = 1; dead[i] = 1; }
        double dampAbs = spec.Damp * (live > 0 ? diagSum / live : 1);
        var identity = Enumerable.Range(0, cols).ToArray();
        var perm = spec.ActOrder ? identity.OrderByDescending(i => diag[i]).ThenBy(i => i).ToArray() : identity;   // [in] position -> column

        ulong wa = m.UploadAsync<double>(weight, "weights");                          // [rows, cols] f64, then a [cols, rows] work buffer
        ulong wb = m.Alloc(8L * rows * cols, "weights transposed");             // [cols, rows] f64
        k.Transpose(wa, wb, rows, cols);
        ulong identDev = m.UploadAsync<int>(identity, "identity"), permDev = spec.ActOrder ? m.UploadAsync<int>(perm, "act-order") : identDev;
        k.GatherColumns(wb, wa, identDev, m.UploadAsync<byte>(dead, "dead inputs"), rows, cols);   // wa: dead columns zeroed
        ulong scales = m.Alloc(4L * groups * rows, "scales"), zeros = m.Alloc(4L * groups * rows, "zeros");   // [groups, rows]
        if (fixedGroups) k.GroupParams(wa, rows, cols, gs, maxQ, spec.Sym ? 1 : 0, spec.MseGrid ? 1 : 0, scales, zeros, 0);
        ulong w = wa;
        if (spec.ActOrder) { k.GatherColumns(wa, wb, permDev, 0, rows, cols); w = wb; }
        ulong u = InverseFactor(m, h.Sum, f, perm, cols, dampAbs);             // [in, in] row-major upper

        ulong q = m.Alloc((long)rows * cols, "levels");                          // [rows, cols] u8
        ulong err = m.Alloc(8L * BaseBlock * rows, "errors");                    // [block, rows] f64
        double minusOne = -1, one = 1;
        foreach (var (i1, i2) in Blocks(cols, gs))
        {
            k.GptqBlock(w, u, rows, cols, i1, i2, gs, maxQ, spec.Sym ? 1 : 0, spec.MseGrid ? 1 : 0, fixedGroups ? 1 : 0,
                        permDev, scales, zeros, q, err);
            if (i2 < cols)                                                       // W[:, i2:] -= Err · U[i1:i2, i2:]
                Cublas.Check(Cublas.Dgemm(ctx.Cublas, Cublas.OpN, Cublas.OpT, rows, cols - i2, i2 - i1, &minusOne,
                    err, rows, u + 8UL * (ulong)(i2 + (long)i1 * cols), cols, &one, w + 8UL * (ulong)((long)i2 * rows), rows), "cublasDgemm(GPTQ update)");
        }
        var gIdx = new int[cols];
        for (int p = 0; p < cols; p++) gIdx[perm[p]] = (fixedGroups ? perm[p] : p) / gs;
        return Result(rows, cols, groups, gs, spec, spec.ActOrder, q, scales, zeros, gIdx);
    }

    /// <summary>‖(W − Ŵ)X‖² = Σ_rows δᵀ (XᵀX) δ, one Dgemm and a dot product.</summary>
    public double OutputError(CudaHessian h, double[] delta, int rows)
    {
        int n = h.Columns;
        Check(delta.Length, rows, n);
        h.Ready();
        using var m = new DeviceArena(ctx);
        ulong d = m.UploadAsync<double>(delta, "weight error");                       // [rows, n] f64
        ulong t = m.Alloc(8L * rows * n, "weight error · XᵀX");                  // [rows, n] f64
        double one = 1, zero = 0;
        Cublas.Check(Cublas.Dgemm(ctx.Cublas, Cublas.OpN, Cublas.OpN, n, rows, n, &one, h.Sum, n, d, n, &zero, t, n), "cublasDgemm(output error)");
        ulong partial = m.Alloc(8L * DotBlocks, "partial sums");
        k.DotPartial(d, t, (long)rows * n, partial, DotBlocks);
        return ctx.Download<double>(partial, DotBlocks).Sum();
    }

    /// <summary>
    /// The GPU's blocks: Gptq.cs's blocks when they hold at most 128 columns, else (groups wider than 128) each group
    /// cut into blocks of 128 so that a group still starts a block.
    /// </summary>
    internal static IEnumerable<(int I1, int I2)> Blocks(int cols, int gs)
    {
        if (gs >= cols || gs <= BaseBlock)
        {
            int block = gs >= cols ? BaseBlock : gs * (BaseBlock / gs);
            for (int i1 = 0; i1 < cols; i1 += block) yield return (i1, Math.Min(cols, i1 + block));
            yield break;
        }
        for (int g0 = 0; g0 < cols; g0 += gs)
        {
            int end = Math.Min(cols, g0 + gs);
            for (int i1 = g0; i1 < end; i1 += BaseBlock) yield return (i1, Math.Min(end, i1 + BaseBlock));
        }
    }

    /// <summary>
    /// U [n, n] row-major, upper, with UᵀU = (H + damp·I)⁻¹ for H = sum[perm, perm]·f: with J the index reversal,
    /// J·H·J = L Lᵀ gives H = R Rᵀ for the upper R = J L J, so U = R⁻¹ = J L⁻¹ J (the unique upper factor, as the CPU's).
    /// The damping grows tenfold while the matrix is not positive definite.
    /// </summary>
    internal ulong InverseFactor(DeviceArena m, ulong sum, double f, int[] perm, int n, double damp)
    {
        var rev = new int[n];
        for (int i = 0; i < n; i++) rev[i] = perm[n - 1 - i];
        ulong revDev = m.UploadAsync<int>(rev, "reversed order");
        ulong a = m.Alloc(8L * n * n, "damped Hessian");                        // [n, n] f64 column-major
        ulong fail = m.Alloc(4, "Cholesky flag");
        for (int attempt = 0; attempt < 6; attempt++, damp *= 10)
        {
            ctx.ZeroAsync(fail, 4);
            k.HessianPrepare(sum, a, revDev, n, f, damp);
            CholeskyLower(a, n, fail);
            if (ctx.Download<int>(fail, 1)[0] != 0) continue;
            ulong x = m.Alloc(8L * n * n, "inverse factor");                    // [n, n] f64 column-major
            k.Identity(x, n);
            double one = 1;
            Cublas.Check(Cublas.Dtrsm(ctx.Cublas, Cublas.SideLeft, Cublas.FillLower, Cublas.OpN, Cublas.DiagNonUnit, n, n, &one, a, n, x, n), "cublasDtrsm(L⁻¹)");
            k.ReverseUpper(x, a, n);
            return a;
        }
        throw new InvalidOperationException("Hessian is not positive definite even with damping");
    }

    /// <summary>In place: the lower Cholesky factor of a [n, n] column-major (lower triangle read); fail set when not positive definite.</summary>
    internal void CholeskyLower(ulong a, int n, ulong fail)
    {
        double one = 1, minusOne = -1;
        for (int j = 0; j < n; j += CholBlock)
        {
            int b = Math.Min(CholBlock, n - j), rest = n - j - b;
            k.CholeskyDiagonal(a, n, j, b, fail);
            if (rest == 0) break;
            ulong l11 = At(a, j, j, n), l21 = At(a, j + b, j, n), a22 = At(a, j + b, j + b, n);
            Cublas.Check(Cublas.Dtrsm(ctx.Cublas, Cublas.SideRight, Cublas.FillLower, Cublas.OpT, Cublas.DiagNonUnit, rest, b, &one, l11, n, l21, n), "cublasDtrsm(Cholesky panel)");
            Cublas.Check(Cublas.Dsyrk(ctx.Cublas, Cublas.FillLower, Cublas.OpN, rest, b, &minusOne, l21, n, &one, a22, n), "cublasDsyrk(Cholesky update)");
        }
    }

    static ulong At(ulong a, int row, int col, int n) => a + 8UL * (ulong)(row + (long)col * n);

    QuantizedMatrix Result(int rows, int cols, int groups, int gs, QuantSpec spec, bool descAct, ulong q, ulong scales, ulong zeros, int[] gIdx)
    {
        var s = ctx.Download<float>(scales, groups * rows);
        if (s.Any(float.IsInfinity)) throw new InvalidDataException("a weight range overflows an fp16 scale");
        return new QuantizedMatrix
        {
            Rows = rows, Columns = cols, Bits = spec.Bits, GroupSize = gs, Sym = spec.Sym, DescAct = descAct,
            Q = ctx.Download<byte>(q, rows * cols), Scales = s, Zeros = ctx.Download<int>(zeros, groups * rows), GIdx = gIdx,
        };
    }

    static void Check(int length, int rows, int cols)
    {
        if (length != (long)rows * cols) throw new ArgumentException($"{length} weights for [{rows}, {cols}]");
    }
}
