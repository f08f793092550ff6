// Fused dequantise-and-multiply on tensor cores over the tiled layout (see gptq.cuh), weights loaded into registers
// (for 9-32 rows with groups of a multiple of 64, x staged per block: gptq_staged.cuh).
#include "gptq_staged.cuh"

// y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · Wᵀ for m <= 8 * row_tiles rows, on tensor cores (A = weights,
// B = x, 8 rows per n8 tile). Block of `warps` warps: warp w takes tile blockIdx.x * (warps/ks) + w/ks and K slice
// blockIdx.y * ks + w%ks of `per` k-steps (tiles_per_warp > 1: that many tiles from that many times the index, sharing x).
// Each lane loads `round` 16-byte words per tile per round into registers (few registers, so many warps keep loads in
// flight); prefetch: the next round is requested before the current one is computed.
// The ks slices of a tile are summed in shared memory; with gridDim.y > 1 the block adds into y atomically (y
// zeroed before) or when atomic is set (y += the product, e.g. straight into the residual stream). silu: see the
// SiLU kernels below. Every kernel of this file has the signature W4_PARAMS.
#define W4_PARAMS const half_t* x, const uint4* qt, const u32* sz, float* y, int m, int in, int out, int gs, int ldy, int ks, int per, int atomic
#define W4_ARGS x, qt, sz, y, m, in, out, gs, ldy, ks, per, atomic

// One round: k-steps s.. s + WU - 1 (those below s1) from the words cur[tile][k-step] of each of the warp's tiles.
template <int TPW, int WU, class Step>
__device__ __forceinline__ void step_round(Step& w4, const uint4 (&cur)[TPW][WU], int s, int s1)
{
#pragma unroll
    for (int u = 0; u < WU; u++)
    {
        if (s + u >= s1) break;
        uint4 w[TPW];
#pragma unroll
        for (int p = 0; p < TPW; p++) w[p] = cur[p][u];
        w4.step(w, s + u);
    }
}
// NORM (one row tile, prefetching): x is rmsnorm(xres) * nw (the rmsnorm kernel's formula), computed by each block
// into shared memory after the wait instead of read from x: m * in <= NORM_MAX. w is copied in before the wait (it is
// constant), x right after it, both with cp.async, so the block waits on one round of loads.
#define NORM_MAX 4096
struct NormIn
{
    const float* xres;   // [m, in] f32 residual stream
    const void* w;       // [in] f32 (NORM_F32) or f16 (NORM_F16, see norm_rows_inplace)
    float eps;
};

// dst = src, `bytes` of them (a multiple of 16), by the whole block without registers; committed as one cp.async group.
__device__ __forceinline__ void stage_bytes(void* dst, const void* src, int bytes)
{
    for (int i = threadIdx.x; i < (bytes >> 4); i += blockDim.x) cp_async16((char*)dst + 16 * i, (const char*)src + 16 * i, 16);
    cp_async_commit();
}

// The scale of row xr [in] f32 in shared memory (in % 4 == 0): rsqrt(mean(x^2) + eps), as the rmsnorm kernel finds it.
// NT: the block's threads where known when compiling (the loop then unrolls).
template <int NT = 0>
__device__ __forceinline__ float row_scale(const float4* xr, int in, float eps, float* sh)
{
    float ss = 0.f;
    for (int i = threadIdx.x; i < (in >> 2); i += NT ? NT : blockDim.x) ss += sum_sq4(xr[i]);
    return 1.0f / sqrtf(block_sum(ss, sh) / in + eps);
}

// xs [m, in] f16 = xres * rsqrt(mean(xres^2) + eps) * w, with xres staged in xf and w in wf (in % 4 == 0).
__device__ __forceinline__ void norm_rows(half_t* xs, float* xf, const float* wf, NormIn nr, int m, int in)
{
    __shared__ float sh[32];
    stage_bytes(xf, nr.xres, 4 * m * in);
    cp_async_wait<0>();
    __syncthreads();
    for (int r = 0; r < m; r++)
    {
        const float4* xr = (const float4*)(xf + r * in);
        float rs = row_scale(xr, in, nr.eps, sh);
        for (int i = threadIdx.x; i < (in >> 2); i += blockDim.x) ((uint2*)(xs + r * in))[i] = scale_pack4(xr[i], rs, ((const float4*)wf)[i]);
    }
    __syncthreads();
}

