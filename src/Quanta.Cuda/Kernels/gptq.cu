#include "common.cuh"

// GPTQ int4 with rows already in group order: W[i, o] = s[g, o] * (q[i, o] - (zs[g, o] + 1)), g = i / gs.
// qw: [in/8, out] u32 (row 8r+j in bits 4j..4j+3); qz: [groups, out/8] u32; sc: [groups, out] f16.

__device__ __forceinline__ u32 hsub2(u32 a, u32 b) { u32 d; asm("sub.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b)); return d; }
__device__ __forceinline__ u32 hmul2(u32 a, u32 b) { u32 d; asm("mul.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b)); return d; }
__device__ __forceinline__ u32 hfma2(u32 a, u32 b, u32 c) { u32 d; asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c)); return d; }
__device__ __forceinline__ float hsum2(u32 a) { return h2f((half_t)(a & 0xffff)) + h2f((half_t)(a >> 16)); }

#define U 8
// Sums packed rows [r0, r1) of the 4 columns at col0 into acc[m][0..3] (zeroed here) for the M rows of x:
// U 16-byte loads in flight, scales/zeros reloaded when a group starts, nibbles dequantised once in half2
// ((q - z) * s by the 0x6400 trick) and used for all M rows; 8 products summed in half2, then in fp32.
template <int M>
__device__ __forceinline__ void gemv_rows(const half_t* __restrict__ x, const u32* __restrict__ qw, const u32* __restrict__ qz,
                                          const half_t* __restrict__ sc, int in, int out, int rpg, int col0, int r0, int r1,
                                          float (&acc)[M][4])
{
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[m][j] = 0.f;
    if (col0 < out)
    {
        int gend = -1;
        u32 s2[4], z2[4];
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
                    u32 sb[4] = {sv.x & 0xffff, sv.x >> 16, sv.y & 0xffff, sv.y >> 16};
                    u32 zw = __ldg(qz + (long)g * (out >> 3) + (col0 >> 3)) >> ((col0 & 7) * 4);
#pragma unroll
                    for (int j = 0; j < 4; j++)
                    {
                        s2[j] = sb[j] | (sb[j] << 16);
                        u32 zb = 0x6400u + ((zw >> (4 * j)) & 15) + 1;   // 1024 + zero
                        z2[j] = zb | (zb << 16);
                    }
                }
                u32 qv[4] = {q[u].x, q[u].y, q[u].z, q[u].w};
                u32 w[4][4];
#pragma unroll
                for (int cc = 0; cc < 4; cc++)
#pragma unroll
                    for (int k = 0; k < 4; k++)
                        w[cc][k] = hmul2(hsub2(((qv[cc] >> (4 * k)) & 0x000F000Fu) | 0x64006400u, z2[cc]), s2[cc]);
#pragma unroll
                for (int m = 0; m < M; m++)
                {
                    uint4 xv = __ldg((const uint4*)(x + (long)m * in + ((r + u) << 3)));
                    u32 xp[4] = {__byte_perm(xv.x, xv.z, 0x5410), __byte_perm(xv.x, xv.z, 0x7632),
                                 __byte_perm(xv.y, xv.w, 0x5410), __byte_perm(xv.y, xv.w, 0x7632)};
#pragma unroll
                    for (int cc = 0; cc < 4; cc++)
                    {
                        u32 a = 0;
#pragma unroll
                        for (int k = 0; k < 4; k++) a = hfma2(xp[k], w[cc][k], a);
                        acc[m][cc] += hsum2(a);
                    }
                }
            }
        }
    }
}

// Fused dequantise + multiply for a few rows (decode). x: [M, in] f16; y: [M, ldy] f32 (columns 0..out).
// Block of 256 threads covers 16 output columns: lane c = tid & 3 owns 4 adjacent columns,
// slice = tid >> 2 owns a contiguous run of packed rows, read U rows at a time (U 16-byte loads in flight).
// Nibbles become half2 pairs (rows j, j+4) by the 0x6400 trick; each weight is dequantised once in
// half2 ((q - z) * s, exact up to the product's rounding) and used for all M rows; the 8 products of a
// row and column are summed in half2, then in fp32. Slices are summed by warp shuffles, warps in shared memory.
template <int M>
__device__ __forceinline__ void gemv(const half_t* __restrict__ x, const u32* __restrict__ qw, const u32* __restrict__ qz,
                                     const half_t* __restrict__ sc, float* __restrict__ y, int in, int out, int gs, int ldy)
{
    __shared__ float red[8][M][17];
    int c = threadIdx.x & 3, slice = threadIdx.x >> 2;
    int col0 = blockIdx.x * 16 + c * 4;
    int rows = in >> 3, rpg = gs >> 3;
    int per = (rows + 63) / 64;
    int r0 = slice * per, r1 = min(rows, r0 + per);
    float acc[M][4];
    gemv_rows<M>(x, qw, qz, sc, in, out, rpg, col0, r0, r1, acc);
    int warp = threadIdx.x >> 5;
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int j = 0; j < 4; j++)
        {
            float v = acc[m][j];
            v += __shfl_xor_sync(0xffffffffu, v, 4);
            v += __shfl_xor_sync(0xffffffffu, v, 8);
            v += __shfl_xor_sync(0xffffffffu, v, 16);
            if ((threadIdx.x & 31) < 4) red[warp][m][c * 4 + j] = v;
        }
    __syncthreads();
    for (int i = threadIdx.x; i < M * 16; i += blockDim.x)
    {
        int m = i >> 4, col = i & 15;
        int o = blockIdx.x * 16 + col;
        float t = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) t += red[k][m][col];
        if (o < out) y[(long)m * ldy + o] = t;
    }
}

