#include "rope.cuh"

// A step's inputs, read straight from mapped host memory (no copies on the stream). Block t < T embeds token t into
// x [T, n] f32 from table [vocab, n] f16; the other blocks copy host [count] i32 to meta and host_params [np] i32 to params.
// With feed_at > 0, token t whose host[feed_at + t] = r >= 0 takes prev[r] (an id the step before chose on the device)
// instead of host[t], in x and in meta's ids alike.
extern "C" __global__ void stage_embed(const int* __restrict__ host, int* __restrict__ meta, int count, int T, int feed_at,
    const int* __restrict__ prev, const half_t* __restrict__ table, float* __restrict__ x, int n,
    const int* __restrict__ host_params, int* __restrict__ params, int np)
{
    // Host memory holds this step's inputs before the launch and is not written by the kernel before, so it is read
    // before waiting for that kernel (each read crosses PCIe); prev, meta and x only after.
    int b = blockIdx.x, stride = (gridDim.x - T) * blockDim.x;
    int i0 = (b - T) * blockDim.x + threadIdx.x, v0 = 0, f0 = -1;
    if (b < T)
    {
        if (threadIdx.x == 0) { v0 = host[b]; if (feed_at > 0) f0 = host[feed_at + b]; }
    }
    else if (i0 < count + np)
    {
        v0 = i0 < count ? host[i0] : host_params[i0 - count];
        if (i0 < T && feed_at > 0) f0 = host[feed_at + i0];
    }
    PDL_START();
    if (b < T)
    {
        __shared__ int id_sh;
        if (threadIdx.x == 0) id_sh = f0 >= 0 ? prev[f0] : v0;
        __syncthreads();
        const half_t* src = table + (long)id_sh * n;
        float* dst = x + (long)b * n;
        if ((n & 7) == 0)   // 16-byte loads, up to 4 per thread in flight before any store (a scalar loop made 16 round trips)
        {
            int n8 = n >> 3;
            for (int i0 = threadIdx.x; i0 < n8; i0 += 4 * blockDim.x)
            {
                uint4 v[4];
#pragma unroll
                for (int u = 0; u < 4; u++)
                    if (i0 + u * blockDim.x < n8) v[u] = ((const uint4*)src)[i0 + u * blockDim.x];
#pragma unroll
                for (int u = 0; u < 4; u++)
                {
                    int i = i0 + u * blockDim.x;
                    if (i >= n8) break;
                    float f[8];
                    unpack8(v[u], f);
                    ((float4*)dst)[2 * i] = make_float4(f[0], f[1], f[2], f[3]);
                    ((float4*)dst)[2 * i + 1] = make_float4(f[4], f[5], f[6], f[7]);
                }
            }
        }
        else
            for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = h2f(src[i]);
        return;
    }
    for (int i = i0; i < count + np; i += stride)
    {
        int v = v0, f = f0;
        if (i != i0)
        {
            v = i < count ? host[i] : host_params[i - count];
            f = i < T && feed_at > 0 ? host[feed_at + i] : -1;
        }
        if (i >= count) params[i - count] = v;
        else meta[i] = f >= 0 ? prev[f] : v;
    }
}

