// Hopper GEMM over the tiled int4 layout (gptq.cuh) for 65-256 rows: y [m, ldy] f32 (columns 0..out) = x · Wᵀ on the
// warpgroup MMA (sm_90a; compiled arch-specific, empty elsewhere). Each warp dequantises its tile's words in registers, and
// those registers are wgmma's A operand (a warpgroup's four tiles are its 64 features); x is the B operand, read by the tensor
// cores from shared memory. Words and x arrive through a cp.async pipeline, so W is read from memory once per block and never
// written dequantised.
//
// x arrives in slot order: xs [m, ldx] f16, ldx = 64 * ceil(in / 64), each k-step's 64 inputs in the order of the words' k
// slots (sub-step j's 16 slots hold inputs 16 t + 4 j + (0, 1) at 2 t, 2 t + 1 and 16 t + 4 j + (2, 3) at 2 t + 8, 2 t + 9,
// gptq.cuh), inputs past in as zeros. CudaLinear gathers it so (with act-order's permutation in the same gather), which
// lets the pipeline copy x in 16-byte pieces straight into wgmma's layout: copying input pairs to their slots in 4-byte
// pieces instead costs 1.6x the whole GEMM (docs/gemm.md).
#include "wgmma.cuh"

// Stage layout: x [N rows][128 bytes], 1024-byte aligned, row r's 16-byte chunk c at c ^ (r & 7) (the 128-byte swizzle
// wgmma reads); words [4 * WG tiles][32 lanes] uint4 as the tiled layout stores them. blockIdx.z takes k-steps
// [z * per, z * per + per) (split K, y added atomically).
template <int N, int WG, int STAGES>
__device__ __forceinline__ void w4_wgmma(const half_t* __restrict__ x, const uint4* __restrict__ qt, const u32* __restrict__ sz,
                                         float* __restrict__ y, int m, int ldx, int in, int out, int gs, int ldy, int per, int atomic)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using G = WgmmaTile<N, WG, STAGES>;
    extern __shared__ uint4 smem[];
    u32 raw = (u32)__cvta_generic_to_shared(smem), base = (raw + 1023u) & ~1023u;
    const char* gbase = (const char*)smem + (base - raw);           // the same bytes through a generic pointer
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6, npad = ntiles * 16;
    int btile = blockIdx.x * G::tiles, row0 = blockIdx.y * N;
    int s0 = blockIdx.z * per, s1 = min(ksteps, s0 + per);
    int tile = btile + warp;                                        // this warp's 16 features
    const u32* scol = sz + min(tile, ntiles - 1) * 16 + g;          // its scale/zero column (feature g; g + 8 is 8 further)

    // One k-step into a stage: rows past m are zero-filled, tiles past the edge re-read the last one (never stored).
    auto load = [&](int st, int buf)
    {
        u32 xs = base + buf * G::xbytes;
#pragma unroll 2
        for (int i = threadIdx.x; i < N * 8; i += G::threads)
        {
            int r = i >> 3, c = i & 7, row = row0 + r;
            bool ok = row < m;
            cp_async16_s(xs + r * 128 + ((c ^ (r & 7)) << 4), ok ? (const void*)(x + (long)row * ldx + st * 64 + c * 8) : (const void*)x,
                         ok ? 16 : 0);
        }
        u32 ws = base + STAGES * G::xbytes + buf * G::wbytes;
#pragma unroll
        for (int i = threadIdx.x; i < G::tiles * 32; i += G::threads)
            cp_async16_s(ws + i * 16, qt + ((long)min(btile + (i >> 5), ntiles - 1) * ksteps + st) * 32 + (i & 31), 16);
    };

    WgmmaAcc<N> acc;
    acc.init(scol, npad, gs, (in + gs - 1) / gs, t);
    // Per k-step: its stage is in (this thread's copies, then everyone's through the barrier, which also means every warp has
    // finished k-step st - 2, whose wgmma the step before waited for); the load of k-step st + STAGES - 2 then takes st - 2's stage.
    auto next = [&](int st)
    {
        int it = st - s0;
        cp_async_wait<STAGES - 3>();
        fence_proxy_async();
        __syncthreads();
        if (st + STAGES - 2 < s1) load(st + STAGES - 2, (it + STAGES - 2) % STAGES);
        cp_async_commit();
        return it % STAGES;
    };

    PDL_WAIT();
#pragma unroll
    for (int i = 0; i < STAGES - 2; i++)
    {
        if (s0 + i < s1) load(s0 + i, i);
        cp_async_commit();
    }
    for (int st = s0; st < s1; st += 2)
    {
        int buf = next(st);
        acc.template step<0>(*(const uint4*)(gbase + STAGES * G::xbytes + buf * G::wbytes + threadIdx.x * 16), st, base + buf * G::xbytes);
        if (st + 1 >= s1) break;
        buf = next(st + 1);
        acc.template step<1>(*(const uint4*)(gbase + STAGES * G::xbytes + buf * G::wbytes + threadIdx.x * 16), st + 1, base + buf * G::xbytes);
    }
    wgmma_wait<0>();
    PDL_TRIGGER();

    if (tile >= ntiles) return;
    bool add = gridDim.z > 1;
#pragma unroll
    for (int i = 0; i < N / 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++)
        {
            int row = row0 + 8 * i + 2 * t + (e & 1), col = tile * 16 + g + (e >> 1) * 8;
            if (row >= m || col >= out) continue;
            float* q = y + (long)row * ldy + col;
            float v = acc.d[4 * i + e];
            if (add) atomicAdd(q, v);
            else *q = atomic ? *q + v : v;
        }
#endif
}

// Every kernel: (xs, qt, sz, y, m, ldx, in, out, gs, ldy, per, atomic), grid (ceil(ntiles / (4 WG)), ceil(m / N), splits),
// 128 * WG threads, WgmmaTile::smem bytes of dynamic shared memory (GemmTile.Wgmma* in GemmPlanner.cs keeps the same shapes).
#define WGMMA_KERNEL(NAME, N, WG, ST, MINB) \
extern "C" __global__ void __launch_bounds__(128 * WG, MINB) NAME(const half_t* x, const uint4* qt, const u32* sz, float* y, \
    int m, int ldx, int in, int out, int gs, int ldy, int per, int atomic) \
{ w4_wgmma<N, WG, ST>(x, qt, sz, y, m, ldx, in, out, gs, ldy, per, atomic); }

// Name: gptq_wgmma_<N>[w]: N rows per block; w four warpgroups (256 features), else two (128).
WGMMA_KERNEL(gptq_wgmma_128, 128, 2, 5, 2)
WGMMA_KERNEL(gptq_wgmma_128w, 128, 4, 4, 1)
WGMMA_KERNEL(gptq_wgmma_256, 256, 2, 5, 1)
