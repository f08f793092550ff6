namespace Quanta.Cuda;

/// <summary>Typed launchers of quant_forward.cu and quant_solve.cu (quantization), mirroring the .cu signatures.</summary>
internal sealed unsafe class QuantKernels(CudaContext ctx)
{
    readonly KernelRegistry _r = ctx.Kernels;
    const uint Threads = 256;

    static uint Blocks(long n, uint threads) => (uint)Math.Clamp((n + threads - 1) / threads, 1, 65535L * 16);

    void Go(string module, string name, (uint, uint, uint) grid, uint block, void** args)
        => _r.Launch(_r.Function(module, name), grid, block, 0, args, name);

    /// <summary>y [rows, n] = rmsnorm(x [rows, n]) * w [n], all f32.</summary>
    public void RmsNorm(ulong x, ulong w, ulong y, int n, float eps, int rows)
    {
        void** a = stackalloc void*[] { &x, &w, &y, &n, &eps };
        Go("quant_forward", "qf_rmsnorm", ((uint)rows, 1, 1), Threads, a);
    }

    /// <summary>Rotate-half RoPE in place on x [len, heads, hd] f32 at positions 0..len-1; invFreq [hd/2] f32.</summary>
    public void Rope(ulong x, ulong invFreq, int heads, int hd, int len)
    {
        void** a = stackalloc void*[] { &x, &invFreq, &heads, &hd };
        Go("quant_forward", "qf_rope", ((uint)len, (uint)heads, 1), 64, a);
    }

    /// <summary>Causal row softmax in place on s [heads, len, len] f32.</summary>
    public void CausalSoftmax(ulong s, int len, int heads)
    {
        void** a = stackalloc void*[] { &s, &len };
        Go("quant_forward", "qf_causal_softmax", ((uint)len, (uint)heads, 1), Threads, a);
    }

    /// <summary>g = silu(g) * u over n f32.</summary>
    public void SiluMul(ulong g, ulong u, long n)
    {
        void** a = stackalloc void*[] { &g, &u, &n };
        Go("quant_forward", "qf_silu_mul", (Blocks(n, Threads), 1, 1), Threads, a);
    }

    /// <summary>output = x + y over n f32 (output may alias either).</summary>
    public void Add(ulong x, ulong y, ulong output, long n)
    {
        void** a = stackalloc void*[] { &x, &y, &output, &n };
        Go("quant_forward", "qf_add", (Blocks(n, Threads), 1, 1), Threads, a);
    }

    /// <summary>y [n] f64 = x [n] f32.</summary>
    public void ToF64(ulong x, ulong y, long n)
    {
        void** a = stackalloc void*[] { &x, &y, &n };
        Go("quant_forward", "qf_to_f64", (Blocks(n, Threads), 1, 1), Threads, a);
    }

    /// <summary>Copies the lower triangle of a [n, n] f64 (column-major) onto its upper triangle.</summary>
    public void Symmetrize(ulong a, int n)
    {
        void** p = stackalloc void*[] { &a, &n };
        Go("quant_forward", "qf_symmetrize", (Blocks((long)n * n, Threads), 1, 1), Threads, p);
    }

    /// <summary>wt [cols, rows] f64 = w [rows, cols] f64 transposed.</summary>
    public void Transpose(ulong w, ulong wt, int rows, int cols)
    {
        void** a = stackalloc void*[] { &w, &wt, &rows, &cols };
        Go("quant_solve", "qs_transpose", (Blocks((long)rows * cols, Threads), 1, 1), Threads, a);
    }

    /// <summary>dst [cols, rows] column p = src column perm[p] (perm [cols] i32), zeros where dead [cols] u8 (0 = none) is set.</summary>
    public void GatherColumns(ulong src, ulong dst, ulong perm, ulong dead, int rows, int cols)
    {
        void** a = stackalloc void*[] { &src, &dst, &perm, &dead, &rows, &cols };
        Go("quant_solve", "qs_gather_cols", (Blocks((long)rows * cols, Threads), 1, 1), Threads, a);
    }

