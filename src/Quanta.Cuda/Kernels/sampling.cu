// Token choice next to the logits, one block per row, matching the CPU Sampler (src/Quanta/Engine/Sampler*.cs):
// greedy = first index of the max; sampling = logits / temperature, top-k (every value >= the k-th largest),
// top-p (drop the least likely tokens whose cumulative mass is at most 1 - p, keep at least the max), then the
// inverse CDF in token-id order at u * sum over the kept tokens' exp(w - max), summed in double as the CPU does.
// logprob = w[id] - logsumexp(kept w).
// Thresholds are found by bisection over the values' bit patterns with block-wide counts and sums (no sorting), over a
// copy of the row in shared memory where it fits; top-k finishes over a short list of candidates in one warp.
#include "greedy.cuh"

#define SAMPLE_THREADS 1024
#define MASK_THREADS 256
#define TOPK_LIST 1024   // top-k candidates finished by one warp

// One row's parameters, laid out as CudaSampler.RowParams (24 bytes). temperature 1, top_k 0, top_p 1 = off.
struct RowParams
{
    float temperature;
    int top_k;
    float top_p;
    int greedy;
    double u;
};

// Constrained decoding: the tokens a row's allowed-token mask rules out become -inf in place, before sample_rows or
// greedy_rows choose (as the CPU Sampler applies a grammar's mask before temperature, top-k and top-p), so they count in
// neither the softmax nor the logprob. logits [rows, vocab] f32; slots [rows] i32, the row's mask in masks or -1 for a
// free row (left alone); masks [*, ceil(vocab / 32)] u32, bit i of word i / 32 = token i allowed. slots and masks are
// mapped host memory, read once per masked row into shared memory ([ceil(vocab / 32)] u32, dynamic). Grid rows, MASK_THREADS.
extern "C" __global__ void __launch_bounds__(MASK_THREADS) mask_rows(float* __restrict__ logits, int vocab,
    const int* __restrict__ slots, const u32* __restrict__ masks)
{
    extern __shared__ u32 allowed[];
    PDL_START();
    int slot = slots[blockIdx.x];
    if (slot < 0) return;
    int words = (vocab + 31) >> 5;
    const u32* m = masks + (size_t)slot * words;
    for (int w = threadIdx.x; w < words; w += blockDim.x) allowed[w] = m[w];
    __syncthreads();
    float* x = logits + (size_t)blockIdx.x * vocab;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (!((allowed[i >> 5] >> (i & 31)) & 1u)) x[i] = NEG_INF;
}

struct Row
{
    const float* x;   // [vocab] raw logits
    float t;          // temperature (1 = off; x / 1 is x exactly)
    int top_k;        // 0 = off
    u32 kth;          // keep key(w) >= kth when top_k > 0
    float max;        // max of w
    int top_p;        // top-p on
    u32 pbits;        // keep bits(exp(w - max)) > pbits when top_p
    float* c;         // [vocab] shared copy of the row or null: w (stage 0), then exp(w - max) of top-k's survivors (stage 1)
    int stage;

    __device__ __forceinline__ float w(int i) const { return c && stage == 0 ? c[i] : x[i] / t; }
    __device__ __forceinline__ bool kept_k(float wi) const { return top_k == 0 || order_key(wi) >= kth; }
    // exp(w - max) of top-k's survivors, before top-p.
    __device__ __forceinline__ float ek(int i) const
    {
        if (c && stage == 1) return c[i];
        float wi = w(i);
        return kept_k(wi) ? expf(wi - max) : 0.f;
    }
    // exp(w - max) of a token kept by top-k and top-p, else 0.
    __device__ __forceinline__ float e(int i) const
    {
        float ei = ek(i);
        return top_p && __float_as_uint(ei) <= pbits ? 0.f : ei;
    }
};

