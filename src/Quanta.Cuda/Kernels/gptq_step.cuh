// The per-k-step work of the fused GPTQ kernels (gptq.cu, gptq_staged.cuh): group scale/zero bookkeeping, the x fragments, dequantisation and the mma.
#pragma once
#include "gptq.cuh"

// (q - zero - 1) without the scale, for group sizes that are multiples of 64 (the scale is applied to the
// fp32 partial sums of a group). Feature a's nibbles (bits 0-3, 8-11) become 1024 + q; feature b's (bits 4-7,
// 12-15) are masked in place, 1024 + 16q, so zb = 1024 + 16 (zero + 1) and b's scale is divided by 16.
__device__ __forceinline__ void offset_word(u32 q, u32 za, u32 zb, u32 (&a)[4])
{
    u32 h = q >> 8;
    a[0] = hsub2(nib_magic<0x000F000Fu>(q), za);
    a[1] = hsub2(nib_magic<0x00F000F0u>(q), zb);
    a[2] = hsub2(nib_magic<0x000F000Fu>(h), za);
    a[3] = hsub2(nib_magic<0x00F000F0u>(h), zb);
}

// The lane's 16 inputs k0.. of each x row it serves (row mt*8 + g), zero past m or in; SX: x is in shared memory.
template <int MT, bool SX = false>
__device__ __forceinline__ void load_x(uint4 (&xv)[MT][2], const half_t* __restrict__ x, int m, int in, int k0, int g)
{
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
    {
        int row = mt * 8 + g;
        xv[mt][0] = xv[mt][1] = make_uint4(0, 0, 0, 0);
        if (row < m && k0 < in)
        {
            const uint4* xp = (const uint4*)(x + (long)row * in + k0);
            if (SX) { xv[mt][0] = xp[0]; xv[mt][1] = xp[1]; }
            else { xv[mt][0] = __ldg(xp); xv[mt][1] = __ldg(xp + 1); }
        }
    }
}

// Four mma sub-steps of one k-step: A from the four words' registers, B from the lane's 16 inputs of each x row.
template <int MT>
__device__ __forceinline__ void mma_step(float (&acc)[MT][4], const u32 (&a)[4][4], const uint4 (&xv)[MT][2])
{
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
    {
        mma16816(acc[mt], a[0], xv[mt][0].x, xv[mt][0].y);
        mma16816(acc[mt], a[1], xv[mt][0].z, xv[mt][0].w);
        mma16816(acc[mt], a[2], xv[mt][1].x, xv[mt][1].y);
        mma16816(acc[mt], a[3], xv[mt][1].z, xv[mt][1].w);
    }
}

// One warp's accumulators over TPW tiles (16 features each) and m <= 8*MT rows, fed one k-step at a time in
// increasing order. POST (group size a multiple of 64): integer-valued weights into a group's own fp32 sums, scaled
// once per group; else each weight is scaled in fp16. PFS: the next group's scales and zero points are requested
// when a group starts, so their load is not waited for at the group boundary. SX: x is in shared memory.
template <int MT, int TPW, bool POST, bool PFS = false, bool SX = false>
struct W4Step
{
    const half_t* __restrict__ x;   // [m, in] f16
    const u32* sp[TPW];             // the lane's scale/zero column of each tile (feature g; g + 8 is 8 further)
    int m, in, gs, npad, groups, g, t, spg, grp, gend;
    u32 sa[TPW], za[TPW], sb[TPW], zb[TPW];
    u32 nva[TPW], nvb[TPW];         // PFS: raw scale/zero words of the next group
    float fa[TPW], fb[TPW];
    float acc[TPW][MT][4], part[TPW][MT][4];