// RMSNorm of the residual stream, one block per row (1024 threads; n % 4 == 0 and n <= 4096: one float4 per thread
// kept in registers; else passes of 4 elements or scalar). The residual adds happen in o_proj and down_proj.
// x: [rows, n] f32; w: [n] f32; out: [rows, n] f16 = x * rsqrt(mean(x^2) + eps) * w
extern "C" __global__ void __launch_bounds__(1024) rmsnorm(const float* __restrict__ x, const float* __restrict__ w,
    half_t* __restrict__ out, int n, float eps)
{
    PDL_START();
    __shared__ float sh[32];
    long row = blockIdx.x;
    const float* xr = x + row * n;
    float ss = 0.f;
    if ((n & 3) == 0 && n <= 4 * (int)blockDim.x)
    {
        int i = threadIdx.x;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f), wv = v;
        if (i < (n >> 2))
        {
            v = ((const float4*)xr)[i];
            wv = ((const float4*)w)[i];
            ss = v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
        float r = 1.0f / sqrtf(block_sum(ss, sh) / n + eps);
        if (i < (n >> 2))
        {
            uint2 o;
            o.x = (u32)f2h(v.x * r * wv.x) | ((u32)f2h(v.y * r * wv.y) << 16);
            o.y = (u32)f2h(v.z * r * wv.z) | ((u32)f2h(v.w * r * wv.w) << 16);
            ((uint2*)(out + row * n))[i] = o;
        }
        return;
    }
    if ((n & 3) == 0)
        for (int i = threadIdx.x; i < (n >> 2); i += blockDim.x)
        {
            float4 v = ((const float4*)xr)[i];
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    else
        for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    float r = 1.0f / sqrtf(block_sum(ss, sh) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[row * n + i] = f2h(xr[i] * r * w[i]);
}

// dst[r, :] = src[idx[r], :]     src: [*, n] f16; idx: [rows] i32; dst: [rows, n] f16
extern "C" __global__ void gather_rows(const half_t* __restrict__ src, const int* __restrict__ idx, half_t* __restrict__ dst, int n)
{
    PDL_START();
    long r = blockIdx.x;
    long s = idx[r];
    for (int i = threadIdx.x; i < n; i += blockDim.x) dst[r * n + i] = src[s * n + i];
}

// out[r, i] = silu(g[r, c(i)]) * u[r, c(i)]     g, u: rows of stride ld f32; out: [rows, n] f16. grid (blocks, rows).
// chunk 0: c(i) = i (gate and up side by side); chunk 8: c(i) = (i / 8) * 16 + i % 8 (runs of 8 alternating, u = g + 8).
extern "C" __global__ void silu_mul(const float* __restrict__ g, const float* __restrict__ u, half_t* __restrict__ out, int n, int ld, int chunk)
{
    PDL_START();
    long r = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    {
        int c = chunk ? (i / chunk) * 2 * chunk + i % chunk : i;
        float a = g[r * ld + c];
        out[r * n + i] = f2h(a / (1.0f + expf(-a)) * u[r * ld + c]);
    }
}

// RoPE on q and k, then K and V written into the paged cache. One block per (token, head of q then k).
// q: [T, H*D] f32 -> qh: [T, H*D] f16 rotated; k, v: [T, KH*D] f32 (q, k, v rows of stride ld floats);
// kc, vc: [slots, KH*D] f16 (one layer);
// pos, slot: [T] i32; inv_freq: [D/2] f64; style 0 = rotate-half pairs (i, i+D/2), 1 = interleaved (2i, 2i+1).
// The angle is reduced modulo 2*pi in double, then sin/cos in float. kh, vh: [T, KH*D] f16 contiguous
// copies of the rotated K and of V (for attention through GEMMs), or null. A token of slot < 0 (padding of a decode
// graph's bucket) writes its q only.
extern "C" __global__ void rope_kv(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                   half_t* __restrict__ qh, half_t* __restrict__ kc, half_t* __restrict__ vc,
                                   const int* __restrict__ pos, const int* __restrict__ slot, const double* __restrict__ inv_freq,
                                   int H, int KH, int D, int style, half_t* __restrict__ kh_out, half_t* __restrict__ vh_out, int ld)
{
    PDL_START();
    long t = blockIdx.x;
    int h = blockIdx.y;
    long s = slot[t];
    if (h >= H && s < 0) return;
    if (h < H) rope_head(q + t * ld + h * D, qh + (t * H + h) * D, nullptr, (double)pos[t], inv_freq, D, style);
    else
    {
        int kh = h - H;
        rope_head(k + t * ld + kh * D, kc + (s * KH + kh) * D, kh_out ? kh_out + (t * KH + kh) * D : nullptr, (double)pos[t], inv_freq, D, style);
        for (int i = threadIdx.x; i < D; i += blockDim.x)
        {
            half_t x = f2h(v[t * ld + kh * D + i]);
            vc[(s * KH + kh) * D + i] = x;
            if (vh_out) vh_out[(t * KH + kh) * D + i] = x;
        }
    }
}

// y[r, i] = x[r, map[i]], or 0 where map[i] < 0     x: [rows, nin] f16; y: [rows, nout] f16; map: [nout] i32 (act-order's
// permutation, the int4 GEMM's slot order, or both in one gather)
extern "C" __global__ void gather_cols(const half_t* __restrict__ x, const int* __restrict__ map, half_t* __restrict__ y, int nout, int nin)
{
    PDL_START();
    long r = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < nout; i += gridDim.x * blockDim.x)
    {
        int c = map[i];
        y[r * nout + i] = c >= 0 ? x[r * nin + c] : (half_t)0;
    }
}

// Causal softmax of one sequence's scores, one block per (row i, head h): P[h, i, j] = softmax_j<=i(S[h, i, :]), 0 for j > i.
// S: [H, L, L] f32 (already scaled); P: [H, L, L] f16.
extern "C" __global__ void causal_softmax(const float* __restrict__ S, half_t* __restrict__ P, int L)
{
    PDL_START();
    __shared__ float sh[32];
    long row = (long)blockIdx.y * L + blockIdx.x;
    int n = blockIdx.x + 1;
    const float* s = S + row * L;
    half_t* p = P + row * L;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, s[j]);
    mx = warp_max(mx);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = (threadIdx.x & 31) < (blockDim.x >> 5) ? sh[threadIdx.x & 31] : NEG_INF;
    mx = warp_max(mx);
    float sum = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) sum += __expf(s[j] - mx);
    float inv = 1.f / block_sum(sum, sh);
    for (int j = threadIdx.x; j < L; j += blockDim.x) p[j] = f2h(j < n ? __expf(s[j] - mx) * inv : 0.f);
}
