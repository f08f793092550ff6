// GPTQ / RTN solve of one linear layer (quantize), all fp64 like the CPU reference (Gptq.cs, QuantGrid.cs, Cholesky.cs).
// Weights live transposed, wt [cols, rows] (element (r, c) at wt[c*rows + r]), so one thread per output row reads
// coalesced. Grid search mirrors QuantGrid.FindParams: scales rounded to fp16, Math.Round = rint (half to even).
#include "common.cuh"

#define QS_HALF_EPS 5.9604644775390625e-08     // (double)Half.Epsilon = 2^-24
#define QS_MAX_BLOCK 128                        // columns per GPTQ block (the row's block lives in local memory)
#define QS_CHOL_NB 64                           // diagonal block of the blocked Cholesky
#define QS_GRID_STEPS 100
#define QS_SHRINK_STEPS 80
#define QS_NORM 2.4

struct QGrid { double scale; int zero; };

__device__ __forceinline__ double qs_half(double x)
{
    half_t h;
    asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(x));
    return (double)h2f(h);
}

__device__ __forceinline__ int qs_quant(double x, double scale, int zero, int maxq)
{
    return (int)fmin(fmax(rint(x / scale) + zero, 0.0), (double)maxq);
}

__device__ QGrid qs_range(double xmin, double xmax, int maxq, bool sym)
{
    double scale = qs_half((xmax - xmin) / maxq);
    if (scale == 0) scale = QS_HALF_EPS;
    QGrid g;
    if (sym) { g.scale = scale; g.zero = (maxq + 1) / 2; return g; }
    int zero = (int)fmin(fmax(rint(-xmin / scale), 0.0), (double)maxq);
    if (zero == 0)
    {
        zero = 1;
        scale = qs_half(xmax / (maxq - 1));
        if (scale == 0) scale = QS_HALF_EPS;
    }
    g.scale = scale; g.zero = zero;
    return g;
}

__device__ double qs_error(const double* v, long long stride, int count, QGrid g, int maxq)
{
    double e = 0;
    for (int k = 0; k < count; k++)
    {
        double x = v[k * stride];
        e += pow(fabs(x - g.scale * (qs_quant(x, g.scale, g.zero, maxq) - g.zero)), QS_NORM);
    }
    return e;
}

// Scale and zero of the count values v[k*stride] (QuantGrid.FindParams).
__device__ QGrid qs_find_params(const double* v, long long stride, int count, int maxq, bool sym, bool mse)
{
    double xmin = 0, xmax = 0;
    for (int k = 0; k < count; k++)
    {
        double x = v[k * stride];
        if (x < xmin) xmin = x;
        if (x > xmax) xmax = x;
    }
    if (sym)
    {
        xmax = fmax(-xmin, xmax);
        if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
    QGrid best = qs_range(xmin, xmax, maxq, sym);
    if (!mse) return best;
    double best_err = qs_error(v, stride, count, best, maxq);
    for (int i = 1; i < QS_SHRINK_STEPS; i++)
    {
        double p = 1 - (double)i / QS_GRID_STEPS;
        QGrid cand = qs_range(p * xmin, p * xmax, maxq, sym);
        double err = qs_error(v, stride, count, cand, maxq);
        if (err < best_err) { best = cand; best_err = err; }
    }
    return best;
}

// wt [cols, rows] f64 = w [rows, cols] f64 transposed.
extern "C" __global__ void qs_transpose(const double* __restrict__ w, double* __restrict__ wt, int rows, int cols)
{
    PDL_START();
    long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x)
    {
        int r = (int)(idx % rows), c = (int)(idx / rows);
        wt[idx] = w[(size_t)r * cols + c];
    }
}

// dst [cols, rows] column p = src column perm[p], or zeros where dead (0 = none) marks perm[p] dead.
extern "C" __global__ void qs_gather_cols(const double* __restrict__ src, double* __restrict__ dst, const int* __restrict__ perm,
                                          const unsigned char* __restrict__ dead, int rows, int cols)
{
    PDL_START();
    long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x)
    {
        int r = (int)(idx % rows), p = (int)(idx / rows), c = perm[p];
        dst[idx] = dead != 0 && dead[c] ? 0.0 : src[(size_t)c * rows + r];
    }
}

