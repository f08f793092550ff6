using Quanta.Cuda.Native;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>XᵀX of one linear layer's inputs on the GPU: fp32 inputs widened to fp64, summed by cuBLAS Dsyrk in fp64.</summary>
internal sealed unsafe class CudaHessian : IHessianSum, IDisposable
{
    readonly CudaContext _ctx;
    readonly QuantKernels _k;
    bool _symmetric = true;

    public CudaHessian(CudaContext ctx, QuantKernels k, int columns)
    {
        (_ctx, _k, Columns) = (ctx, k, columns);
        Sum = ctx.Alloc(8L * columns * columns, "Hessian");
        ctx.ZeroAsync(Sum, 8L * columns * columns);
    }

    public int Columns { get; }
    public long Tokens { get; private set; }
    /// <summary>[in, in] f64 Σ_t x_t x_tᵀ (symmetric once <see cref="Ready"/> was called).</summary>
    public ulong Sum { get; private set; }

    /// <summary>Adds the rows of x [tokens, in] f32; scratch64 holds at least tokens·in doubles.</summary>
    public void Add(ulong x, int tokens, ulong scratch64)
    {
        int n = Columns;
        _k.ToF64(x, scratch64, (long)tokens * n);
        double one = 1;
        Cublas.Check(Cublas.Dsyrk(_ctx.Cublas, Cublas.FillLower, Cublas.OpN, n, tokens, &one, scratch64, n, &one, Sum, n), "cublasDsyrk(XᵀX)");
        Tokens += tokens;
        _symmetric = false;
    }

    /// <summary>Fills the upper triangle (Dsyrk only writes the lower one).</summary>
    public void Ready()
    {
        if (_symmetric) return;
        _k.Symmetrize(Sum, Columns);
        _symmetric = true;
    }

    /// <summary>The sum [in, in] on the host (tests).</summary>
    public double[] Download()
    {
        Ready();
        return _ctx.Download<double>(Sum, Columns * Columns);
    }

    public void Dispose()
    {
        _ctx.Free(Sum);
        Sum = 0;
    }
}
