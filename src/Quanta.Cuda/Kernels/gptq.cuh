// Shared by gptq_pack.cu (load-time repacking, dequantisation) and gptq.cu (the fused kernels).
#pragma once
#include "common.cuh"

// GPTQ int4 in Quanta's tiled layout, built on the GPU at load time from AutoGPTQ tensors whose input rows
// are already in group order (act-order permuted):
//   qt: [ntiles = ceil(out/16), ksteps = ceil(in/64), 32 lanes] uint4. Lane (g = lane/4, t = lane%4) of tile
//       n0 = 16*tile, step k0 = 64*kstep owns features n0+g and n0+g+8 and inputs k0+16t .. k0+16t+15.
//       Word j (0..3) holds inputs k0+16t+4j+(0..3); register r of it is the nibble pair at bits 4r and 16+4r:
//       r=0: feature g, inputs +0,+1   r=1: feature g+8, +0,+1   r=2: feature g, +2,+3   r=3: feature g+8, +2,+3.
//       That is the A fragment (16 features x 16 k) of mma.m16n8k16 for sub-step j, with the k slots
//       (2t, 2t+1, 2t+8, 2t+9) standing for inputs 16t+4j+(0, 1, 2, 3), so each lane reads its x contiguously.
//       Features or inputs past the edge hold nibble 0 (and meet x = 0 or are never stored).
//   sz: [groups, ntiles*16] u32 = half2(scale, 1024 + zero + 1): (1024 + q) - zf = q - (zero + 1) exactly.
// The group size is a multiple of 16 (a lane's 16 inputs share one group); in % 16 == 0.

__device__ __forceinline__ u32 hsub2(u32 a, u32 b) { u32 d; asm("sub.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b)); return d; }
__device__ __forceinline__ u32 hmul2(u32 a, u32 b) { u32 d; asm("mul.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b)); return d; }

// (q & MASK) | 0x6400 in each half in one lop3: the nibble at bits 0-3 (16-19) becomes the f16 1024 + q, the one at
// bits 4-7 (20-23) 1024 + 16q. Written as lop3 because the compiler otherwise spends an AND and an OR (the machine
// instruction takes one immediate; ptxas keeps the other constant in a register).
template <u32 MASK>
__device__ __forceinline__ u32 nib_magic(u32 q)
{
    u32 d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(q), "n"(MASK), "n"(0x64006400u));
    return d;
}

// (q - zero - 1) * scale for the 8 weights of one word, as the four A registers of a sub-step.
__device__ __forceinline__ void dequant_word(u32 q, u32 za, u32 sa, u32 zb, u32 sb, u32 (&a)[4])
{
    u32 h = q >> 8;
    a[0] = hmul2(hsub2(nib_magic<0x000F000Fu>(q), za), sa);
    a[1] = hmul2(hsub2(nib_magic<0x000F000Fu>(q >> 4), zb), sb);
    a[2] = hmul2(hsub2(nib_magic<0x000F000Fu>(h), za), sa);
    a[3] = hmul2(hsub2(nib_magic<0x000F000Fu>(h >> 4), zb), sb);
}

__device__ __forceinline__ uint4 ld_stream(const uint4* p)
{
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

__device__ __forceinline__ void mma16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int WU>
__device__ __forceinline__ void load_words(uint4 (&q)[WU], const uint4* wp, int s, int s1)
{
#pragma unroll
    for (int u = 0; u < WU; u++)
        if (s + u < s1) q[u] = ld_stream(wp + (long)(s + u) * 32);
}


// End of a fused kernel: the ks K slices of a tile (warps w, w+1, .. of a block) are summed through red, then the
// first warp of each tile stores: y [m, ldy] f32 (added atomically when gridDim.y > 1 or atomic != 0), or with SILU
// act [m, ldy] f16 = silu(gate) * up of columns in alternating runs of 8 (8 gate then the same 8 up per tile).
template <int MT, int TPW, bool SILU, int NW = 8>
__device__ __forceinline__ void w4_finish(float (&acc)[TPW][MT][4], float (&red)[NW][TPW * MT * 4][32], float* __restrict__ y,
                                          int m, int out, int ldy, int ks, int tile0, int atomic)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, ntiles = (out + 15) >> 4;
    if (ks > 1)
    {
#pragma unroll
        for (int p = 0; p < TPW; p++)
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int i = 0; i < 4; i++) red[warp][(p * MT + mt) * 4 + i][lane] = acc[p][mt][i];
        __syncthreads();
        if (warp % ks == 0)
            for (int w = 1; w < ks; w++)
#pragma unroll
                for (int p = 0; p < TPW; p++)
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
#pragma unroll
                        for (int i = 0; i < 4; i++) acc[p][mt][i] += red[warp + w][(p * MT + mt) * 4 + i][lane];
    }
    if (warp % ks != 0) return;
    if (SILU)
    {
        // Columns are gate/up in alternating runs of 8 (a tile = 8 gate then the same 8 up columns): the lane holds
        // gate and up of feature tile*8 + g for rows 2t, 2t+1 and writes silu(gate) * up to y as f16 [m, ldy].
#pragma unroll
        for (int p = 0; p < TPW; p++)
        {
            if (tile0 + p >= ntiles) break;
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                {
                    int row = mt * 8 + 2 * t + h;
                    if (row >= m || (tile0 + p) * 16 + g >= out) continue;
                    float gate = acc[p][mt][h], up = acc[p][mt][2 + h];
                    ((half_t*)y)[(long)row * ldy + (tile0 + p) * 8 + g] = f2h(gate / (1.0f + __expf(-gate)) * up);
                }
        }
        return;
    }
    bool add = atomic || gridDim.y > 1;
#pragma unroll
    for (int p = 0; p < TPW; p++)
    {
        if (tile0 + p >= ntiles) break;
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                int row = mt * 8 + 2 * t + (i & 1), col = (tile0 + p) * 16 + g + (i >> 1) * 8;
                if (row >= m || col >= out) continue;
                float* q = y + (long)row * ldy + col;
                if (add) atomicAdd(q, acc[p][mt][i]);
                else *q = acc[p][mt][i];
            }
    }
}
