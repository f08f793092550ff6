using Quanta.Cuda.Native;

namespace Quanta.Cuda;

internal sealed unsafe partial class CudaLinear
{
    /// <summary>
    /// Bytes of f16 scratch this layer needs for up to <paramref name="rows"/> rows: x in slot order (the wgmma GEMM), or
    /// permuted x (act-order) and the dequantised W (past the GEMM's rows).
    /// </summary>
    public long ScratchBytes(int rows)
    {
        if (!IsQuantized) return 0;
        long slots = SlotMap != 0 && rows >= GemmPlanner.MinWgmmaRows ? 2L * Math.Min(rows, GemmPlanner.MaxWgmmaRows) * Ldx : 0;
        long other = (Perm != 0 ? 2L * rows * In : 0) + (rows > MaxGemmRows ? 2L * In * Out : 0);
        return Math.Max(slots, other);
    }

    /// <summary>The most rows the int4 GEMM takes on this GPU (more dequantise W for cuBLAS).</summary>
    int MaxGemmRows => GemmPlanner.MaxRowsFor(SlotMap != 0);

    /// <summary>
    /// y [rows, ldy] f32 (columns 0..out; ldy 0 = out) = x [rows, in] f16 · Wᵀ, or with <paramref name="accumulate"/>
    /// y += x · Wᵀ (the residual stream takes o_proj and down_proj this way); scratch holds <see cref="ScratchBytes"/>.
    /// </summary>
    /// <remarks>With <paramref name="norm"/> (where <see cref="TakesNorm"/>), x is unused: the kernel norms norm.Xres itself.</remarks>
    public void Forward(ulong x, ulong y, int rows, ulong scratch, int ldy = 0, bool accumulate = false, InputNorm? norm = null)
    {
        if (rows == 0) return;
        if (ldy == 0) ldy = Out;
        if (norm is { } nm)
        {
            if (!TakesNorm(rows)) throw new InvalidOperationException($"this layer does not norm {rows} rows of input itself");
            Pass(0, y, rows, ldy, silu: false, accumulate, nm);
            return;
        }
        if (!IsQuantized) { Gemm(Dense, In, x, y, rows, ldy, accumulate); return; }
        if (rows >= GemmPlanner.MinRows && rows <= MaxGemmRows) { Gemm4(x, y, rows, ldy, accumulate, scratch); return; }
        x = Permuted(x, rows, ref scratch);
        if (rows < GemmPlanner.MinRows) Passes(x, y, rows, ldy, accumulate);
        else
        {
            // Past MaxRows cuBLAS's f16 GEMM over a dequantised copy outruns the int4 GEMM (prompts, the widest decodes).
            _k.GptqDequant(QTiles, ScaleZero, scratch, In, Out, GroupSize);
            Gemm(scratch, In, x, y, rows, ldy, accumulate);
        }
    }

    /// <summary>
    /// The int4 GEMM: y [rows, ldy] f32 (+)= x · Wᵀ in the block and K split <see cref="GemmPlanner.Plan"/> gives (planned once
    /// per row count); a wgmma block reads x gathered into slot order in scratch, the mma.sync block x as it is (or permuted).
    /// </summary>
    void Gemm4(ulong x, ulong y, int rows, int ldy, bool accumulate, ulong scratch)
    {
        if (!_gemmPlans.TryGetValue(rows, out var plan))
            _gemmPlans[rows] = plan = GemmPlanner.Plan(new GptqShape(In, Out, GroupSize), rows, _mem.Ctx.Multiprocessors, _k.GemmResidentBlocks, SlotMap != 0);
        if (plan.Tile.Wgmma) _k.GatherCols(x, SlotMap, scratch, Ldx, In, rows);
        else x = Permuted(x, rows, ref scratch);
        if (plan.Splits > 1 && !accumulate) _mem.Ctx.ZeroFloatsAsync(y, Out, ldy, rows);
        if (plan.Tile.Wgmma) _k.GptqWgmma(scratch, QTiles, ScaleZero, y, rows, In, Out, GroupSize, ldy, plan, accumulate);
        else _k.GptqGemm(x, QTiles, ScaleZero, y, rows, In, Out, GroupSize, ldy, plan, accumulate);
    }

    /// <summary>
    /// act [rows, out/2] f16 = silu(gate) * up for a <see cref="SiluPairs"/> layer: the fused kernel writes it directly
    /// (groups of a multiple of 64, fewer than <see cref="GemmPlanner.MinRows"/> rows, passes of other than 9-16 rows);
    /// otherwise y [rows, out] f32 is the product and silu_mul reads its alternating runs.
    /// </summary>
    public void ForwardSilu(ulong x, ulong act, int rows, ulong scratch, ulong y)
    {
        if (!SiluPairs) throw new InvalidOperationException("ForwardSilu needs a gate/up layer with alternating columns");
        if (rows == 0) return;
        int half = Out / 2;
        if (!(IsQuantized && rows < GemmPlanner.MinRows && GroupSize % 64 == 0))
        {
            Forward(x, y, rows, scratch);
            _k.SiluMul(y, y + 32, act, half, Out, rows, chunk: 8);
            return;
        }
        x = Permuted(x, rows, ref scratch);
        for (int r = 0; r < rows; r += GptqPlanner.PassRows)
        {
            int m = Math.Min(GptqPlanner.PassRows, rows - r);
            ulong xr = x + (ulong)(2L * r * In), ar = act + (ulong)(2L * r * half);
            // A pass of 9-16 rows (two row tiles) runs faster as the product, then silu_mul, than with the epilogue.
            if (m <= 8 || m > 16) Pass(xr, ar, m, half, silu: true, accumulate: false);
            else
            {
                ulong yr = y + (ulong)(4L * r * Out);
                Pass(xr, yr, m, Out, silu: false, accumulate: false);
                _k.SiluMul(yr, yr + 32, ar, half, Out, m, chunk: 8);
            }
        }
    }

