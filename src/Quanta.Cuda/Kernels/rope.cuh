// Rotary position embedding shared by rope_kv (elementwise.cu) and the fused decode attention (attention.cu).
#pragma once
#include "common.cuh"

// dst (f16) = src (f32, one head of D dims) rotated to position p, by the threads of a block; dst2, when not null, gets
// the same values. Pairs: style 0 = rotate-half (j, j + D/2), 1 = interleaved (2j, 2j + 1). The angle p * inv_freq[j]
// is reduced modulo 2*pi in double, then sin/cos in float.
__device__ __forceinline__ void rope_head(const float* __restrict__ src, half_t* dst, half_t* dst2, double p,
                                          const double* __restrict__ inv_freq, int D, int style)
{
    for (int j = threadIdx.x; j < D / 2; j += blockDim.x)
    {
        double a = p * inv_freq[j];
        a -= floor(a * 0.15915494309189535) * 6.283185307179586;
        float sn, cs;
        sincosf((float)a, &sn, &cs);
        int ia = style == 0 ? j : 2 * j, ib = style == 0 ? j + D / 2 : 2 * j + 1;
        float x0 = src[ia], x1 = src[ib];
        half_t ra = f2h(x0 * cs - x1 * sn), rb = f2h(x1 * cs + x0 * sn);
        dst[ia] = ra;
        dst[ib] = rb;
        if (dst2) { dst2[ia] = ra; dst2[ib] = rb; }
    }
}
