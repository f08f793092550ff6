// Developer kernel (not on the product path; docs/gemm.md has its timings, tests/Quanta.Cuda.Tests/Dev checks and times it).
// Hopper GEMM over the tiled int4 layout (gptq.cuh) for many rows: y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · Wᵀ,
// on the warpgroup MMA (sm_90a). Each warp dequantises its tile's words in registers, and these registers are the A operand
// of wgmma as they are of mma.sync (a tile is 16 features, a warpgroup's four tiles the 64 of wgmma's M); x is the B operand,
// read by the tensor cores from shared memory. Words and x arrive through a cp.async pipeline, so W is read from memory
// once per block and never written dequantised. Compiled for sm_90a (KernelRegistry.FunctionFromSource); elsewhere it is empty.
#include "wgmma.cuh"

// The block: WG warpgroups side by side over features (64 * WG features) x N rows (wgmma's N, 64 to 256); blockIdx.z takes
// k-steps [z * per, z * per + per) (split K, y added atomically). A stage holds one k-step (64 inputs):
//   x     [N rows][128 bytes], 1024-byte aligned, row r's 16-byte chunk c at c ^ (r & 7) (the 128-byte swizzle wgmma reads).
//         Within a row the 64 inputs are in the order of the words' k slots: sub-step j (16 slots, 32 bytes at 32 j) holds
//         inputs 16 t + 4 j + (0, 1) at slots 2 t, 2 t + 1 and 16 t + 4 j + (2, 3) at 2 t + 8, 2 t + 9 (gptq.cuh), so the
//         copy moves 4-byte pairs: pair q (inputs 2q, 2q + 1) = (t, j, hi) = (q / 8, q / 2 % 4, q % 2) goes to chunk
//         2 j + hi, word t.
//   words [4 * WG tiles][32 lanes] uint4 as the tiled layout stores them.

__device__ __forceinline__ void cp_async4_s(u32 dst, const void* src, int bytes)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}


template <int N, int WG, int STAGES>
__device__ __forceinline__ void w4_wgmma(const half_t* __restrict__ x, const uint4* __restrict__ qt, const u32* __restrict__ sz,
                                         float* __restrict__ y, int m, int in, int out, int gs, int ldy, int per, int atomic)
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

    // One k-step into a stage: rows past m and inputs past in are zero-filled (in % 16 == 0), tiles past the edge re-read
    // the last one (never stored).
    auto load = [&](int st, int buf)
    {
        u32 xs = base + buf * G::xbytes;
#pragma unroll 2
        for (int i = threadIdx.x; i < N * 32; i += G::threads)
        {
            int r = i >> 5, q = i & 31, row = row0 + r, k = st * 64 + 2 * q;
            bool ok = row < m && k < in;
            u32 dst = xs + r * 128 + ((((q >> 1) & 3) * 2 + (q & 1)) ^ (r & 7)) * 16 + (q >> 3) * 4;
            cp_async4_s(dst, ok ? (const void*)(x + (long)row * in + k) : (const void*)x, ok ? 4 : 0);
        }
        u32 ws = base + STAGES * G::xbytes + buf * G::wbytes;
#pragma unroll
        for (int i = threadIdx.x; i < G::tiles * 32; i += G::threads)
            cp_async16_s(ws + i * 16, qt + ((long)min(btile + (i >> 5), ntiles - 1) * ksteps + st) * 32 + (i & 31), 16);
    };

    WgmmaAcc<N> acc;
    acc.init(scol, npad, gs, (in + gs - 1) / gs, t);
    // Per k-step: its stage is in (this thread's copies, then everyone's through the barrier, which also means every warp has
    // finished k-step st - 2); the load of k-step st + STAGES - 2 then takes st - 2's stage.
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

// Every kernel: (x, qt, sz, y, m, in, out, gs, ldy, per, atomic), grid (ceil(ntiles / (4 WG)), ceil(m / N), splits),
// WgmmaTile::threads threads, WgmmaTile::smem bytes of dynamic shared memory.
#define WGMMA_KERNEL(NAME, N, WG, ST, MINB) \
extern "C" __global__ void __launch_bounds__(128 * WG, MINB) NAME(const half_t* x, const uint4* qt, const u32* sz, float* y, \
    int m, int in, int out, int gs, int ldy, int per, int atomic) \
{ w4_wgmma<N, WG, ST>(x, qt, sz, y, m, in, out, gs, ldy, per, atomic); }

// Name: wgmma_pairs_<N>[w]: w four warpgroups (256 features), else two (128).
WGMMA_KERNEL(wgmma_pairs_64, 64, 2, 6, 2)
WGMMA_KERNEL(wgmma_pairs_128, 128, 2, 5, 2)
WGMMA_KERNEL(wgmma_pairs_256, 256, 2, 5, 1)
WGMMA_KERNEL(wgmma_pairs_64w, 64, 4, 6, 1)
WGMMA_KERNEL(wgmma_pairs_128w, 128, 4, 4, 1)
