// Greedy rows spread over several blocks each (few rows: one block per row leaves the GPU idle for two sweeps of the
// vocabulary). Block b of row r takes a contiguous chunk: the max with its first index (one 64-bit key, NaN skipped as
// sample_rows does), and s_b = sum of exp(w - m_b) in double over its chunk, m_b its chunk's max. The last block of the
// row to finish (a self-resetting counter) merges: M = max m_b, total = sum of s_b * exp(m_b - M), logprob = w[id] - M - log(total).
#include "greedy.cuh"

#define GREEDY_THREADS 256

// logits [rows, vocab] f32; ids [rows] i32, logprobs [rows] f32 out (and host_ids, host_logprobs as sample_rows); parts [rows, gridDim.x]; counters [rows] i32, zero
// between launches (left zero). Grid (splits, rows), GREEDY_THREADS threads.
extern "C" __global__ void __launch_bounds__(GREEDY_THREADS) greedy_rows(const float* __restrict__ logits, int vocab,
    int* __restrict__ ids, float* __restrict__ logprobs, GreedyPart* __restrict__ parts, int* __restrict__ counters,
    int* __restrict__ host_ids, float* __restrict__ host_logprobs)
{
    PDL_START();
    __shared__ unsigned long long shk[32];
    __shared__ double shd[32];
    __shared__ bool last;
    int row = blockIdx.y, b = blockIdx.x, nb = gridDim.x, tid = threadIdx.x;
    const float* x = logits + (size_t)row * vocab;
    int chunk = (vocab + nb - 1) / nb, i0 = b * chunk, i1 = min(vocab, i0 + chunk);
    GreedyPart g = greedy_part<8>(x, i0, i1, shk, shd);
    GreedyPart* pp = parts + (size_t)row * nb;
    if (tid == 0)
    {
        pp[b] = g;
        __threadfence();
        last = atomicAdd(counters + row, 1) == nb - 1;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    // The row's last block: warp 0 merges the parts (read past L1: other blocks wrote them).
    if (tid >= 32) return;
    unsigned long long k = 0;
    for (int j = tid; j < nb; j += 32) k = max(k, __ldcg(&pp[j].key));
    for (int o = 16; o > 0; o >>= 1) k = max(k, __shfl_xor_sync(0xffffffffu, k, o));
    // Maxima come from the keys, so the merge reads no logits.
    int id = greedy_id(k);
    float M = greedy_max(k);
    double total = 0;
    for (int j = tid; j < nb; j += 32)
    {
        unsigned long long kj = __ldcg(&pp[j].key);
        if (kj != 0) total += __ldcg(&pp[j].sum) * exp((double)greedy_max(kj) - (double)M);
    }
    for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
    if (tid == 0)
    {
        put(ids, logprobs, host_ids, host_logprobs, row, id, M - (M + logf((float)total)));   // logits[id] is M
        counters[row] = 0;
    }
}
