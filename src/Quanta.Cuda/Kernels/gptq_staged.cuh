// The fused GPTQ kernel with x staged in shared memory (9-32 rows, groups of a multiple of 64). With one warp per tile
// (ks == 1) the block's 8 warps share one K range, so each round of R k-steps of x [m, R*64] is copied once per block
// (cp.async, two buffers) instead of being read from L2 by every warp every k-step; the weights are requested a round
// ahead and the group scales a group ahead, so a warp only waits on the weights.
#pragma once
#include "gptq_step.cuh"

// y as w4_mma's (ks = 1, one tile per warp): tile blockIdx.x * 8 + warp, K slice blockIdx.y of per k-steps.
// K: the kernel's traits (row_tiles, silu; see W4Kernel in gptq.cu).
template <class K>
__device__ __forceinline__ void w4_mma_staged(const half_t* __restrict__ x, const uint4* __restrict__ qt, const u32* __restrict__ sz,
                                              float* __restrict__ y, int m, int in, int out, int gs, int ldy, int per, int atomic)
{
    constexpr int MT = K::row_tiles;
    constexpr bool SILU = K::silu;
    // R k-steps per round; a staged row is R*64 halves + 8 of padding, so the 8 lanes of a 16-byte load phase
    // (two rows, four 32-byte runs each) fall in distinct banks.
    constexpr int R = 4, LDS = R * 64 + 8, CHUNKS = MT * 8 * R * 8;
    __shared__ __align__(16) half_t xs[2][MT * 8][LDS];   // [buffer, row, input of the round] f16
    __shared__ float red[8][MT * 4][32];                  // unused with ks == 1 (w4_finish's signature)
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6;
    int tile = blockIdx.x * 8 + warp;
    int s0 = blockIdx.y * per, s1 = min(ksteps, s0 + per);
    bool active = tile < ntiles;
    W4Step<MT, 1, true, true> w4(x, sz, tile, ntiles, m, in, gs, s0);
    const uint4* wp = qt + (long)min(tile, ntiles - 1) * ksteps * 32 + lane;
    // Round starting at k-step s into buffer b; rows past m and inputs past in are zero-filled.
    auto stage = [&](int s, int b) {
#pragma unroll
        for (int c = threadIdx.x; c < CHUNKS; c += 256)
        {
            int row = c / (R * 8), col = (c % (R * 8)) * 8, k = s * 64 + col;
            bool ok = row < m && k < in;
            cp_async16(&xs[b][row][col], ok ? x + (long)row * in + k : x, ok ? 16 : 0);
        }
        cp_async_commit();
    };
    uint4 nxt[R];
    // The first round of weights (and the scales, in W4Step) are requested before waiting for the kernel before.
    if (active && s0 < s1) load_words<R>(nxt, wp, s0, s1);
    PDL_WAIT();
    if (s0 < s1)   // the same for the whole block, so the barriers below are reached by every thread
    {
        stage(s0, 0);
        for (int s = s0, b = 0; s < s1; s += R, b ^= 1)
        {
            uint4 cur[R];
#pragma unroll
            for (int u = 0; u < R; u++) cur[u] = nxt[u];
            if (s + R < s1)
            {
                stage(s + R, b ^ 1);   // buffer b ^ 1 was last read before the previous round's closing barrier
                if (active) load_words<R>(nxt, wp, s + R, s1);
                cp_async_wait<1>();
            }
            else cp_async_wait<0>();
            __syncthreads();
            if (active)
#pragma unroll
                for (int u = 0; u < R; u++)
                {
                    if (s + u >= s1) break;
                    uint4 xv[MT][2];
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
                    {
                        const uint4* r = (const uint4*)&xs[b][mt * 8 + w4.g][u * 64 + 16 * w4.t];
                        xv[mt][0] = r[0]; xv[mt][1] = r[1];
                    }
                    uint4 w[1] = {cur[u]};
                    w4.step_x(w, s + u, xv);
                }
            __syncthreads();
        }
        w4.finish();
    }
    PDL_TRIGGER();
    w4_finish<MT, 1, SILU>(w4.acc, red, y, m, out, ldy, 1, tile, atomic);
}
