// Fused dequantise-and-multiply on tensor cores over the tiled layout (see gptq.cuh).
#include "gptq.cuh"

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

// (q - zero - 1) without the scale, for group sizes that are multiples of 64 (the scale is applied to the
// fp32 partial sums of a group). Feature a's nibbles (bits 0-3, 8-11) become 1024 + q; feature b's (bits 4-7,
// 12-15) are masked in place, 1024 + 16q, so zb = 1024 + 16 (zero + 1) and b's scale is divided by 16.
__device__ __forceinline__ void offset_word(u32 q, u32 za, u32 zb, u32 (&a)[4])
{
    u32 h = q >> 8;
    a[0] = hsub2((q & 0x000F000Fu) | 0x64006400u, za);
    a[1] = hsub2((q & 0x00F000F0u) | 0x64006400u, zb);
    a[2] = hsub2((h & 0x000F000Fu) | 0x64006400u, za);
    a[3] = hsub2((h & 0x00F000F0u) | 0x64006400u, zb);
}

template <int WU>
__device__ __forceinline__ void load_words(uint4 (&q)[WU], const uint4* wp, int s, int s1)
{
#pragma unroll
    for (int u = 0; u < WU; u++)
        if (s + u < s1) q[u] = ld_stream(wp + (long)(s + u) * 32);
}

// The lane's 16 inputs k0.. of each x row it serves (row mt*8 + g), zero past m or in.
template <int MT>
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
            xv[mt][0] = __ldg(xp); xv[mt][1] = __ldg(xp + 1);
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