// logits [rows, vocab] f32; params [rows]; ids [rows] i32 and logprobs [rows] f32 out, also written to host_ids and
// host_logprobs (mapped host memory) where not null. Block = SAMPLE_THREADS.
// cached: dynamic shared memory holds [vocab] f32, so a sampled row is read from global memory once, not once per
// bisection step (each step is then a sweep of shared memory).
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(const float* __restrict__ logits, int vocab,
    const RowParams* __restrict__ params, int* __restrict__ ids, float* __restrict__ logprobs, int cached,
    int* __restrict__ host_ids, float* __restrict__ host_logprobs)
{
    extern __shared__ float cache[];
    PDL_START();
    __shared__ double shd[32];
    __shared__ float shf[32];
    __shared__ int shi[32];
    __shared__ double incl_all[SAMPLE_THREADS];
    __shared__ int pick_sh;
    const RowParams p = params[blockIdx.x];
    const int tid = threadIdx.x, nt = blockDim.x;
    Row r;
    r.x = logits + (size_t)blockIdx.x * vocab;
    r.t = p.greedy ? 1.f : p.temperature;
    r.top_k = p.greedy ? 0 : p.top_k;
    r.kth = 0;
    r.top_p = !p.greedy && p.top_p < 1.f;
    r.pbits = 0;
    r.c = nullptr;
    r.stage = 0;

    if (p.greedy)
    {
        // One pass for the max and its first index, one for the sum of exp(w - max): no prefix sums.
        __shared__ unsigned long long shb[32];
        GreedyPart g = greedy_part<1>(r.x, 0, vocab, shb, shd);
        int id = greedy_id(g.key);
        if (tid == 0) put(ids, logprobs, host_ids, host_logprobs, blockIdx.x, id, r.x[id] - (r.x[id] + logf((float)g.sum)));
        return;
    }

    if (cached)
    {
        for (int i = tid; i < vocab; i += nt) cache[i] = r.x[i] / r.t;
        __syncthreads();
        r.c = cache;
    }
    float m = NEG_INF;
    for (int i = tid; i < vocab; i += nt) m = fmaxf(m, r.w(i));
    r.max = block_reduce(m, shf, NEG_INF, MaxOp());

    if (r.top_k > 0)
    {
        // Largest key with at least k values at or above it: the k-th largest value. Bisection over all values until at
        // most TOPK_LIST lie between the bounds (cLo values at or above lo, cHi at or above hi), then the candidates are
        // listed and warp 0 finishes over the list alone: the same counts, without a block-wide sweep per step.
        __shared__ u32 list[TOPK_LIST];
        __shared__ int listed;
        __shared__ long long lo_sh;
        long long lo = 0, hi = 0x100000000LL;
        int cLo = vocab, cHi = 0;
        while (hi - lo > 1 && cLo - cHi > TOPK_LIST)
        {
            long long mid = (lo + hi) >> 1;
            int c = 0;
#pragma unroll 8
            for (int i = tid; i < vocab; i += nt) c += order_key(r.w(i)) >= (u32)mid;
            c = block_reduce(c, shi, 0, SumOp());
            if (c >= r.top_k) { lo = mid; cLo = c; } else { hi = mid; cHi = c; }
        }
        if (hi - lo > 1)
        {
            if (tid == 0) listed = 0;
            __syncthreads();
            for (int i = tid; i < vocab; i += nt)
            {
                u32 key = order_key(r.w(i));
                if (key >= (u32)lo && (long long)key < hi) list[atomicAdd(&listed, 1)] = key;
            }
            __syncthreads();
            if (tid < 32)
            {
                int n = listed;
                while (hi - lo > 1)
                {
                    long long mid = (lo + hi) >> 1;
                    int c = 0;
                    for (int j = tid; j < n; j += 32) c += list[j] >= (u32)mid && (long long)list[j] < hi;   // cHi counts those >= hi
                    c = cHi + (int)__reduce_add_sync(0xffffffffu, (unsigned)c);
                    if (c >= r.top_k) lo = mid; else { hi = mid; cHi = c; }
                }
                if (tid == 0) lo_sh = lo;
            }
            __syncthreads();
            lo = lo_sh;
        }
        r.kth = (u32)lo;
    }

    if (r.c)
    {
        // From here on only exp(w - max) of top-k's survivors is read: keep that instead of w.
        for (int i = tid; i < vocab; i += nt) r.c[i] = r.ek(i);
        __syncthreads();
        r.stage = 1;
    }

    if (r.top_p)
    {
        // Drop every token whose exp(w - max) is at most the largest level whose mass at or below it is <= (1 - p) * total.
        r.top_p = 0;
        double s = 0;
        for (int i = tid; i < vocab; i += nt) s += r.e(i);
        double limit = (1.0 - (double)p.top_p) * block_reduce(s, shd, 0.0, SumOp());
        u32 lo = 0, hi = 0x3f800001u;   // bits of 1.0f (the max's own level) + 1
        while (hi - lo > 1)
        {
            u32 mid = lo + ((hi - lo) >> 1);
            double below = 0;
#pragma unroll 8
            for (int i = tid; i < vocab; i += nt)
            {
                float ei = r.e(i);
                if (__float_as_uint(ei) <= mid) below += ei;
            }
            if (block_reduce(below, shd, 0.0, SumOp()) <= limit) lo = mid; else hi = mid;
        }
        r.pbits = min(lo, 0x3f800000u - 1u);   // the max always stays
        r.top_p = 1;
    }

    // Sum of the kept tokens' exp(w - max) over this thread's contiguous id range, then a block-wide prefix sum.
    int chunk = (vocab + nt - 1) / nt, b0 = min(vocab, tid * chunk), b1 = min(vocab, b0 + chunk);
    double s = 0;
    int last = -1;
    for (int i = b0; i < b1; i++)
    {
        float ei = r.e(i);
        s += ei;
        if (ei != 0.f) last = i;
    }
    int lane = tid & 31, wid = tid >> 5, nw = nt >> 5;
    double incl = s;
    for (int o = 1; o < 32; o <<= 1)
    {
        double v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
    }
    __syncthreads();
    if (lane == 31) shd[wid] = incl;
    __syncthreads();
    if (wid == 0)
    {
        double v = lane < nw ? shd[lane] : 0.0, a = v;
        for (int o = 1; o < 32; o <<= 1)
        {
            double u = __shfl_up_sync(0xffffffffu, a, o);
            if (lane >= o) a += u;
        }
        if (lane < nw) shd[lane] = a - v;   // exclusive prefix of the warps' totals
    }
    __syncthreads();
    incl += shd[wid];
    incl_all[tid] = incl;
    if (tid == 0) pick_sh = -1;
    __syncthreads();
    double total = incl_all[nt - 1];
    float sumf = (float)total;
    float lse = r.max + logf(sumf);
    int lastAll = -block_reduce(-last, shi, 0x7fffffff, MinOp());   // largest kept id

    double target = p.u * total, excl = tid > 0 ? incl_all[tid - 1] : 0.0;
    if (excl <= target && target < incl)
    {
        double cum = excl;
        int found = last;
        for (int i = b0; i < b1; i++)
        {
            float ei = r.e(i);
            if (ei == 0.f) continue;
            cum += ei;
            if (cum > target) { found = i; break; }
        }
        pick_sh = found;
    }
    __syncthreads();
    int id = pick_sh >= 0 ? pick_sh : lastAll;
    if (tid == 0)
    {
        if (id < 0 || id >= vocab) id = 0;
        put(ids, logprobs, host_ids, host_logprobs, blockIdx.x, id, r.w(id) - lse);
    }
}
