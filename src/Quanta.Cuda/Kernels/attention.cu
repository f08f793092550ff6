#include "rope.cuh"

#define MAXC 4   // 8-dim chunks per lane: head_dim <= 32 G (256 in groups of 8 lanes, 128 in groups of 4), head_dim % 8 == 0

// out[:] = sum_s acc_s * e^(m_s - M) / sum_s l_s * e^(m_s - M) over the split partials pp [splits, D + 2]
// (read past L1: other blocks wrote them).
__device__ __forceinline__ void merge_splits(const float* pp, half_t* out, int D, int splits)
{
    float M = NEG_INF;
    for (int s = 0; s < splits; s++) M = fmaxf(M, __ldcg(pp + s * (D + 2) + D));
    float L = 0.f;
    for (int s = 0; s < splits; s++)
    {
        float l = __ldcg(pp + s * (D + 2) + D + 1);
        if (l > 0.f) L += l * __expf(__ldcg(pp + s * (D + 2) + D) - M);
    }
    for (int d = threadIdx.x; d < D; d += blockDim.x)
    {
        float v = 0.f;
        for (int s = 0; s < splits; s++)
            if (__ldcg(pp + s * (D + 2) + D + 1) > 0.f) v += __ldcg(pp + s * (D + 2) + d) * __expf(__ldcg(pp + s * (D + 2) + D) - M);
        out[d] = f2h(v / L);
    }
}

// Causal attention of each query token over its sequence's cached positions [0, pos[t]], read
// through the block table (decode and prefill alike; the new K/V are already in the cache).
// One block of NW warps (4 or 8) per (head, token, split). Each warp works on 32/G keys at once, one per group
// of G lanes (8, or 4 where head_dim <= 128; group r of warp w takes keys w*32/G + r, + 32/G NW, ...); lane `sub` of a
// group holds the 8-dim chunks sub, sub + G, ... of q, K, V and the output, so a key's K and V rows are read as
// 16-byte loads. Each
// group keeps its own online softmax; groups, then warps, are merged at the end.
// q: [T, H, D] f16; kc, vc: [slots, KH, D] f16 (one layer); seq_of, pos: [T]; tables: [S, maxb] i32.
// With splits == 1 the result goes to out [T, H, D] f16; otherwise each split writes its partial
// (max, sum, acc[D]) to part [T, H, splits, D + 2] f32 and the last split to finish (counters [T, H] i32,
// zero between launches) combines them.
// ROPE (decode steps: each token is the last position of its sequence): q and the token's own K/V come unrotated
// from the f32 projections qkv [T, ld] (q, k, v side by side), are rotated here (as rope_kv does), and the token's
// key is read from shared memory; the first q head of each KV head, in the split holding that key, writes K/V to its slot
// (none for slot < 0). q is then unused.
struct RopeIn
{
    const float* qkv;          // [T, ld] f32: q [H*D], k [KH*D], v [KH*D]
    const int* slot;           // [T]
    const double* inv_freq;    // [D/2]
    int ld, style;
};