// As norm_rows with w [in] f16 (in % 8 == 0), writing x [m, in] f16 over xf, its f32 copy: row r's f16 lands on bytes of
// rows <= r, and the lower half of a row's on its own first half, so each half row is read into registers before a
// barrier, then written (later reads are always above every earlier write).
template <int NT>
__device__ __forceinline__ void norm_rows_inplace(float* xf, const half_t* wh, NormIn nr, int m, int in)
{
    __shared__ float sh[32];
    constexpr int NV = NORM_MAX / 8 / NT;   // float4 per thread in half of the longest row
    stage_bytes(xf, nr.xres, 4 * m * in);
    cp_async_wait<0>();
    __syncthreads();
    int n4 = in >> 2;
    for (int r = 0; r < m; r++)
    {
        const float4* xr = (const float4*)(xf + r * in);
        uint2* xo = (uint2*)((half_t*)xf + r * in);
        float rs = row_scale<NT>(xr, in, nr.eps, sh);
#pragma unroll
        for (int h = 0; h < 2; h++)
        {
            float4 v[NV];
#pragma unroll
            for (int k = 0; k < NV; k++)
            {
                int i = threadIdx.x + (h * NV + k) * NT;
                if (i < n4) v[k] = xr[i];
            }
            __syncthreads();
#pragma unroll
            for (int k = 0; k < NV; k++)
            {
                int i = threadIdx.x + (h * NV + k) * NT;
                if (i >= n4) continue;
                uint2 w = ((const uint2*)wh)[i];
                xo[i] = scale_pack4(v[k], rs, make_float4(h2f((half_t)w.x), h2f((half_t)(w.x >> 16)), h2f((half_t)w.y), h2f((half_t)(w.y >> 16))));
            }
        }
    }
    __syncthreads();
}

// NORM: no norm (0), or the block norms its input (see NormIn) with w f32 (NORM_F32: 40 KiB of shared memory) or f16
// (NORM_F16: x f16 lands in place over its f32 copy, the reduction in the upper half, 24 KiB).
#define NORM_F32 1
#define NORM_F16 2

// The traits of a fused kernel, by name; each kernel below derives its own from these defaults.
struct W4Kernel
{
    static constexpr int row_tiles = 1;        // m <= 8 * row_tiles rows of x
    static constexpr int round = 4;            // k-steps per round of words a lane loads into registers
    static constexpr int tiles_per_warp = 1;   // 16-column tiles per warp, sharing the x fragments and the loop
    static constexpr int warps = 8;            // per block
    static constexpr bool group_sums = true;   // groups of a multiple of 64: integer weights summed per group, scaled once
    static constexpr bool silu = false;        // act = silu(gate) * up epilogue (see the SiLU kernels)
    static constexpr bool prefetch = false;    // the next round is requested before the current one is computed
    static constexpr int norm = 0;             // NORM_F32 | NORM_F16: the block norms its input itself
};

