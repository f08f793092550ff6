// Greedy rows spread over several blocks each (few rows: one block per row leaves the GPU idle for two sweeps of the
// vocabulary). Block b of row r takes a contiguous chunk: the max with its first index (one 64-bit key, NaN skipped as
// sample_rows does), and s_b = sum of exp(w - m_b) in double over its chunk, m_b its chunk's max. The last block of the
// row to finish (a self-resetting counter) merges them (greedy_finish).
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
    int row = blockIdx.y, b = blockIdx.x, nb = gridDim.x;
    const float* x = logits + (size_t)row * vocab;
    int chunk = (vocab + nb - 1) / nb, i0 = b * chunk, i1 = min(vocab, i0 + chunk);
    GreedyPart g = greedy_part<8>(x, i0, i1, shk, shd);
    greedy_finish(g, parts + (size_t)row * nb, counters + row, row, ids, logprobs, host_ids, host_logprobs, shk, shd);
}
