// Tensor-core GEMM over the tiled int4 layout (gptq.cuh) for many rows: y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · Wᵀ.
// The int4 words and x pass through shared memory in a cp.async pipeline and are read from memory once per block; each
// warp dequantises its words in registers (gptq_step.cuh), so no dequantised copy of W is ever written.
#include "gptq_step.cuh"

// The block: WF x WR warps; warp (wf, wr) computes FT tiles of 16 features x NT row tiles of 8 rows. Block tile:
// BF = 16 * FT * WF features x BR = 8 * NT * WR rows; blockIdx.z takes k-steps [z * per, z * per + per) (split K, y
// added atomically). Each of STAGES shared-memory stages holds one k-step (64 inputs): the block's words
// [BF/16 tiles][32 lanes] uint4 as the tiled layout stores them, and x [BR rows][8 chunks of 8 inputs] with row r's
// chunk c at c ^ (r & 7), so the 8 lanes of a quarter warp (2 rows x 4 chunk pairs) read 8 distinct bank groups.
// POST: groups of a multiple of 64, weights summed as integers per group and scaled in fp32 (see W4Step).
template <int FT, int NT, int WF, int WR, int STAGES, bool POST>
struct GemmTile
{
    static constexpr int tiles = FT * WF, rows = 8 * NT * WR, threads = 32 * WF * WR;
    static constexpr int words = tiles * 32, chunks = rows * 8;   // uint4 per stage
    static constexpr int smem = STAGES * (words + chunks) * 16;   // dynamic shared memory, bytes
};

template <int FT, int NT, int WF, int WR, int STAGES, bool POST>
__device__ __forceinline__ void w4_gemm(const half_t* __restrict__ x, const uint4* __restrict__ qt, const u32* __restrict__ sz,
                                        float* __restrict__ y, int m, int in, int out, int gs, int ldy, int per, int atomic)
{
    using G = GemmTile<FT, NT, WF, WR, STAGES, POST>;
    extern __shared__ uint4 smem[];
    uint4* sw = smem;                         // [STAGES][tiles * 32] words
    uint4* sx = smem + STAGES * G::words;     // [STAGES][rows * 8] x chunks (swizzled)
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int wf = warp % WF, wr = warp / WF;
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6;
    int btile = blockIdx.x * G::tiles, row0 = blockIdx.y * G::rows;
    int s0 = blockIdx.z * per, s1 = min(ksteps, s0 + per);
    int tile0 = btile + wf * FT;

    // One k-step into a stage: tiles past the edge re-read the last one (never stored); rows past m and inputs past in
    // are zero-filled (in % 16 == 0, so a chunk is wholly in or out).
    auto load = [&](int st, int buf)
    {
        uint4* dw = sw + buf * G::words;
#pragma unroll
        for (int i = threadIdx.x; i < G::words; i += G::threads)
        {
            int tile = min(btile + (i >> 5), ntiles - 1);
            cp_async16(dw + i, qt + ((long)tile * ksteps + st) * 32 + (i & 31), 16);
        }
        uint4* dx = sx + buf * G::chunks;
#pragma unroll
        for (int i = threadIdx.x; i < G::chunks; i += G::threads)
        {
            int r = i >> 3, c = i & 7, row = row0 + r, k = st * 64 + c * 8;
            bool ok = row < m && k < in;
            cp_async16(dx + r * 8 + (c ^ (r & 7)), ok ? (const void*)(x + (long)row * in + k) : (const void*)x, ok ? 16 : 0);
        }
    };

    W4Step<NT, FT, POST, true> w4(x, sz, tile0, ntiles, m, in, gs, s0);
    PDL_WAIT();
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++)
    {
        if (s0 + i < s1) load(s0 + i, i);
        cp_async_commit();
    }
    for (int st = s0; st < s1; st++)
    {
        cp_async_wait<STAGES - 2>();
        __syncthreads();   // stage st is in for every thread, and every warp is done with the stage the next load takes
        int nx = st + STAGES - 1;
        if (nx < s1) load(nx, (nx - s0) % STAGES);
        cp_async_commit();
        int buf = (st - s0) % STAGES;
        uint4 w[FT];
#pragma unroll
        for (int f = 0; f < FT; f++) w[f] = sw[buf * G::words + (wf * FT + f) * 32 + lane];
        uint4 xv[NT][2];
#pragma unroll
        for (int n = 0; n < NT; n++)
        {
            // Row (wr * NT + n) * 8 + g of the block: its swizzle is g; the lane's inputs 16t .. 16t + 15 are chunks 2t, 2t + 1.
            const uint4* xr = sx + buf * G::chunks + ((wr * NT + n) * 8 + g) * 8;
            xv[n][0] = xr[(2 * t) ^ g];
            xv[n][1] = xr[(2 * t + 1) ^ g];
        }
        w4.step_x(w, st, xv);
    }
    w4.finish();
    PDL_TRIGGER();

    bool add = gridDim.z > 1;
#pragma unroll
    for (int f = 0; f < FT; f++)
    {
        if (tile0 + f >= ntiles) break;
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                int row = row0 + (wr * NT + n) * 8 + 2 * t + (i & 1), col = (tile0 + f) * 16 + g + (i >> 1) * 8;
                if (row >= m || col >= out) continue;
                float* q = y + (long)row * ldy + col;
                float v = w4.acc[f][n][i];
                if (add) atomicAdd(q, v);
                else *q = atomic ? *q + v : v;
            }
    }
}

// Every kernel: (x, qt, sz, y, m, in, out, gs, ldy, per, atomic), grid (ceil(ntiles / tiles), ceil(m / rows), splits),
// GemmTile::threads threads, GemmTile::smem bytes of dynamic shared memory. Named gptq_gemm_<rows>[_g] (_g: POST).
#define GEMM_KERNEL(NAME, FT, NT, WF, WR, ST, POST) \
extern "C" __global__ void __launch_bounds__(32 * WF * WR) NAME(const half_t* x, const uint4* qt, const u32* sz, float* y, \
    int m, int in, int out, int gs, int ldy, int per, int atomic) \
{ w4_gemm<FT, NT, WF, WR, ST, POST>(x, qt, sz, y, m, in, out, gs, ldy, per, atomic); }

// 64 rows x 128 features in 2 x 2 warps of 64 features x 32 rows, four stages: against 16-, 32- and 128-row blocks
// (docs/gemm.md) it is the fastest or within a few percent of it from 33 to 128 rows.
GEMM_KERNEL(gptq_gemm_64, 4, 4, 2, 2, 4, false) GEMM_KERNEL(gptq_gemm_64_g, 4, 4, 2, 2, 4, true)
