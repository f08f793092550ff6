// Rotary position embedding shared by rope_kv (elementwise.cu) and the fused decode attention (attention.cu).
#pragma once
#include "common.cuh"

// sin and cos of pair j's angle p * inv_freq[j], reduced modulo 2*pi in double.
__device__ __forceinline__ void rope_angle(double p, const double* __restrict__ inv_freq, int j, float& sn, float& cs)
{
    double a = p * inv_freq[j];
    a -= floor(a * 0.15915494309189535) * 6.283185307179586;
    sincosf((float)a, &sn, &cs);
}

// Pair j of src (f32, one head of D dims) rotated by (sn, cs) into dst (f16) and, when not null, dst2. Pairs: style
// 0 = rotate-half (j, j + D/2), 1 = interleaved (2j, 2j + 1).
__device__ __forceinline__ void rope_pair(const float* __restrict__ src, half_t* dst, half_t* dst2, int j, int D, int style,
                                          float sn, float cs)
{
    int ia = style == 0 ? j : 2 * j, ib = style == 0 ? j + D / 2 : 2 * j + 1;
    float x0 = src[ia], x1 = src[ib];
    half_t ra = f2h(x0 * cs - x1 * sn), rb = f2h(x1 * cs + x0 * sn);
    dst[ia] = ra;
    dst[ib] = rb;
    if (dst2) { dst2[ia] = ra; dst2[ib] = rb; }
}

// dst (f16) = src (f32, one head of D dims) rotated to position p, by the threads of a block; dst2, when not null, gets
// the same values.
__device__ __forceinline__ void rope_head(const float* __restrict__ src, half_t* dst, half_t* dst2, double p,
                                          const double* __restrict__ inv_freq, int D, int style)
{
    for (int j = threadIdx.x; j < D / 2; j += blockDim.x)
    {
        float sn, cs;
        rope_angle(p, inv_freq, j, sn, cs);
        rope_pair(src, dst, dst2, j, D, style, sn, cs);
    }
}