template <class K>
__device__ __forceinline__ void w4_mma(W4_PARAMS, NormIn nr = {})
{
    constexpr int MT = K::row_tiles, WU = K::round, TPW = K::tiles_per_warp, NW = K::warps, NORM = K::norm;
    constexpr bool POST = K::group_sums, SILU = K::silu, DB = K::prefetch;
    // The K-slice reduction's buffer; NORM: first x [m, in] f32 staged for the norm (dead before the reduction).
    constexpr int RED = NW * TPW * MT * 4 * 32;
    constexpr bool CMP = NORM == NORM_F16;
    static_assert(!CMP || RED <= NORM_MAX / 2, "the reduction must fit beside x");
    __shared__ __align__(16) float sbuf[NORM && NORM_MAX > RED ? NORM_MAX : RED];
    auto& red = *reinterpret_cast<float (*)[NW][TPW * MT * 4][32]>(sbuf + (CMP ? NORM_MAX / 2 : 0));
    __shared__ __align__(16) float wf[NORM && !CMP ? NORM_MAX : 4];   // NORM: w [in] f32
    __shared__ __align__(16) half_t wh[CMP ? NORM_MAX : 8];           // CMP: w [in] f16
    __shared__ __align__(16) half_t xs[NORM && !CMP ? NORM_MAX : 8];  // NORM: x [m, in] f16 (CMP: over sbuf)
    half_t* xn = CMP ? (half_t*)sbuf : xs;
    if (CMP) stage_bytes(wh, nr.w, 2 * in);
    else if (NORM) stage_bytes(wf, nr.w, 4 * in);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6;
    int tile0 = (blockIdx.x * (NW / ks) + warp / ks) * TPW;
    int s0 = (blockIdx.y * ks + warp % ks) * per, s1 = min(ksteps, s0 + per);
    bool work = tile0 < ntiles && s0 < s1;
    W4Step<MT, TPW, POST, false, NORM != 0> w4(NORM ? xn : x, sz, tile0, ntiles, m, in, gs, s0);
    const uint4* wp[TPW];
#pragma unroll
    for (int p = 0; p < TPW; p++)   // a missing last tile re-reads the previous one and is not stored
        wp[p] = qt + (long)min(tile0 + p, ntiles - 1) * ksteps * 32 + lane;
    uint4 nxt[TPW][WU];
    // DB: the first round of weights is requested before waiting for the kernel before (weights are never written),
    // so with programmatic dependent launch its latency hides behind that kernel's tail.
    if (DB && work)
#pragma unroll
        for (int p = 0; p < TPW; p++) load_words<WU>(nxt[p], wp[p], s0, s1);
    PDL_WAIT();
    if (CMP) norm_rows_inplace<NW * 32>(sbuf, wh, nr, m, in);
    else if (NORM) norm_rows(xs, sbuf, wf, nr, m, in);
    if (work)
    {
        for (int s = s0; s < s1; s += WU)
        {
            uint4 cur[TPW][WU];
            if (DB)
            {
#pragma unroll
                for (int p = 0; p < TPW; p++)
#pragma unroll
                    for (int u = 0; u < WU; u++) cur[p][u] = nxt[p][u];
                if (s + WU < s1)
#pragma unroll
                    for (int p = 0; p < TPW; p++) load_words<WU>(nxt[p], wp[p], s + WU, s1);
            }
            else
#pragma unroll
                for (int p = 0; p < TPW; p++) load_words<WU>(cur[p], wp[p], s, s1);
            step_round<TPW, WU>(w4, cur, s, s1);
        }
        w4.finish();
    }
    PDL_TRIGGER();
    w4_finish<MT, TPW, SILU, NW>(w4.acc, red, y, m, out, ldy, ks, tile0, atomic);
}

// A warp's whole slice (per <= round k-steps of tiles_per_warp tiles, one row tile, groups of a multiple of 64)
// requested before waiting for the kernel before: with programmatic dependent launch every weight is in flight while
// that kernel runs (o_proj behind decode attention, which leaves most of the GPU idle). No loop, so few registers.
template <class K>
__device__ __forceinline__ void w4_mma_whole(W4_PARAMS)
{
    constexpr int WU = K::round, TPW = K::tiles_per_warp, NW = K::warps;
    __shared__ float red[NW][TPW * 4][32];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6;
    int tile0 = (blockIdx.x * (NW / ks) + warp / ks) * TPW;
    int s0 = (blockIdx.y * ks + warp % ks) * per, s1 = min(ksteps, s0 + per);
    bool work = tile0 < ntiles && s0 < s1;
    uint4 w[TPW][WU];
    if (work)
#pragma unroll
        for (int p = 0; p < TPW; p++) load_words<WU>(w[p], qt + (long)min(tile0 + p, ntiles - 1) * ksteps * 32 + lane, s0, s1);
    W4Step<1, TPW, true> w4(x, sz, tile0, ntiles, m, in, gs, s0);
    PDL_WAIT();
    if (work)
    {
        step_round<TPW, WU>(w4, w, s0, s1);
        w4.finish();
    }
    PDL_TRIGGER();
    w4_finish<1, TPW, false, NW>(w4.acc, red, y, m, out, ldy, ks, tile0, atomic);
}

#define W4_KERNEL(NAME, K) extern "C" __global__ void __launch_bounds__(32 * K::warps) NAME(W4_PARAMS) { w4_mma<K>(W4_ARGS); }

// gptq_mma_s<MT>: groups of any multiple of 16 (each weight scaled in fp16), m <= 8 * MT rows, MT <= 4.
template <int MT> struct ScaledRows : W4Kernel
{
    static constexpr int row_tiles = MT;
    static constexpr bool group_sums = false;
};
W4_KERNEL(gptq_mma_s1, ScaledRows<1>) W4_KERNEL(gptq_mma_s2, ScaledRows<2>)
W4_KERNEL(gptq_mma_s3, ScaledRows<3>) W4_KERNEL(gptq_mma_s4, ScaledRows<4>)