template <int NW, bool ROPE, int G, bool PRE = false>
__device__ __forceinline__ void paged_attention_nw(
    const half_t* __restrict__ q, half_t* __restrict__ kc, half_t* __restrict__ vc,
    const int* __restrict__ seq_of, const int* __restrict__ pos, const int* __restrict__ tables,
    half_t* __restrict__ out, float* __restrict__ part, int* __restrict__ counters,
    int H, int KH, int D, int bs, int maxb, float scale, int splits, RopeIn ri)
{
    // The kernel after (o_proj) is let in only once the keys are read: its blocks request all of their weights at once,
    // which would queue ahead of this kernel's own loads.
    // ROPE: the step's indices, the rotation angles, the slots of the group's first three keys and the first one's K/V
    // row (cached by earlier steps: every key but the token's own) are read before waiting for the kernel before, whose
    // only output here is qkv, so those loads overlap its tail.
    if (!ROPE) PDL_WAIT();
    __shared__ float sm[NW], sl[NW];
    __shared__ float sacc[NW][256];
    __shared__ __align__(16) half_t qn[ROPE ? 256 : 8], kn[ROPE ? 256 : 8], vn[ROPE ? 256 : 8];   // [D] f16 rotated q, k; v
    int h = blockIdx.x, t = blockIdx.y, sp = blockIdx.z;
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31, grp = lane / G, sub = lane % G, nc = D >> 3;
    unsigned gmask = ((1u << G) - 1) << (grp * G);
    int kh = h / (H / KH);
    int ctx = pos[t] + 1;
    int chunk = (ctx + splits - 1) / splits;
    int j0 = sp * chunk, j1 = min(ctx, j0 + chunk), jf = j0 + w * (32 / G) + grp;
    const int* table = tables + (long)seq_of[t] * maxb;
    const half_t* qp = q + ((long)t * H + h) * D;
    // Key j's cache slot, and the lane's chunks of its K and V rows [D] f16 (the token's own from shared memory).
    auto slot_of = [&](int j) { return (long)table[j / bs] * bs + j % bs; };
    auto load_kv = [&](int j, long slot, uint4 (&kr)[MAXC], uint4 (&vr)[MAXC]) {
        const half_t* kp = kc + (slot * KH + kh) * D;
        const half_t* vp = vc + (slot * KH + kh) * D;
        if (ROPE && j == ctx - 1) { kp = kn; vp = vn; }
#pragma unroll
        for (int c = 0; c < MAXC; c++)
            if (sub + G * c < nc) { kr[c] = *(const uint4*)(kp + (sub + G * c) * 8); vr[c] = *(const uint4*)(vp + (sub + G * c) * 8); }
    };
    // ROPE: the group's first K/V row, copied to shared memory before the wait (each lane reads back only its own chunks).
    __shared__ __align__(16) half_t kpre[ROPE ? 32 / G * NW : 1][ROPE ? 32 * G : 8], vpre[ROPE ? 32 / G * NW : 1][ROPE ? 32 * G : 8];
    bool pre = ROPE && jf < j1 && jf != ctx - 1;
    long nx1 = 0, nx2 = 0;
    uint4 k1[MAXC], v1[MAXC], k2[MAXC], v2[MAXC];   // PRE: the second and third keys' chunks
    bool p1 = false, p2 = false;
    if (ROPE)
    {
        float sn = 0.f, cs = 0.f;   // D / 2 <= 128 <= blockDim.x: one pair per thread
        if (threadIdx.x < D / 2) rope_angle((double)(ctx - 1), ri.inv_freq, threadIdx.x, sn, cs);
        // The slots of the group's second and third keys are looked up with the first's, so those rounds wait on one
        // load after the wait instead of two.
        int stride = 32 / G * NW;
        long s0 = jf < j1 ? slot_of(jf) : 0;
        nx1 = jf + stride < j1 ? slot_of(jf + stride) : 0;
        nx2 = jf + 2 * stride < j1 ? slot_of(jf + 2 * stride) : 0;
        if (pre)
        {
            const half_t* kp = kc + (s0 * KH + kh) * D;
            const half_t* vp = vc + (s0 * KH + kh) * D;
            for (int c = 0; c < MAXC; c++)
                if (sub + G * c < nc)
                {
                    cp_async16(&kpre[w * (32 / G) + grp][(sub + G * c) * 8], kp + (sub + G * c) * 8, 16);
                    cp_async16(&vpre[w * (32 / G) + grp][(sub + G * c) * 8], vp + (sub + G * c) * 8, 16);
                }
            cp_async_commit();
        }
        // PRE (blocks that have an SM to themselves): the second and third keys' K/V rows are loaded into registers before
        // the wait as well (not the token's own, rotated after it).
        if (PRE)
        {
            p1 = nx1 != 0 && jf + stride != ctx - 1;
            p2 = nx2 != 0 && jf + 2 * stride != ctx - 1;
            if (p1) load_kv(jf + stride, nx1, k1, v1);
            if (p2) load_kv(jf + 2 * stride, nx2, k2, v2);
        }
        PDL_WAIT();
        const float* row = ri.qkv + (long)t * ri.ld;
        if (threadIdx.x < D / 2)
        {
            rope_pair(row + h * D, qn, nullptr, threadIdx.x, D, ri.style, sn, cs);
            rope_pair(row + (H + kh) * D, kn, nullptr, threadIdx.x, D, ri.style, sn, cs);
        }
        for (int i = threadIdx.x; i < D; i += blockDim.x) vn[i] = f2h(row[(H + KH + kh) * D + i]);
        __syncthreads();
        long s = ri.slot[t];
        if (s >= 0 && h % (H / KH) == 0 && sp == (ctx - 1) / chunk)
            for (int i = threadIdx.x; i < D; i += blockDim.x) { kc[(s * KH + kh) * D + i] = kn[i]; vc[(s * KH + kh) * D + i] = vn[i]; }
        qp = qn;
    }

    float qv[MAXC][8], acc[MAXC][8];
#pragma unroll
    for (int c = 0; c < MAXC; c++)
    {
        int ch = sub + G * c;
        if (ch < nc) unpack8(*(const uint4*)(qp + ch * 8), qv[c]);
#pragma unroll
        for (int e = 0; e < 8; e++) { qv[c][e] = ch < nc ? qv[c][e] * scale : 0.f; acc[c][e] = 0.f; }
    }
    float m = NEG_INF, l = 0.f;
#pragma unroll 2
    for (int j = jf, i = 0; j < j1; j += 32 / G * NW, i++)
    {
        uint4 kr[MAXC], vr[MAXC];
        if (pre && j == jf)
        {
            cp_async_wait<0>();
#pragma unroll
            for (int c = 0; c < MAXC; c++)
                if (sub + G * c < nc)
                {
                    kr[c] = *(const uint4*)&kpre[w * (32 / G) + grp][(sub + G * c) * 8];
                    vr[c] = *(const uint4*)&vpre[w * (32 / G) + grp][(sub + G * c) * 8];
                }
        }
        else if (PRE && i == 1 && p1)
        {
#pragma unroll
            for (int c = 0; c < MAXC; c++) { kr[c] = k1[c]; vr[c] = v1[c]; }
        }
        else if (PRE && i == 2 && p2)
        {
#pragma unroll
            for (int c = 0; c < MAXC; c++) { kr[c] = k2[c]; vr[c] = v2[c]; }
        }
        else load_kv(j, ROPE && i == 1 ? nx1 : ROPE && i == 2 ? nx2 : slot_of(j), kr, vr);
        float s = 0.f;
#pragma unroll
        for (int c = 0; c < MAXC; c++)
            if (sub + G * c < nc)
            {
                float kf[8];
                unpack8(kr[c], kf);
#pragma unroll
                for (int e = 0; e < 8; e++) s += qv[c][e] * kf[e];
            }
#pragma unroll
        for (int o = 1; o < G; o <<= 1) s += __shfl_xor_sync(gmask, s, o);
        float mn = fmaxf(m, s);
        float corr = __expf(m - mn);   // m = -inf on the first key gives 0
        float p = __expf(s - mn);
        l = l * corr + p;
#pragma unroll
        for (int c = 0; c < MAXC; c++)
            if (sub + G * c < nc)
            {
                float vf[8];
                unpack8(vr[c], vf);
#pragma unroll
                for (int e = 0; e < 8; e++) acc[c][e] = acc[c][e] * corr + p * vf[e];
            }
        m = mn;
    }
    PDL_TRIGGER();
    // Merge the warp's groups (lanes with the same sub).
    float M = m;
#pragma unroll
    for (int o = G; o < 32; o <<= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    float f = l > 0.f ? __expf(m - M) : 0.f;
    l *= f;
#pragma unroll
    for (int o = G; o < 32; o <<= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
#pragma unroll
    for (int c = 0; c < MAXC; c++)
#pragma unroll
        for (int e = 0; e < 8; e++)
        {
            float v = acc[c][e] * f;
#pragma unroll
            for (int o = G; o < 32; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            acc[c][e] = v;
        }
    if (lane == 0) { sm[w] = M; sl[w] = l; }
    if (grp == 0)
#pragma unroll
        for (int c = 0; c < MAXC; c++)
            if (sub + G * c < nc)
#pragma unroll
                for (int e = 0; e < 8; e++) sacc[w][(sub + G * c) * 8 + e] = acc[c][e];
    __syncthreads();
    float MB = sm[0];
#pragma unroll
    for (int i = 1; i < NW; i++) MB = fmaxf(MB, sm[i]);
    float fw[NW], L = 0.f;
#pragma unroll
    for (int i = 0; i < NW; i++) { fw[i] = sl[i] > 0.f ? __expf(sm[i] - MB) : 0.f; L += sl[i] * fw[i]; }
    if (splits == 1)
    {
        for (int d = threadIdx.x; d < D; d += blockDim.x)
        {
            float v = 0.f;
#pragma unroll
            for (int i = 0; i < NW; i++) v += sacc[i][d] * fw[i];
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
            for (int i = 0; i < NW; i++) v += sacc[i][d] * fw[i];
            pp[d] = v;
        }
        if (threadIdx.x == 0) { pp[D] = L > 0.f ? MB : NEG_INF; pp[D + 1] = L; }
        // The last split of (t, h) to finish merges all partials and resets the counter for the next launch.
        __shared__ bool last;
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) last = atomicAdd(counters + (long)t * H + h, 1) == splits - 1;
        __syncthreads();
        if (!last) return;
        __threadfence();
        merge_splits(part + ((long)t * H + h) * splits * (D + 2), out + ((long)t * H + h) * D, D, splits);
        if (threadIdx.x == 0) counters[(long)t * H + h] = 0;
    }
}

// paged_attention: 4 warps (128 threads); paged_attention_8: 8 warps (256 threads), twice the keys in flight per block.
// The _rope kernels also take RopeIn's fields (qkv, ld, slot, inv_freq, style) and rotate and store the token's K/V.
// The _g4 kernels (head_dim <= 128) take groups of 4 lanes per key instead of 8: twice the keys per round of loads,
// with the same registers (each lane holds up to 4 chunks either way).
#define PAGED_ATTENTION(NAME, NW, G) \
extern "C" __global__ void __launch_bounds__(32 * NW) NAME(const half_t* q, half_t* kc, half_t* vc, const int* seq_of, \
    const int* pos, const int* tables, half_t* out, float* part, int* counters, int H, int KH, int D, int bs, int maxb, float scale, int splits) \
{ paged_attention_nw<NW, false, G>(q, kc, vc, seq_of, pos, tables, out, part, counters, H, KH, D, bs, maxb, scale, splits, RopeIn{}); } \
extern "C" __global__ void __launch_bounds__(32 * NW) NAME##_rope(const half_t* q, half_t* kc, half_t* vc, const int* seq_of, \
    const int* pos, const int* tables, half_t* out, float* part, int* counters, int H, int KH, int D, int bs, int maxb, float scale, int splits, \
    const float* qkv, int ld, const int* slot, const double* inv_freq, int style) \
{ paged_attention_nw<NW, true, G>(q, kc, vc, seq_of, pos, tables, out, part, counters, H, KH, D, bs, maxb, scale, splits, \
    RopeIn{qkv, slot, inv_freq, ld, style}); }
extern "C" __global__ void __launch_bounds__(256) paged_attention_8_g4_rope_pre(const half_t* q, half_t* kc, half_t* vc, const int* seq_of,
    const int* pos, const int* tables, half_t* out, float* part, int* counters, int H, int KH, int D, int bs, int maxb, float scale, int splits,
    const float* qkv, int ld, const int* slot, const double* inv_freq, int style)
{ paged_attention_nw<8, true, 4, true>(q, kc, vc, seq_of, pos, tables, out, part, counters, H, KH, D, bs, maxb, scale, splits,
    RopeIn{qkv, slot, inv_freq, ld, style}); }
PAGED_ATTENTION(paged_attention, 4, 8)
PAGED_ATTENTION(paged_attention_8, 8, 8)
PAGED_ATTENTION(paged_attention_g4, 4, 4)
PAGED_ATTENTION(paged_attention_8_g4, 8, 4)
