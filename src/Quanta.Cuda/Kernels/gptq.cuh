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

// (q - zero - 1) * scale for the 8 weights of one word, as the four A registers of a sub-step.
__device__ __forceinline__ void dequant_word(u32 q, u32 za, u32 sa, u32 zb, u32 sb, u32 (&a)[4])
{
    a[0] = hmul2(hsub2((q & 0x000F000Fu) | 0x64006400u, za), sa);
    a[1] = hmul2(hsub2(((q >> 4) & 0x000F000Fu) | 0x64006400u, zb), sb);
    a[2] = hmul2(hsub2(((q >> 8) & 0x000F000Fu) | 0x64006400u, za), sa);
    a[3] = hmul2(hsub2(((q >> 12) & 0x000F000Fu) | 0x64006400u, zb), sb);
}
