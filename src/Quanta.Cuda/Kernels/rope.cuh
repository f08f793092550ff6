// Rotary position embedding shared by rope_kv (elementwise.cu) and the fused decode attention (attention.cu).
#pragma once
#include "common.cuh"

// sin and cos of position p times inv_freq[j]: the angle reduced modulo 2*pi in double, then sin/cos in float.
__device__ __forceinline__ void rope_sincos(double p, const double* __restrict__ inv_freq, int j, float& sn, float& cs)
{
    double a = p * inv_freq[j];
    a -= floor(a * 0.15915494309189535) * 6.283185307179586;
    sincosf((float)a, &sn, &cs);
}

// The pair j of a head of D dims: style 0 = rotate-half (j, j + D/2), 1 = interleaved (2j, 2j + 1).
__device__ __forceinline__ void rope_pair(int j, int D, int style, int& ia, int& ib)
{
    ia = style == 0 ? j : 2 * j;
    ib = style == 0 ? j + D / 2 : 2 * j + 1;
}

// dst (f16) = src (f32, one head of D dims) rotated to position p, by the threads of a block.
__device__ __forceinline__ void rope_head(const float* __restrict__ src, half_t* dst, double p, const double* __restrict__ inv_freq,
                                          int D, int style)
{
    for (int j = threadIdx.x; j < D / 2; j += blockDim.x)
    {
        float sn, cs;
        rope_sincos(p, inv_freq, j, sn, cs);
        int ia, ib;
        rope_pair(j, D, style, ia, ib);
        float x0 = src[ia], x1 = src[ib];
        dst[ia] = f2h(x0 * cs - x1 * sn);
        dst[ib] = f2h(x1 * cs + x0 * sn);
    }
}