// Groups of gs consecutive columns of wt [cols, rows]: scales/zeros [groups, rows]; q [rows, cols] levels (0 = none).
// One thread per (group, row).
extern "C" __global__ void qs_group_params(const double* __restrict__ wt, int rows, int cols, int gs, int maxq, int sym, int mse,
                                           float* __restrict__ scales, int* __restrict__ zeros, unsigned char* __restrict__ q)
{
    PDL_START();
    int groups = (cols + gs - 1) / gs;
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= (long long)groups * rows) return;
    int r = (int)(idx % rows), g = (int)(idx / rows);
    int c0 = g * gs, c1 = min(cols, c0 + gs);
    const double* v = wt + (size_t)c0 * rows + r;
    QGrid p = qs_find_params(v, rows, c1 - c0, maxq, sym != 0, mse != 0);
    scales[idx] = (float)p.scale;
    zeros[idx] = p.zero;
    if (q != 0)
        for (int c = c0; c < c1; c++) q[(size_t)r * cols + c] = (unsigned char)qs_quant(v[(size_t)(c - c0) * rows], p.scale, p.zero, maxq);
}

// Columns i1..i2 (at most QS_MAX_BLOCK) of GPTQ, one thread per row: quantizes each column in turn, spreads its scaled
// error over the block's later columns, writes the level to q [rows, cols] at the original column perm[i] and the
// scaled error to err [i2-i1, rows]. wt [cols, rows] must hold every update from the columns before i1; u [cols, cols]
// row-major is the upper Cholesky factor of H⁻¹. Group parameters: fixed (static groups, from scales/zeros of group
// perm[i]/gs), else found at each i % gs == 0 (from the updated weights of the group) and stored in scales/zeros
// [groups, rows]; a block that starts inside a group reads them back.
extern "C" __global__ void qs_gptq_block(const double* __restrict__ wt, const double* __restrict__ u, int rows, int cols, int i1, int i2,
                                         int gs, int maxq, int sym, int mse, int fixed_groups, const int* __restrict__ perm,
                                         float* __restrict__ scales, int* __restrict__ zeros, unsigned char* __restrict__ q,
                                         double* __restrict__ err)
{
    PDL_START();
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    double wl[QS_MAX_BLOCK];                               // this row's columns i1..i2
    int b = i2 - i1;
    for (int k = 0; k < b; k++) wl[k] = wt[(size_t)(i1 + k) * rows + r];
    double scale = 1;
    int zero = 0;
    for (int k = 0; k < b; k++)
    {
        int i = i1 + k;
        if (fixed_groups)
        {
            size_t at = (size_t)(perm[i] / gs) * rows + r;
            scale = scales[at];
            zero = zeros[at];
        }
        else if (i % gs == 0)
        {
            int count = min(cols, i + gs) - i;            // inside this block unless k == 0
            QGrid p = k == 0 ? qs_find_params(wt + (size_t)i * rows + r, rows, count, maxq, sym != 0, mse != 0)
                             : qs_find_params(wl + k, 1, count, maxq, sym != 0, mse != 0);
            scale = p.scale;
            zero = p.zero;
            size_t at = (size_t)(i / gs) * rows + r;
            scales[at] = (float)scale;
            zeros[at] = zero;
        }
        else if (k == 0)
        {
            size_t at = (size_t)(i / gs) * rows + r;
            scale = scales[at];
            zero = zeros[at];
        }
        double x = wl[k];
        int level = qs_quant(x, scale, zero, maxq);
        q[(size_t)r * cols + perm[i]] = (unsigned char)level;
        double e = (x - scale * (level - zero)) / u[(size_t)i * cols + i];
        err[(size_t)k * rows + r] = e;
        const double* ur = u + (size_t)i * cols + i1;
        for (int j = k + 1; j < b; j++) wl[j] = fma(ur[j], -e, wl[j]);
    }
}