// Prefetching kernels of one row tile, for groups of a multiple of 64. gptq_mma_db_1: one tile per warp, rounds of
// 2 k-steps. gptq_mma_pair_db_1: two tiles per warp sharing the x fragments, rounds of 1 k-step (the registers of one
// tile), for layers of at most 8192 inputs. The _silu kernels write act [m, ldy] f16 = silu(gate) * up of a gate/up
// matrix whose columns alternate 8 gate, 8 up (one block per column range: gridDim.y == 1).
struct OneTile : W4Kernel
{
    static constexpr int round = 2;
    static constexpr bool prefetch = true;
};
struct OneTileSilu : OneTile { static constexpr bool silu = true; };
struct TwoTiles : W4Kernel
{
    static constexpr int round = 1, tiles_per_warp = 2;
    static constexpr bool prefetch = true;
};
struct TwoTilesSilu : TwoTiles { static constexpr bool silu = true; };
W4_KERNEL(gptq_mma_db_1, OneTile) W4_KERNEL(gptq_mma_silu_db_1, OneTileSilu)
W4_KERNEL(gptq_mma_pair_db_1, TwoTiles) W4_KERNEL(gptq_mma_pair_silu_db_1, TwoTilesSilu)

// The pair kernels in blocks of 4 warps (ks <= 4): at 72 registers an SM holds 7 such blocks (28 warps) against 3 of 8
// (24), for layers whose one wave of 8-warp blocks would need fewer warps per tile.
struct TwoTiles4Warps : TwoTiles { static constexpr int warps = 4; };
struct TwoTilesSilu4Warps : TwoTilesSilu { static constexpr int warps = 4; };
W4_KERNEL(gptq_mma_pair_db_1_w4, TwoTiles4Warps) W4_KERNEL(gptq_mma_pair_silu_db_1_w4, TwoTilesSilu4Warps)

// The prefetching pair kernel with the RMSNorm of its input done per block (see NormIn; x is unused), for decode
// q/k/v, which saves the rmsnorm launch; _normh takes the norm weights as f16 (nwh [in]) and needs 16 KiB less shared
// memory. Not for gate/up, whose one-row plan takes 4-warp blocks, where the extra shared memory costs more than the
// launch it saves.
struct TwoTilesNorm : TwoTiles { static constexpr int norm = NORM_F32; };
struct TwoTilesNormHalf : TwoTiles { static constexpr int norm = NORM_F16; };
extern "C" __global__ void __launch_bounds__(256) gptq_mma_pair_db_1_norm(W4_PARAMS, const float* xres, const float* nw, float eps)
{ w4_mma<TwoTilesNorm>(W4_ARGS, NormIn{xres, nw, eps}); }
extern "C" __global__ void __launch_bounds__(256) gptq_mma_pair_db_1_normh(W4_PARAMS, const float* xres, const half_t* nwh, float eps)
{ w4_mma<TwoTilesNormHalf>(W4_ARGS, NormIn{xres, nwh, eps}); }

// gptq_mma_pair_whole_1: the whole-slice kernel, two tiles sharing x, 2 k-steps per warp.
struct WholeTwoTiles : W4Kernel { static constexpr int round = 2, tiles_per_warp = 2; };
extern "C" __global__ void __launch_bounds__(256) gptq_mma_pair_whole_1(W4_PARAMS) { w4_mma_whole<WholeTwoTiles>(W4_ARGS); }

// Staged kernels (2-4 row tiles, ks == 1, groups of a multiple of 64): see gptq_staged.cuh. The SiLU epilogue takes
// 3 and 4 row tiles; 9-16 rows run the product, then silu_mul.
template <int MT> struct StagedRows : W4Kernel { static constexpr int row_tiles = MT; };
template <int MT> struct StagedRowsSilu : StagedRows<MT> { static constexpr bool silu = true; };
#define W4_STAGED(NAME, K) \
extern "C" __global__ void __launch_bounds__(256) NAME(W4_PARAMS) \
{ w4_mma_staged<K>(x, qt, sz, y, m, in, out, gs, ldy, per, atomic); }
W4_STAGED(gptq_mma_xs_2, StagedRows<2>) W4_STAGED(gptq_mma_xs_3, StagedRows<3>) W4_STAGED(gptq_mma_xs_4, StagedRows<4>)
W4_STAGED(gptq_mma_silu_xs_3, StagedRowsSilu<3>) W4_STAGED(gptq_mma_silu_xs_4, StagedRowsSilu<4>)