#define GEMV(M) \
extern "C" __global__ void __launch_bounds__(256) gptq_gemv_##M(const half_t* x, const u32* qw, const u32* qz, const half_t* sc, float* y, int in, int out, int gs, int ldy) \
{ gemv<M>(x, qw, qz, sc, y, in, out, gs, ldy); }
GEMV(1) GEMV(2) GEMV(3) GEMV(4) GEMV(5) GEMV(6) GEMV(7) GEMV(8)
GEMV(9) GEMV(10) GEMV(11) GEMV(12) GEMV(13) GEMV(14) GEMV(15) GEMV(16)

// Split-K GEMV for M <= 8 rows; y must be zero on entry (partial sums are added atomically).
// Block of 256 threads = 8 warps over 128 output columns: lane owns 4 adjacent columns, so one warp-wide
// 16-byte load reads 512 contiguous bytes of a packed row. blockIdx.y picks a chunk of packed rows, warp w
// a run of chunk/8 of them, read U at a time; scales/zeros per group as in gemv above.
template <int M>
__device__ __forceinline__ void gemv_splitk(const half_t* __restrict__ x, const u32* __restrict__ qw, const u32* __restrict__ qz,
                                            const half_t* __restrict__ sc, float* __restrict__ y, int in, int out, int gs, int ldy, int chunk)
{
    __shared__ __align__(16) float red[8][M][128];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int col0 = blockIdx.x * 128 + lane * 4;
    int rows = in >> 3, rpg = gs >> 3, per = chunk >> 3;
    int r0 = blockIdx.y * chunk + warp * per, r1 = min(rows, r0 + per);
    float acc[M][4];
    gemv_rows<M>(x, qw, qz, sc, in, out, rpg, col0, r0, r1, acc);
#pragma unroll
    for (int m = 0; m < M; m++)
    {
        float4 v;
        v.x = acc[m][0]; v.y = acc[m][1]; v.z = acc[m][2]; v.w = acc[m][3];
        *(float4*)&red[warp][m][lane * 4] = v;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < M * 128; i += blockDim.x)
    {
        int m = i >> 7, col = i & 127;
        int o = blockIdx.x * 128 + col;
        if (o >= out) continue;
        float t = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) t += red[k][m][col];
        atomicAdd(y + (long)m * ldy + o, t);
    }
}

#define GEMV_SPLITK(M) \
extern "C" __global__ void __launch_bounds__(256) gptq_gemv_splitk_##M(const half_t* x, const u32* qw, const u32* qz, const half_t* sc, float* y, int in, int out, int gs, int ldy, int chunk) \
{ gemv_splitk<M>(x, qw, qz, sc, y, in, out, gs, ldy, chunk); }
GEMV_SPLITK(1) GEMV_SPLITK(2) GEMV_SPLITK(3) GEMV_SPLITK(4) GEMV_SPLITK(5) GEMV_SPLITK(6) GEMV_SPLITK(7) GEMV_SPLITK(8)

// Dequantise to fp16 for the GEMM path. wd: [in, out] f16 row-major. One thread per (packed row, column pair):
// two u32 read, eight half2 written (out % 8 == 0).
extern "C" __global__ void gptq_dequant(const u32* __restrict__ qw, const u32* __restrict__ qz, const half_t* __restrict__ sc,
                                        half_t* __restrict__ wd, int in, int out, int gs)
{
    int half_out = out >> 1;
    long total = (long)(in >> 3) * half_out;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total; idx += (long)gridDim.x * blockDim.x)
    {
        int o = (int)(idx % half_out) * 2;
        long r = idx / half_out;
        long g = (r << 3) / gs;
        uint2 q = __ldg((const uint2*)(qw + r * out + o));
        u32 s = __ldg((const u32*)(sc + g * out + o));
        u32 zw = __ldg(qz + g * (out >> 3) + (o >> 3)) >> (4 * (o & 7));
        u32 zb0 = 0x6400u + (zw & 15) + 1, zb1 = 0x6400u + ((zw >> 4) & 15) + 1;
        u32 z2 = zb0 | (zb1 << 16);
        u32* dst = (u32*)(wd + (r << 3) * out + o);
#pragma unroll
        for (int j = 0; j < 8; j++)
        {
            u32 n = ((q.x >> (4 * j)) & 15) | (((q.y >> (4 * j)) & 15) << 16);
            dst[(long)j * (out >> 1)] = hmul2(hsub2(n | 0x64006400u, z2), s);
        }
    }
}
