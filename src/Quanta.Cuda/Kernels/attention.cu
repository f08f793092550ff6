#include "common.cuh"

#define MAXE 8   // head_dim <= 256

// Causal attention of each query token over its sequence's cached positions [0, pos[t]], read
// through the block table (decode and prefill alike; the new K/V are already in the cache).
// One block of 4 warps per (head, token, split); warp w takes keys w, w+4, ... of its split's range
// with an online softmax; lanes hold head dims lane, lane+32, ...
// q: [T, H, D] f16; kc, vc: [slots, KH, D] f16 (one layer); seq_of, pos: [T]; tables: [S, maxb] i32.
// With splits == 1 the result goes to out [T, H, D] f16; otherwise each split writes its partial
// (max, sum, acc[D]) to part [T, H, splits, D + 2] f32 and attention_merge combines them.
extern "C" __global__ void __launch_bounds__(128) paged_attention(
    const half_t* __restrict__ q, const half_t* __restrict__ kc, const half_t* __restrict__ vc,
    const int* __restrict__ seq_of, const int* __restrict__ pos, const int* __restrict__ tables,
    half_t* __restrict__ out, float* __restrict__ part,
    int H, int KH, int D, int bs, int maxb, float scale, int splits)
{
    PDL_START();
    __shared__ float sm[4], sl[4];
    __shared__ float sacc[4][256];
    int h = blockIdx.x, t = blockIdx.y, sp = blockIdx.z;
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int kh = h / (H / KH);
    int ctx = pos[t] + 1;
    int chunk = (ctx + splits - 1) / splits;
    int j0 = sp * chunk, j1 = min(ctx, j0 + chunk);
    const int* table = tables + (long)seq_of[t] * maxb;
    const half_t* qp = q + ((long)t * H + h) * D;

    float qv[MAXE], acc[MAXE];
#pragma unroll
    for (int e = 0; e < MAXE; e++)
    {
        int d = lane + 32 * e;
        qv[e] = d < D ? h2f(qp[d]) * scale : 0.f;
        acc[e] = 0.f;
    }
    float m = NEG_INF, l = 0.f;
#pragma unroll 4
    for (int j = j0 + w; j < j1; j += 4)
    {
        long sl_ = (long)table[j / bs] * bs + j % bs;
        const half_t* kp = kc + (sl_ * KH + kh) * D;
        const half_t* vp = vc + (sl_ * KH + kh) * D;
        float s = 0.f;
#pragma unroll
        for (int e = 0; e < MAXE; e++)
        {
            int d = lane + 32 * e;
            if (d < D) s += qv[e] * h2f(kp[d]);
        }
        s = warp_sum(s);
        float mn = fmaxf(m, s);
        float corr = __expf(m - mn);   // m = -inf on the first key gives 0
        float p = __expf(s - mn);
        l = l * corr + p;
#pragma unroll
        for (int e = 0; e < MAXE; e++)
        {
            int d = lane + 32 * e;
            if (d < D) acc[e] = acc[e] * corr + p * h2f(vp[d]);
        }
        m = mn;
    }
    if (lane == 0) { sm[w] = m; sl[w] = l; }
#pragma unroll
    for (int e = 0; e < MAXE; e++)
    {
        int d = lane + 32 * e;
        if (d < D) sacc[w][d] = acc[e];
    }
    __syncthreads();
    float M = fmaxf(fmaxf(sm[0], sm[1]), fmaxf(sm[2], sm[3]));
    float f[4], L = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) { f[i] = sl[i] > 0.f ? __expf(sm[i] - M) : 0.f; L += sl[i] * f[i]; }
    if (splits == 1)
    {
        for (int d = threadIdx.x; d < D; d += blockDim.x)
        {
            float v = 0.f;
#pragma unroll
            for (int i = 0; i < 4; i++) v += sacc[i][d] * f[i];
            out[((long)t * H + h) * D + d] = f2h(v / L);
        }
    }
    else
    {
        float* pp = part + (((long)t * H + h) * splits + sp) * (D + 2);
        for (int d = threadIdx.x; d < D; d += blockDim.x)
        {
            float v = 0.f;
#pragma unroll
            for (int i = 0; i < 4; i++) v += sacc[i][d] * f[i];
            pp[d] = v;
        }
        if (threadIdx.x == 0) { pp[D] = L > 0.f ? M : NEG_INF; pp[D + 1] = L; }
    }
}

// Combines split partials: out[t, h, :] = sum_s acc_s * e^(m_s - M) / sum_s l_s * e^(m_s - M). grid (H, T).
extern "C" __global__ void attention_merge(const float* __restrict__ part, half_t* __restrict__ out, int H, int D, int splits)
{
    PDL_START();
    int h = blockIdx.x, t = blockIdx.y;
    const float* pp = part + ((long)t * H + h) * splits * (D + 2);
    float M = NEG_INF;
    for (int s = 0; s < splits; s++) M = fmaxf(M, pp[s * (D + 2) + D]);
    float L = 0.f;
    for (int s = 0; s < splits; s++)
    {
        float l = pp[s * (D + 2) + D + 1];
        if (l > 0.f) L += l * __expf(pp[s * (D + 2) + D] - M);
    }
    for (int d = threadIdx.x; d < D; d += blockDim.x)
    {
        float v = 0.f;
        for (int s = 0; s < splits; s++)
            if (pp[s * (D + 2) + D + 1] > 0.f) v += pp[s * (D + 2) + d] * __expf(pp[s * (D + 2) + D] - M);
        out[((long)t * H + h) * D + d] = f2h(v / L);
    }
}
