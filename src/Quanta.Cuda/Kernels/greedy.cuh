// The greedy choice over a run of logits, shared by sample_rows (a whole row per block) and greedy_rows (a chunk per block).
#pragma once
#include "common.cuh"

struct GreedyPart
{
    unsigned long long key;   // order_key(w) << 32 | ~index of the run's first max; 0 when the run is all NaN
    double sum;               // sum over the run of exp(w - max), in double; 0 when the run is all NaN or all -inf
};

// The block's threads over x[i0, i1): the max with its first index (NaN skipped, as fmaxf does), then the sum of
// exp(w - max). Every thread gets the result; shk and shd hold 32 values each.
// Each pass loads U values per thread before using any: greedy_rows takes 8 (a plain strided loop waits on each load in
// turn), sample_rows 1, compiled as before (wider passes, or the block width held in a register, made ptxas spill there).
template <int U>
__device__ __forceinline__ GreedyPart greedy_part(const float* __restrict__ x, int i0, int i1, unsigned long long* shk, double* shd)
{
    unsigned long long best = 0;
    int nt = U == 1 ? 0 : blockDim.x;
    for (int i = i0 + threadIdx.x; i < i1; i += U == 1 ? blockDim.x : U * nt)
    {
        float v[U];
#pragma unroll
        for (int u = 0; u < U; u++) v[u] = U == 1 || i + u * nt < i1 ? x[i + u * nt] : __int_as_float(0x7fc00000);   // NaN: skipped
#pragma unroll
        for (int u = 0; u < U; u++)
            if (v[u] == v[u]) best = max(best, ((unsigned long long)order_key(v[u]) << 32) | (u32)(0xffffffffu - (u32)(i + u * nt)));
    }
    best = block_reduce(best, shk, 0ull, MaxOp());
    double s = 0;
    float m = best == 0 ? NEG_INF : key_value((u32)(best >> 32));   // the max from its key: no dependent load
    // A run all -inf (ruled out by a grammar's mask) adds nothing: exp(-inf - -inf) would be NaN.
    if (m != NEG_INF)
    {
        for (int i = i0 + threadIdx.x; i < i1; i += U == 1 ? blockDim.x : U * nt)
        {
            float v[U];
#pragma unroll
            for (int u = 0; u < U; u++) v[u] = U == 1 || i + u * nt < i1 ? x[i + u * nt] : NEG_INF;
#pragma unroll
            for (int u = 0; u < U; u++) s += expf(v[u] - m);
        }
    }
    return GreedyPart{best, block_reduce(s, shd, 0.0, SumOp())};
}

__device__ __forceinline__ int greedy_id(unsigned long long key) { return key == 0 ? 0 : (int)(0xffffffffu - (u32)key); }
// The run's max from its key (0 for an all-NaN run, whose key is 0).
__device__ __forceinline__ float greedy_max(unsigned long long key) { return key == 0 ? 0.f : key_value((u32)(key >> 32)); }

// The end of a row spread over gridDim.x blocks, called by every thread of each: thread 0's part g is written to
// pp[blockIdx.x] and counted in *counter; the row's last block to finish merges all parts (the whole block; read past L1:
// other blocks wrote them) into the choice, put as sample_rows puts it (M = max m_b, total = sum of s_b * exp(m_b - M),
// logprob = w[id] - M - log(total); maxima from the keys, so no logit is read), and leaves the counter zero.
// shk and shd hold 32 values each.
__device__ __forceinline__ void greedy_finish(GreedyPart g, GreedyPart* pp, int* counter, int row, int* ids, float* logprobs,
    int* host_ids, float* host_logprobs, unsigned long long* shk, double* shd)
{
    __shared__ bool last;
    int nb = gridDim.x, tid = threadIdx.x;
    if (tid == 0)
    {
        pp[blockIdx.x] = g;
        __threadfence();
        last = atomicAdd(counter, 1) == nb - 1;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    unsigned long long k = 0;
    for (int j = tid; j < nb; j += blockDim.x) k = max(k, __ldcg(&pp[j].key));
    k = block_reduce(k, shk, 0ull, MaxOp());
    float M = greedy_max(k);
    double total = 0;
    for (int j = tid; j < nb; j += blockDim.x)
    {
        unsigned long long kj = __ldcg(&pp[j].key);
        if (kj != 0) total += __ldcg(&pp[j].sum) * exp((double)greedy_max(kj) - (double)M);
    }
    total = block_reduce(total, shd, 0.0, SumOp());
    if (tid == 0)
    {
        put(ids, logprobs, host_ids, host_logprobs, row, greedy_id(k), M - (M + logf((float)total)));   // logits[id] is M
        *counter = 0;
    }
}