// d [n] = diagonal of a [n, n].
extern "C" __global__ void qs_diagonal(const double* __restrict__ a, double* __restrict__ d, int n)
{
    PDL_START();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) d[i] = a[(size_t)i * n + i];
}

// h [n, n] = sum[perm[i], perm[j]] * f with a zero diagonal entry replaced by 1, then damp added to the diagonal.
extern "C" __global__ void qs_hessian_prepare(const double* __restrict__ sum, double* __restrict__ h, const int* __restrict__ perm,
                                              int n, double f, double damp)
{
    PDL_START();
    long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x)
    {
        int i = (int)(idx / n), j = (int)(idx % n);
        double v = sum[(size_t)perm[i] * n + perm[j]] * f;
        if (i == j)
        {
            if (v == 0) v = 1;
            v += damp;
        }
        h[idx] = v;
    }
}

// Unblocked Cholesky of the diagonal block a[k..k+b, k..k+b] (b <= QS_CHOL_NB) of a [n, n] column-major whose lower
// triangle is valid: the block becomes its lower factor (upper part zeroed). Sets *fail when not positive definite.
// One block of threads.
extern "C" __global__ void qs_chol_diag(double* __restrict__ a, int n, int k, int b, int* __restrict__ fail)
{
    PDL_START();
    __shared__ double s[QS_CHOL_NB * (QS_CHOL_NB + 1)];  // s[i*(NB+1) + c] = block element (i, c)
    const int ld = QS_CHOL_NB + 1;
    double* base = a + (size_t)k * n + k;
    for (int idx = threadIdx.x; idx < b * b; idx += blockDim.x)
    {
        int i = idx % b, c = idx / b;
        s[i * ld + c] = base[(size_t)c * n + i];
    }
    for (int j = 0; j < b; j++)
    {
        __syncthreads();
        double d = s[j * ld + j];
        if (!(d > 0))
        {
            if (threadIdx.x == 0) *fail = 1;
            return;
        }
        double l = sqrt(d);
        __syncthreads();
        if (threadIdx.x == 0) s[j * ld + j] = l;
        for (int i = j + 1 + threadIdx.x; i < b; i += blockDim.x) s[i * ld + j] /= l;
        __syncthreads();
        int m = b - j - 1;
        for (int idx = threadIdx.x; idx < m * m; idx += blockDim.x)
        {
            int i = j + 1 + idx / m, c = j + 1 + idx % m;
            if (c <= i) s[i * ld + c] -= s[i * ld + j] * s[c * ld + j];
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < b * b; idx += blockDim.x)
    {
        int i = idx % b, c = idx / b;
        base[(size_t)c * n + i] = c <= i ? s[i * ld + c] : 0.0;
    }
}

// a [n, n] = identity.
extern "C" __global__ void qs_identity(double* __restrict__ a, int n)
{
    PDL_START();
    long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x)
        a[idx] = idx % (n + 1) == 0 ? 1.0 : 0.0;
}

// u [n, n] row-major, upper: u[i, j] = x(n-1-i, n-1-j) for j >= i, x [n, n] column-major lower (x(a, b) at x[a + b*n]).
extern "C" __global__ void qs_reverse_upper(const double* __restrict__ x, double* __restrict__ u, int n)
{
    PDL_START();
    long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x)
    {
        int i = (int)(idx / n), j = (int)(idx % n);
        u[idx] = j >= i ? x[(size_t)(n - 1 - i) + (size_t)(n - 1 - j) * n] : 0.0;
    }
}

// partial[blockIdx.x] = this block's share of Σ a[i]·b[i] over n elements (blockDim.x a multiple of 32).
extern "C" __global__ void qs_dot_partial(const double* __restrict__ a, const double* __restrict__ b, long long n, double* __restrict__ partial)
{
    PDL_START();
    __shared__ double sh[32];
    double s = 0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) s += a[i] * b[i];
    s = block_reduce(s, sh, 0.0, SumOp());
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
