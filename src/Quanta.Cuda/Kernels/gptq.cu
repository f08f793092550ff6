#include "common.cuh"

// GPTQ int4 with rows already in group order: W[i, o] = s[g, o] * (q[i, o] - (zs[g, o] + 1)), g = i / gs.
// qw: [in/8, out] u32 (row 8r+j in bits 4j..4j+3); qz: [groups, out/8] u32; sc: [groups, out] f16.

// Fused dequantise + multiply for a few rows (decode). x: [M, in] f16; y: [M, out] f32.
// Block of 256 threads covers 32 output columns: lane c = tid & 7 owns 4 adjacent columns,
// slice = tid >> 3 owns a contiguous run of packed rows; the 32 slices are summed in shared memory.
template <int M>
__device__ __forceinline__ void gemv(const half_t* __restrict__ x, const u32* __restrict__ qw, const u32* __restrict__ qz,
                                     const half_t* __restrict__ sc, float* __restrict__ y, int in, int out, int gs)
{
    __shared__ float red[32][M][33];
    int c = threadIdx.x & 7, slice = threadIdx.x >> 3;
    int col0 = blockIdx.x * 32 + c * 4;
    int rows = in >> 3;
    int per = (rows + 31) / 32;
    int r0 = slice * per, r1 = min(rows, r0 + per);
    float acc[M][4];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[m][j] = 0.f;

    if (col0 < out)
    {
        int g = -1;
        float s[4], z[4];
        for (int r = r0; r < r1; r++)
        {
            int gr = (r << 3) / gs;
            if (gr != g)
            {
                g = gr;
                uint2 sv = *(const uint2*)(sc + (long)g * out + col0);
                s[0] = h2f((half_t)(sv.x & 0xffff)); s[1] = h2f((half_t)(sv.x >> 16));
                s[2] = h2f((half_t)(sv.y & 0xffff)); s[3] = h2f((half_t)(sv.y >> 16));
                u32 zw = qz[(long)g * (out >> 3) + (col0 >> 3)] >> ((col0 & 7) * 4);
#pragma unroll
                for (int j = 0; j < 4; j++) z[j] = (float)(((zw >> (4 * j)) & 15) + 1);
            }
            uint4 q = *(const uint4*)(qw + (long)r * out + col0);
            u32 qv[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
            for (int m = 0; m < M; m++)
            {
                uint4 xv = *(const uint4*)(x + (long)m * in + (r << 3));
                u32 xw[4] = {xv.x, xv.y, xv.z, xv.w};
                float xf[8];
                float sx = 0.f;
#pragma unroll
                for (int j = 0; j < 4; j++)
                {
                    xf[2 * j] = h2f((half_t)(xw[j] & 0xffff));
                    xf[2 * j + 1] = h2f((half_t)(xw[j] >> 16));
                    sx += xf[2 * j] + xf[2 * j + 1];
                }
#pragma unroll
                for (int cc = 0; cc < 4; cc++)
                {
                    float d = 0.f;
#pragma unroll
                    for (int j = 0; j < 8; j++) d += xf[j] * (float)((qv[cc] >> (4 * j)) & 15);
                    acc[m][cc] += s[cc] * (d - z[cc] * sx);
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int j = 0; j < 4; j++) red[slice][m][c * 4 + j] = acc[m][j];
    __syncthreads();
    for (int i = threadIdx.x; i < M * 32; i += blockDim.x)
    {
        int m = i >> 5, col = i & 31;
        int o = blockIdx.x * 32 + col;
        float t = 0.f;
        for (int k = 0; k < 32; k++) t += red[k][m][col];
        if (o < out) y[(long)m * out + o] = t;
    }
}

#define GEMV(M) \
extern "C" __global__ void __launch_bounds__(256) gptq_gemv_##M(const half_t* x, const u32* qw, const u32* qz, const half_t* sc, float* y, int in, int out, int gs) \
{ gemv<M>(x, qw, qz, sc, y, in, out, gs); }
GEMV(1) GEMV(2) GEMV(3) GEMV(4) GEMV(5) GEMV(6) GEMV(7) GEMV(8)

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
