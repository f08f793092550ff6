#include "common.cuh"

// GPTQ int4 with rows already in group order: W[i, o] = s[g, o] * (q[i, o] - (zs[g, o] + 1)), g = i / gs.
// qw: [in/8, out] u32 (row 8r+j in bits 4j..4j+3); qz: [groups, out/8] u32; sc: [groups, out] f16.

// Fused dequantise + multiply for a few rows (decode). x: [M, in] f16; y: [M, out] f32.
// Block of 256 threads covers 32 output columns: lane c = tid & 7 owns 4 adjacent columns,
// slice = tid >> 3 owns a contiguous run of packed rows, read U rows at a time (U 16-byte loads in flight);
// each weight is dequantised once and used for all M rows; the 32 slices are summed by warp shuffles
// (4 slices per warp) and then across the 8 warps in shared memory.
#define U 16
template <int M>
__device__ __forceinline__ void gemv(const half_t* __restrict__ x, const u32* __restrict__ qw, const u32* __restrict__ qz,
                                     const half_t* __restrict__ sc, float* __restrict__ y, int in, int out, int gs)
{
    __shared__ float red[8][M][33];
    int c = threadIdx.x & 7, slice = threadIdx.x >> 3;
    int col0 = blockIdx.x * 32 + c * 4;
    int rows = in >> 3, rpg = gs >> 3;
    int per = (rows + 31) / 32;
    int r0 = slice * per, r1 = min(rows, r0 + per);
    float acc[M][4];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[m][j] = 0.f;

    if (col0 < out)
    {
        int gend = -1;
        float s[4], zs[4];
        for (int r = r0; r < r1; r += U)
        {
            uint4 q[U];
#pragma unroll
            for (int u = 0; u < U; u++)
                if (r + u < r1) q[u] = __ldg((const uint4*)(qw + (long)(r + u) * out + col0));
#pragma unroll
            for (int u = 0; u < U; u++)
            {
                if (r + u >= r1) break;
                if (r + u >= gend)
                {
                    int g = (r + u) / rpg;
                    gend = (g + 1) * rpg;
                    uint2 sv = __ldg((const uint2*)(sc + (long)g * out + col0));
                    s[0] = h2f((half_t)(sv.x & 0xffff)); s[1] = h2f((half_t)(sv.x >> 16));
                    s[2] = h2f((half_t)(sv.y & 0xffff)); s[3] = h2f((half_t)(sv.y >> 16));
                    u32 zw = __ldg(qz + (long)g * (out >> 3) + (col0 >> 3)) >> ((col0 & 7) * 4);
#pragma unroll
                    for (int j = 0; j < 4; j++) zs[j] = (float)(((zw >> (4 * j)) & 15) + 1) * s[j];
                }
                u32 qv[4] = {q[u].x, q[u].y, q[u].z, q[u].w};
                float w[4][8];
#pragma unroll
                for (int cc = 0; cc < 4; cc++)
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        w[cc][j] = (__int_as_float(0x4B000000 | ((qv[cc] >> (4 * j)) & 15)) - 8388608.f) * s[cc] - zs[cc];
#pragma unroll
                for (int m = 0; m < M; m++)
                {
                    uint4 xv = __ldg((const uint4*)(x + (long)m * in + ((r + u) << 3)));
                    u32 xw[4] = {xv.x, xv.y, xv.z, xv.w};
                    float xf[8];
#pragma unroll
                    for (int j = 0; j < 4; j++)
                    {
                        xf[2 * j] = h2f((half_t)(xw[j] & 0xffff));
                        xf[2 * j + 1] = h2f((half_t)(xw[j] >> 16));
                    }
#pragma unroll
                    for (int cc = 0; cc < 4; cc++)
#pragma unroll
                        for (int j = 0; j < 8; j++) acc[m][cc] += xf[j] * w[cc][j];
                }
            }
        }
    }
    int warp = threadIdx.x >> 5;
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int j = 0; j < 4; j++)
        {
            float v = acc[m][j];
            v += __shfl_xor_sync(0xffffffffu, v, 8);
            v += __shfl_xor_sync(0xffffffffu, v, 16);
            if ((threadIdx.x & 31) < 8) red[warp][m][c * 4 + j] = v;
        }
    __syncthreads();
    for (int i = threadIdx.x; i < M * 32; i += blockDim.x)
    {
        int m = i >> 5, col = i & 31;
        int o = blockIdx.x * 32 + col;
        float t = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) t += red[k][m][col];
        if (o < out) y[(long)m * out + o] = t;
    }
}

#define GEMV(M) \
extern "C" __global__ void __launch_bounds__(256) gptq_gemv_##M(const half_t* x, const u32* qw, const u32* qz, const half_t* sc, float* y, int in, int out, int gs) \
{ gemv<M>(x, qw, qz, sc, y, in, out, gs); }
GEMV(1) GEMV(2) GEMV(3) GEMV(4) GEMV(5) GEMV(6) GEMV(7) GEMV(8)
GEMV(9) GEMV(10) GEMV(11) GEMV(12) GEMV(13) GEMV(14) GEMV(15) GEMV(16)

// Dequantise to fp16 for the GEMM path. wd: [in, out] f16 row-major. One thread per (packed row, column).
extern "C" __global__ void gptq_dequant(const u32* __restrict__ qw, const u32* __restrict__ qz, const half_t* __restrict__ sc,
                                        half_t* __restrict__ wd, int in, int out, int gs)
{
    long total = (long)(in >> 3) * out;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total; idx += (long)gridDim.x * blockDim.x)
    {
        int o = (int)(idx % out);
        long r = idx / out;
        long g = (r << 3) / gs;
        u32 q = qw[idx];
        float s = h2f(sc[g * out + o]);
        float z = (float)(((qz[g * (out >> 3) + (o >> 3)] >> (4 * (o & 7))) & 15) + 1);
#pragma unroll
        for (int j = 0; j < 8; j++) wd[((r << 3) + j) * out + o] = f2h(s * ((float)((q >> (4 * j)) & 15) - z));
    }
}
