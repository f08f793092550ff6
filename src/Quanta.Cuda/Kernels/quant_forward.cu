// fp32 calibration forward of one decoder layer (quantize): RMSNorm, rotate-half RoPE, causal softmax, SiLU·mul,
// residual adds, and the fp64 side of the Hessian accumulation. GEMMs go through cuBLAS.
#include "common.cuh"

// y [rows, n] = x * (1 / sqrt(mean(x²) + eps)) * w; x, y [rows, n] f32, w [n] f32. One block per row.
extern "C" __global__ void qf_rmsnorm(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y, int n, float eps)
{
    PDL_START();
    __shared__ float sh[32];
    const float* xr = x + (size_t)blockIdx.x * n;
    float* yr = y + (size_t)blockIdx.x * n;
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i] * xr[i];
    s = block_sum(s, sh);
    float scale = 1.f / sqrtf(s / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
}

// Rotate-half RoPE in place on x [len, heads, hd] f32 of one sample (positions 0..len-1); inv_freq [hd/2] f32.
// Grid (len, heads).
extern "C" __global__ void qf_rope(float* __restrict__ x, const float* __restrict__ inv_freq, int heads, int hd)
{
    PDL_START();
    int t = blockIdx.x, half = hd / 2;
    float* row = x + ((size_t)t * heads + blockIdx.y) * hd;
    for (int j = threadIdx.x; j < half; j += blockDim.x)
    {
        float s, c;
        sincosf((float)t * inv_freq[j], &s, &c);
        float a = row[j], b = row[j + half];
        row[j] = a * c - b * s;
        row[j + half] = b * c + a * s;
    }
}

// In place on s [heads, len, len] f32: row q of each head becomes softmax(s[q, 0..q]) with zeros after q.
// Grid (len, heads).
extern "C" __global__ void qf_causal_softmax(float* __restrict__ s, int len)
{
    PDL_START();
    __shared__ float sh[32];
    int q = blockIdx.x;
    float* r = s + ((size_t)blockIdx.y * len + q) * len;
    float m = NEG_INF;
    for (int u = threadIdx.x; u <= q; u += blockDim.x) m = fmaxf(m, r[u]);
    m = block_reduce(m, sh, NEG_INF, MaxOp());
    float sum = 0.f;
    for (int u = threadIdx.x; u <= q; u += blockDim.x)
    {
        float e = expf(r[u] - m);
        r[u] = e;
        sum += e;
    }
    sum = block_sum(sum, sh);
    float inv = 1.f / sum;
    for (int u = threadIdx.x; u < len; u += blockDim.x) r[u] = u <= q ? r[u] * inv : 0.f;
}

// g = silu(g) * u over n f32 elements.
extern "C" __global__ void qf_silu_mul(float* __restrict__ g, const float* __restrict__ u, long long n)
{
    PDL_START();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        float v = g[i];
        g[i] = v / (1.f + expf(-v)) * u[i];
    }
}

// out = a + b over n f32 elements (out may be a or b).
extern "C" __global__ void qf_add(const float* a, const float* b, float* out, long long n)
{
    PDL_START();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

// y = (double)x over n elements.
extern "C" __global__ void qf_to_f64(const float* __restrict__ x, double* __restrict__ y, long long n)
{
    PDL_START();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = (double)x[i];
}

// a [n, n] f64 column-major with its lower triangle valid: copies it onto the upper triangle (a becomes symmetric).
extern "C" __global__ void qf_symmetrize(double* __restrict__ a, int n)
{
    PDL_START();
    long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x)
    {
        int i = (int)(idx % n), j = (int)(idx / n);       // element (i, j) at a[i + j*n]
        if (i < j) a[idx] = a[j + (size_t)i * n];
    }
}
