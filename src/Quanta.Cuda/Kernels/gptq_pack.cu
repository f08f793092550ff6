// Load-time repacking of AutoGPTQ tensors into the tiled layout (see gptq.cuh) and its dequantisation for the GEMM path.
#include "gptq.cuh"

// qw [in/8, out] u32 (AutoGPTQ packing, rows in group order) -> qt (one thread per u32 of qt).
extern "C" __global__ void gptq_tile(const u32* __restrict__ qw, u32* __restrict__ qt, int in, int out)
{
    PDL_START();
    int ksteps = (in + 63) >> 6;
    long total = (long)((out + 15) >> 4) * ksteps * 128;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total; idx += (long)gridDim.x * blockDim.x)
    {
        int j = (int)(idx & 3), lane = (int)((idx >> 2) & 31);
        long rest = idx >> 7;
        int ks = (int)(rest % ksteps), tile = (int)(rest / ksteps);
        int g = lane >> 2, t = lane & 3, kb = ks * 64 + 16 * t + 4 * j;
        u32 word = 0;
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int h = 0; h < 2; h++)
            {
                int n = tile * 16 + g + (r & 1) * 8, k = kb + (r >> 1) * 2 + h;
                if (n < out && k < in) word |= ((qw[(long)(k >> 3) * out + n] >> (4 * (k & 7))) & 15u) << (4 * r + 16 * h);
            }
        qt[idx] = word;
    }
}

// qz [groups, out/8] u32, sc [groups, out] f16 -> sz [groups, npad] half2(scale, 1024 + zero + 1).
extern "C" __global__ void gptq_scales_zeros(const u32* __restrict__ qz, const half_t* __restrict__ sc, u32* __restrict__ sz,
                                             int out, int groups, int npad)
{
    PDL_START();
    long total = (long)groups * npad;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total; idx += (long)gridDim.x * blockDim.x)
    {
        int g = (int)(idx / npad), n = (int)(idx % npad);
        u32 v = 0x64010000u;   // past the edge: scale 0, zero point 1024 + 1
        if (n < out)
        {
            u32 z = (qz[(long)g * (out >> 3) + (n >> 3)] >> (4 * (n & 7))) & 15u;
            v = (u32)sc[(long)g * out + n] | ((0x6400u + z + 1) << 16);
        }
        sz[idx] = v;
    }
}

// Dequantise the tiled layout for the GEMM path: wd [out, in] f16 (a feature's inputs contiguous).
// One thread per lane-word of qt: 16 inputs of two features, written as 32-byte runs.
extern "C" __global__ void gptq_dequant(const uint4* __restrict__ qt, const u32* __restrict__ sz, half_t* __restrict__ wd,
                                        int in, int out, int gs)
{
    PDL_START();
    int ntiles = (out + 15) >> 4, ksteps = (in + 63) >> 6, npad = ntiles * 16;
    long total = (long)ntiles * ksteps * 32;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total; idx += (long)gridDim.x * blockDim.x)
    {
        int lane = (int)(idx & 31);
        long rest = idx >> 5;
        int ks = (int)(rest % ksteps), tile = (int)(rest / ksteps);
        int g = lane >> 2, t = lane & 3, k0 = ks * 64 + 16 * t, fa = tile * 16 + g;
        if (k0 >= in) continue;
        u32 va = __ldg(sz + (long)(k0 / gs) * npad + fa), vb = __ldg(sz + (long)(k0 / gs) * npad + fa + 8);
        u32 sa = (va & 0xffffu) * 0x10001u, za = (va >> 16) * 0x10001u, sb = (vb & 0xffffu) * 0x10001u, zb = (vb >> 16) * 0x10001u;
        uint4 q = qt[idx];
        u32 qv[4] = {q.x, q.y, q.z, q.w};
        u32 ra[8], rb[8];   // feature a / b: inputs k0 + 2i, 2i+1
#pragma unroll
        for (int j = 0; j < 4; j++)
        {
            u32 a[4];
            dequant_word(qv[j], za, sa, zb, sb, a);
            ra[2 * j] = a[0]; ra[2 * j + 1] = a[2];
            rb[2 * j] = a[1]; rb[2 * j + 1] = a[3];
        }
        if (fa < out)
        {
            uint4* d = (uint4*)(wd + (long)fa * in + k0);
            d[0] = make_uint4(ra[0], ra[1], ra[2], ra[3]); d[1] = make_uint4(ra[4], ra[5], ra[6], ra[7]);
        }
        if (fa + 8 < out)
        {
            uint4* d = (uint4*)(wd + (long)(fa + 8) * in + k0);
            d[0] = make_uint4(rb[0], rb[1], rb[2], rb[3]); d[1] = make_uint4(rb[4], rb[5], rb[6], rb[7]);
        }
    }
}
