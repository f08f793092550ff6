// The f16 lm_head for one row (a batch-1 decode step), with greedy's partials fused in. Each block streams a contiguous
// run of vocab rows, 16 loads of 16 bytes per lane in flight (the first requested before the wait: weights never
// change, so inside the decode graph they stream while the final norm runs), and keeps the max key and the sum of
// exp(w - max) of its run (online: the sum is rescaled when the max grows). The last block to finish merges the
// blocks' parts, as greedy_rows does (greedy_finish).
#include "greedy.cuh"

#define LM_WARPS 8
#define LM_U 16   // 16-byte loads per lane per pass: 8 KiB per warp in flight

// The max key so far and the sum of exp(w - max) over the values seen (0, 0: none yet).
struct Online
{
    unsigned long long key;
    double sum;

    __device__ __forceinline__ void add(float v, int i)
    {
        if (v != v) return;   // NaN: skipped, as greedy_part does
        unsigned long long k = ((unsigned long long)order_key(v) << 32) | (u32)(0xffffffffu - (u32)i);
        if (k > key)
        {
            sum = key == 0 ? 1.0 : sum * (double)expf(greedy_max(key) - v) + 1.0;
            key = k;
        }
        else sum += expf(v - greedy_max(key));
    }
};

// acc + the dot product of 8 halves with 8 halves, in f32.
__device__ __forceinline__ float dot8(uint4 w, uint4 x, float acc)
{
    float wf[8], xf[8];
    unpack8(w, wf);
    unpack8(x, xf);
#pragma unroll
    for (int e = 0; e < 8; e++) acc = fmaf(wf[e], xf[e], acc);
    return acc;
}

// logits [vocab] f32 = w [vocab, hidden] f16 . x [hidden] f16, f32 sums; hidden a multiple of 8. Block b takes vocab rows
// [b * vocab / nb, (b + 1) * vocab / nb), its warp j every 8th of them from the j-th. ids != 0 (greedy): the choice as
// greedy_rows makes it, into ids, logprobs [1] and host_ids, host_logprobs (mapped, or 0); parts [gridDim.x]; counter one
// i32, zero between launches (left zero). Dynamic shared memory: hidden f16.
extern "C" __global__ void __launch_bounds__(LM_WARPS * 32, 2) lm_head_1(const uint4* __restrict__ w, const half_t* __restrict__ x,
    int hidden, int vocab, float* __restrict__ logits, int* ids, float* logprobs, GreedyPart* parts, int* counter, int* host_ids,
    float* host_logprobs)
{
    extern __shared__ uint4 xs[];   // [hidden / 8]
    __shared__ unsigned long long wk[32];
    __shared__ double wsum[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nb = gridDim.x, tid = threadIdx.x;
    int v1 = (int)((long long)(blockIdx.x + 1) * vocab / nb), cpr = hidden >> 3, passes = (cpr + 32 * LM_U - 1) / (32 * LM_U);
    int v = (int)((long long)blockIdx.x * vocab / nb) + warp, p = 0;
    uint4 q[LM_U];
    auto load = [&](int vv, int pp) {
        const uint4* row = w + (size_t)vv * cpr;
#pragma unroll
        for (int u = 0; u < LM_U; u++)
        {
            int c = (pp * LM_U + u) * 32 + lane;
            q[u] = c < cpr ? __ldcs(row + c) : make_uint4(0, 0, 0, 0);
        }
    };
    if (v < v1) load(v, 0);
    PDL_WAIT();
    for (int i = tid; i < cpr; i += blockDim.x) xs[i] = reinterpret_cast<const uint4*>(x)[i];
    __syncthreads();
    Online st{0, 0.0};   // lane 0's
    float acc = 0.f;
    while (v < v1)
    {
#pragma unroll
        for (int u = 0; u < LM_U; u++)
        {
            int c = (p * LM_U + u) * 32 + lane;
            if (c < cpr) acc = dot8(q[u], xs[c], acc);
        }
        int vdone = v;
        if (++p == passes) { p = 0; v += LM_WARPS; }
        if (v < v1) load(v, p);   // the next loads go out before this row's sum is reduced
        if (p == 0)
        {
            float s = warp_sum(acc);
            acc = 0.f;
            if (lane == 0)
            {
                logits[vdone] = s;
                if (ids) st.add(s, vdone);
            }
        }
    }
    PDL_TRIGGER();
    if (!ids) return;
    // The block's part from its warps' states, then the last block merges every block's parts.
    if (lane == 0) { wk[warp] = st.key; wsum[warp] = st.sum; }
    __syncthreads();
    GreedyPart g{0, 0.0};
    if (tid == 0)
    {
        for (int j = 0; j < LM_WARPS; j++) g.key = max(g.key, wk[j]);
        for (int j = 0; j < LM_WARPS; j++)
            if (wk[j] != 0) g.sum += wsum[j] * exp((double)greedy_max(wk[j]) - (double)greedy_max(g.key));
    }
    greedy_finish(g, parts, counter, 0, ids, logprobs, host_ids, host_logprobs, wk, wsum);
}