    /// <summary>x, or x's columns in group order (act-order) written to scratch, which then advances past them.</summary>
    ulong Permuted(ulong x, int rows, ref ulong scratch)
    {
        if (Perm == 0) return x;
        _k.GatherCols(x, Perm, scratch, In, In, rows);
        ulong p = scratch;
        scratch += (ulong)(2L * rows * In);
        return p;
    }

    /// <summary>The fused kernel over rows in passes of <see cref="GptqPlanner.PassRows"/>: y [rows, ldy] f32 (+)= x · Wᵀ.</summary>
    void Passes(ulong x, ulong y, int rows, int ldy, bool accumulate)
    {
        for (int r = 0; r < rows; r += GptqPlanner.PassRows)
            Pass(x + (ulong)(2L * r * In), y + (ulong)(4L * r * ldy), Math.Min(GptqPlanner.PassRows, rows - r), ldy, silu: false, accumulate);
    }

    /// <summary>One launch of the fused kernel for m &lt;= <see cref="GptqPlanner.PassRows"/> rows: y [m, ldy] f32 (+)= x · Wᵀ, or with <paramref name="silu"/> y = act [m, ldy] f16.</summary>
    void Pass(ulong x, ulong y, int m, int ldy, bool silu, bool accumulate, InputNorm norm = default)
    {
        var (ks, splits, per, v) = Plan(m, silu);
        if (splits > 1 && !accumulate) _mem.Ctx.ZeroFloatsAsync(y, Out, ldy, m);
        var kind = norm.Xres == 0 ? GptqNorm.None : norm.Half ? GptqNorm.F16 : GptqNorm.F32;
        _k.GptqMma(x, QTiles, ScaleZero, y, m, In, Out, GroupSize, ldy, ks, splits, per, v with { Norm = kind }, accumulate, norm);
    }

    /// <summary>
    /// The RMSNorm a fused kernel may apply to its own input: x [rows, in] f16 = rmsnorm(Xres [rows, in] f32) * W [in], W f32,
    /// or f16 where <paramref name="Half"/> (the kernel then needs 16 KiB less shared memory).
    /// </summary>
    public readonly record struct InputNorm(ulong Xres, ulong W, float Eps, bool Half = false);

    /// <summary>Most rows x inputs a normed kernel takes (its block's copies of x and w in shared memory: NORM_MAX in gptq.cu).</summary>
    internal const int NormMaxInputs = 4096;

    /// <summary>
    /// Whether <see cref="Forward"/> norms its input itself for this many rows, which saves the rmsnorm launch before it: where
    /// the plan takes the prefetching pair kernel in blocks of 8 warps (up to 8 rows), no act-order, rows x in &lt;=
    /// <see cref="NormMaxInputs"/>, in % 8 == 0.
    /// </summary>
    public bool TakesNorm(int rows)
    {
        if (!IsQuantized || Perm != 0 || rows < 1 || (long)rows * In > NormMaxInputs || In % 8 != 0) return false;
        return Plan(rows).V is { Pairs: true, Whole: false, Warps: 8 };
    }

    /// <summary>The fused kernel's launch for this many rows (see <see cref="GptqPlanner.Plan"/>), planned once per (rows, silu).</summary>
    internal GptqLaunch Plan(int rows, bool silu = false)
    {
        if (!_plans.TryGetValue((rows, silu), out var plan))
            _plans[(rows, silu)] = plan = GptqPlanner.Plan(new GptqShape(In, Out, GroupSize), rows, silu, _mem.Ctx.Multiprocessors,
                v => _k.GptqResidentBlocks(rows, GroupSize, v));
        return plan;
    }

    readonly Dictionary<(int Rows, bool Silu), GptqLaunch> _plans = [];
    readonly Dictionary<int, GemmLaunch> _gemmPlans = [];   // by rows, MinRows..MaxGemmRows

    /// <summary>cuBLAS: column-major C [out, rows] (+)= Aᵀ · B [in, rows], with A = W row-major [out, in] f16 and B = x row-major [rows, in].</summary>
    void Gemm(ulong a, int lda, ulong x, ulong y, int rows, int ldy, bool accumulate = false)
    {
        float alpha = 1f, beta = accumulate ? 1f : 0f;
        Cublas.Check(Cublas.GemmEx(_mem.Ctx.Cublas, Cublas.OpT, Cublas.OpN, Out, rows, In, &alpha, a, Cublas.R16F, lda,
            x, Cublas.R16F, In, &beta, y, Cublas.R32F, ldy, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
    }
}