// y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · Wᵀ for m <= 8*MT rows, on tensor cores (A = weights,
// B = x, 8 rows per n8 tile). Block of 8 warps: warp w takes tile blockIdx.x * (8/ks) + w/ks and K slice
// blockIdx.y * ks + w%ks of `per` k-steps (TPW > 1: TPW tiles from TPW times that index, sharing x).
// Each lane loads WU 16-byte words per round (few registers, so many warps keep loads in flight; deeper
// rounds or loading the next round early measured slower). POST (group size a multiple of 64):
// integer-valued weights into a group's own fp32 sums, scaled once per group; else each weight is scaled
// in fp16. The ks slices of a tile are summed in shared memory; with gridDim.y > 1 the block adds into y
// atomically (y zeroed before). SILU: see the gptq_mma_silu kernels.
template <int MT, int WU, bool POST, int TPW = 1, bool SILU = false>
__device__ __forceinline__ void w4_mma(const half_t* __restrict__ x, const uint4* __restrict__ qt, const u32* __restrict__ sz,
                                       float* __restrict__ y, int m, int in, int out, int gs, int ldy, int ks, int per)
{
    __shared__ float red[8][TPW * MT * 4][32];
    PDL_WAIT();
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6, npad = ntiles * 16, groups = (in + gs - 1) / gs;
    int tile0 = (blockIdx.x * (8 / ks) + warp / ks) * TPW;
    int s0 = (blockIdx.y * ks + warp % ks) * per, s1 = min(ksteps, s0 + per);
    float acc[TPW][MT][4], part[TPW][MT][4];
#pragma unroll
    for (int p = 0; p < TPW; p++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[p][mt][i] = part[p][mt][i] = 0.f;
    if (tile0 < ntiles && s0 < s1)
    {
        const uint4* wp[TPW];
        const u32* sp[TPW];
#pragma unroll
        for (int p = 0; p < TPW; p++)
        {
            int tl = min(tile0 + p, ntiles - 1);   // a missing last tile re-reads the previous one and is not stored
            wp[p] = qt + (long)tl * ksteps * 32 + lane;
            sp[p] = sz + tl * 16 + g;
        }
        // POST: the group advances by one every spg k-steps (one division per warp); else once per k-step.
        int spg = gs >> 6, grp = POST ? s0 / spg - 1 : 0, gend = POST ? (s0 / spg) * spg : -1;
        u32 sa[TPW], za[TPW], sb[TPW], zb[TPW];
        float fa[TPW], fb[TPW];
#pragma unroll
        for (int p = 0; p < TPW; p++) { sa[p] = za[p] = sb[p] = zb[p] = 0; fa[p] = fb[p] = 0.f; }
        for (int s = s0; s < s1; s += WU)
        {
            uint4 cur[TPW][WU];
#pragma unroll
            for (int p = 0; p < TPW; p++) load_words<WU>(cur[p], wp[p], s, s1);
#pragma unroll
            for (int u = 0; u < WU; u++)
            {
                int st = s + u;
                if (st >= s1) break;
                int k0 = st * 64 + 16 * t;
                if (st >= gend)
                {
                    grp = POST ? grp + 1 : min(k0 / gs, groups - 1);
                    gend = POST ? gend + spg : st + 1;
#pragma unroll
                    for (int p = 0; p < TPW; p++)
                    {
                        u32 va = __ldg(sp[p] + (long)grp * npad), vb = __ldg(sp[p] + (long)grp * npad + 8);
                        if (POST)
                        {
#pragma unroll
                            for (int mt = 0; mt < MT; mt++)
                            {
                                acc[p][mt][0] += fa[p] * part[p][mt][0]; acc[p][mt][1] += fa[p] * part[p][mt][1];
                                acc[p][mt][2] += fb[p] * part[p][mt][2]; acc[p][mt][3] += fb[p] * part[p][mt][3];
                                part[p][mt][0] = part[p][mt][1] = part[p][mt][2] = part[p][mt][3] = 0.f;
                            }
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
                uint4 xv[MT][2];
                load_x<MT>(xv, x, m, in, k0, g);
#pragma unroll
                for (int p = 0; p < TPW; p++)
                {
                    u32 a[4][4];
                    u32 qv[4] = {cur[p][u].x, cur[p][u].y, cur[p][u].z, cur[p][u].w};
#pragma unroll
                    for (int j = 0; j < 4; j++)
                        if (POST) offset_word(qv[j], za[p], zb[p], a[j]);
                        else dequant_word(qv[j], za[p], sa[p], zb[p], sb[p], a[j]);
                    mma_step<MT>(POST ? part[p] : acc[p], a, xv);
                }
            }
        }
        if (POST)
#pragma unroll
            for (int p = 0; p < TPW; p++)
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
                {
                    acc[p][mt][0] += fa[p] * part[p][mt][0]; acc[p][mt][1] += fa[p] * part[p][mt][1];
                    acc[p][mt][2] += fb[p] * part[p][mt][2]; acc[p][mt][3] += fb[p] * part[p][mt][3];
                }
    }
    PDL_TRIGGER();
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
    bool atomic = gridDim.y > 1;
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
                if (atomic) atomicAdd(q, acc[p][mt][i]);
                else *q = acc[p][mt][i];
            }
    }
}

// gptq_mma_<MT> (group size a multiple of 64) and gptq_mma_s<MT> (any multiple of 16): m <= 8*MT rows, MT <= 4
// (8 row tiles measured slower than two passes of 4).
#define W4_MMA(MT, WU) \
extern "C" __global__ void __launch_bounds__(256) gptq_mma_##MT(const half_t* x, const uint4* qt, const u32* sz, float* y, int m, int in, int out, int gs, int ldy, int ks, int per) \
{ w4_mma<MT, WU, true>(x, qt, sz, y, m, in, out, gs, ldy, ks, per); } \
extern "C" __global__ void __launch_bounds__(256) gptq_mma_s##MT(const half_t* x, const uint4* qt, const u32* sz, float* y, int m, int in, int out, int gs, int ldy, int ks, int per) \
{ w4_mma<MT, WU, false>(x, qt, sz, y, m, in, out, gs, ldy, ks, per); }
W4_MMA(1, 4) W4_MMA(2, 4) W4_MMA(3, 4) W4_MMA(4, 4)

// gptq_mma_pair_1: two tiles per warp sharing the x fragments and the loop (rounds of 2 k-steps, so the same
// registers as one tile with rounds of 4); on an H100 at one row qkv 16.4 -> 13.2 us, gate_up 26.6 -> 23.2 us,
// o 8.2 -> 7.7 us, but down_proj (11008 inputs) 14.2 -> 16.5 us.
extern "C" __global__ void __launch_bounds__(256) gptq_mma_pair_1(const half_t* x, const uint4* qt, const u32* sz, float* y, int m, int in, int out, int gs, int ldy, int ks, int per)
{ w4_mma<1, 2, true, 2>(x, qt, sz, y, m, in, out, gs, ldy, ks, per); }

// SiLU variants (group size a multiple of 64, one block per column range: gridDim.y == 1): y is act [m, ldy] f16 =
// silu(gate) * up of a gate/up matrix whose columns alternate 8 gate, 8 up.
#define W4_SILU(MT) \
extern "C" __global__ void __launch_bounds__(256) gptq_mma_silu_##MT(const half_t* x, const uint4* qt, const u32* sz, float* y, int m, int in, int out, int gs, int ldy, int ks, int per) \
{ w4_mma<MT, 4, true, 1, true>(x, qt, sz, y, m, in, out, gs, ldy, ks, per); }
W4_SILU(1) W4_SILU(3) W4_SILU(4)   // 9-16 rows take the product + silu_mul path (CudaLinear.ForwardSilu)
extern "C" __global__ void __launch_bounds__(256) gptq_mma_pair_silu_1(const half_t* x, const uint4* qt, const u32* sz, float* y, int m, int in, int out, int gs, int ldy, int ks, int per)
{ w4_mma<1, 2, true, 2, true>(x, qt, sz, y, m, in, out, gs, ldy, ks, per); }