    __device__ __forceinline__ W4Step(const half_t* x_, const u32* sz, int tile0, int ntiles, int m_, int in_, int gs_, int s0)
        : x(x_), m(m_), in(in_), gs(gs_), npad(ntiles * 16), groups((in_ + gs_ - 1) / gs_)
    {
        int lane = threadIdx.x & 31;
        g = lane >> 2; t = lane & 3;
        // POST: the group advances by one every spg k-steps (one division per warp); else once per k-step.
        spg = gs >> 6; grp = POST ? s0 / spg - 1 : 0; gend = POST ? (s0 / spg) * spg : -1;
#pragma unroll
        for (int p = 0; p < TPW; p++)
        {
            sp[p] = sz + min(tile0 + p, ntiles - 1) * 16 + g;
            sa[p] = za[p] = sb[p] = zb[p] = 0; fa[p] = fb[p] = 0.f;
            nva[p] = nvb[p] = 0;
            if (PFS) prefetch_group(p, POST ? s0 / spg : (s0 * 64 + 16 * t) / gs);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int i = 0; i < 4; i++) acc[p][mt][i] = part[p][mt][i] = 0.f;
        }
    }

    // PFS: requests tile p's scale/zero words of group gr (clamped to the last group).
    __device__ __forceinline__ void prefetch_group(int p, int gr)
    {
        gr = min(gr, groups - 1);
        nva[p] = __ldg(sp[p] + (long)gr * npad); nvb[p] = __ldg(sp[p] + (long)gr * npad + 8);
    }

    // POST: adds the group's scaled partial sums into acc.
    __device__ __forceinline__ void fold()
    {
#pragma unroll
        for (int p = 0; p < TPW; p++)
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
            {
                acc[p][mt][0] += fa[p] * part[p][mt][0]; acc[p][mt][1] += fa[p] * part[p][mt][1];
                acc[p][mt][2] += fb[p] * part[p][mt][2]; acc[p][mt][3] += fb[p] * part[p][mt][3];
                part[p][mt][0] = part[p][mt][1] = part[p][mt][2] = part[p][mt][3] = 0.f;
            }
    }

    // k-step st with the lane's word w[p] of each tile, x fragments from global memory.
    __device__ __forceinline__ void step(const uint4 (&w)[TPW], int st)
    {
        uint4 xv[MT][2];
        load_x<MT, SX>(xv, x, m, in, st * 64 + 16 * t, g);
        step_x(w, st, xv);
    }

    // k-step st with the lane's word w[p] of each tile and its x fragments xv (inputs st*64 + 16t .. +15 of rows mt*8 + g).
    __device__ __forceinline__ void step_x(const uint4 (&w)[TPW], int st, const uint4 (&xv)[MT][2])
    {
        int k0 = st * 64 + 16 * t;
        if (st >= gend)
        {
            if (POST) fold();
            grp = POST ? grp + 1 : min(k0 / gs, groups - 1);
            gend = POST ? gend + spg : st + 1;
#pragma unroll
            for (int p = 0; p < TPW; p++)
            {
                u32 va, vb;
                if (PFS)
                {
                    va = nva[p]; vb = nvb[p];
                    prefetch_group(p, POST ? grp + 1 : (k0 + 64) / gs);
                }
                else { va = __ldg(sp[p] + (long)grp * npad); vb = __ldg(sp[p] + (long)grp * npad + 8); }
                if (POST)
                {
                    fa[p] = h2f((half_t)(va & 0xffffu)); fb[p] = h2f((half_t)(vb & 0xffffu)) * 0.0625f;
                    za[p] = (va >> 16) * 0x10001u;
                    zb[p] = (0x6400u + (((vb >> 16) - 0x6400u) << 4)) * 0x10001u;
                }
                else
                {
                    sa[p] = (va & 0xffffu) * 0x10001u; za[p] = (va >> 16) * 0x10001u;
                    sb[p] = (vb & 0xffffu) * 0x10001u; zb[p] = (vb >> 16) * 0x10001u;
                }
            }
        }
#pragma unroll
        for (int p = 0; p < TPW; p++)
        {
            u32 a[4][4];
            u32 qv[4] = {w[p].x, w[p].y, w[p].z, w[p].w};
#pragma unroll
            for (int j = 0; j < 4; j++)
                if (POST) offset_word(qv[j], za[p], zb[p], a[j]);
                else dequant_word(qv[j], za[p], sa[p], zb[p], sb[p], a[j]);
            mma_step<MT>(POST ? part[p] : acc[p], a, xv);
        }
    }

    // After the last k-step.
    __device__ __forceinline__ void finish() { if (POST) fold(); }
};