    /// <summary>Per group of gs columns of wt [cols, rows] f64: scales [groups, rows] f32, zeros i32, and q [rows, cols] u8 (0 = none).</summary>
    public void GroupParams(ulong wt, int rows, int cols, int gs, int maxQ, int sym, int mse, ulong scales, ulong zeros, ulong q)
    {
        void** a = stackalloc void*[] { &wt, &rows, &cols, &gs, &maxQ, &sym, &mse, &scales, &zeros, &q };
        long groups = (cols + gs - 1) / gs;
        Go("quant_solve", "qs_group_params", (Blocks(groups * rows, 128), 1, 1), 128, a);
    }

    /// <summary>GPTQ of columns i1..i2 (at most 128), one thread per row; see quant_solve.cu for the buffers.</summary>
    public void GptqBlock(ulong wt, ulong u, int rows, int cols, int i1, int i2, int gs, int maxQ, int sym, int mse, int fixedGroups,
                          ulong perm, ulong scales, ulong zeros, ulong q, ulong err)
    {
        void** a = stackalloc void*[] { &wt, &u, &rows, &cols, &i1, &i2, &gs, &maxQ, &sym, &mse, &fixedGroups, &perm, &scales, &zeros, &q, &err };
        Go("quant_solve", "qs_gptq_block", ((uint)((rows + 63) / 64), 1, 1), 64, a);
    }

    /// <summary>d [n] f64 = diagonal of a [n, n] f64.</summary>
    public void Diagonal(ulong a, ulong d, int n)
    {
        void** p = stackalloc void*[] { &a, &d, &n };
        Go("quant_solve", "qs_diagonal", (Blocks(n, Threads), 1, 1), Threads, p);
    }

    /// <summary>h [n, n] = sum[perm[i], perm[j]] * f, zero diagonal entries set to 1, plus damp on the diagonal.</summary>
    public void HessianPrepare(ulong sum, ulong h, ulong perm, int n, double f, double damp)
    {
        void** a = stackalloc void*[] { &sum, &h, &perm, &n, &f, &damp };
        Go("quant_solve", "qs_hessian_prepare", (Blocks((long)n * n, Threads), 1, 1), Threads, a);
    }

    /// <summary>Lower Cholesky factor of the diagonal block a[k..k+b, k..k+b] (b &lt;= 64) of a [n, n] f64 column-major; fail [1] i32.</summary>
    public void CholeskyDiagonal(ulong a, int n, int k, int b, ulong fail)
    {
        void** p = stackalloc void*[] { &a, &n, &k, &b, &fail };
        Go("quant_solve", "qs_chol_diag", (1, 1, 1), Threads, p);
    }

    /// <summary>a [n, n] f64 = identity.</summary>
    public void Identity(ulong a, int n)
    {
        void** p = stackalloc void*[] { &a, &n };
        Go("quant_solve", "qs_identity", (Blocks((long)n * n, Threads), 1, 1), Threads, p);
    }

    /// <summary>u [n, n] row-major upper = x [n, n] column-major lower with both indices reversed.</summary>
    public void ReverseUpper(ulong x, ulong u, int n)
    {
        void** a = stackalloc void*[] { &x, &u, &n };
        Go("quant_solve", "qs_reverse_upper", (Blocks((long)n * n, Threads), 1, 1), Threads, a);
    }

    /// <summary>partial [blocks] f64: per-block shares of Σ a[i]·b[i] over n f64.</summary>
    public void DotPartial(ulong a, ulong b, long n, ulong partial, int blocks)
    {
        void** p = stackalloc void*[] { &a, &b, &n, &partial };
        Go("quant_solve", "qs_dot_partial", ((uint)blocks, 1, 1), Threads, p);
    }
}
