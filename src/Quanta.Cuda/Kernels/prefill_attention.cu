#include "common.cuh"

#define BQ 64      // queries per block
#define BK 32      // keys per tile
#define PD 132     // shared row stride in floats (head_dim <= 128; rows stay 16-byte aligned)
#define PP 36      // row stride of the probability tile

// Causal attention for prefill: one block per (tile of up to 64 consecutive query tokens of one
// sequence, head). K/V tiles of 32 keys are read through the block table into shared memory;
// each thread holds 4 query rows x 2 keys of scores and 4 rows x 8 head dims of the output,
// with an online softmax across key tiles. head_dim <= 128, a multiple of 4.
// q: [T, H, D] f16; kc, vc: [slots, KH, D] f16; tiles: [n, 2] i32 (first token, count); out: [T, H, D] f16.
extern "C" __global__ void __launch_bounds__(256) prefill_attention(
    const half_t* __restrict__ q, const half_t* __restrict__ kc, const half_t* __restrict__ vc,
    const int* __restrict__ seq_of, const int* __restrict__ pos, const int* __restrict__ tables, const int* __restrict__ tiles,
    half_t* __restrict__ out, int H, int KH, int D, int bs, int maxb, float scale)
{
    PDL_START();
    extern __shared__ float4 smem4[];
    float* Qs = (float*)smem4;        // [BQ][PD]
    float* Ks = Qs + BQ * PD;         // [BK][PD]
    float* Vs = Ks + BK * PD;         // [BK][PD]
    float* Ps = Vs + BK * PD;         // [BQ][PP]
    int h = blockIdx.y, kh = h / (H / KH);
    int t0 = tiles[2 * blockIdx.x], cnt = tiles[2 * blockIdx.x + 1];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    int D4 = D >> 2;
    const int* table = tables + (long)seq_of[t0] * maxb;
    int p0 = pos[t0];
    int kend = p0 + cnt;

    for (int i = tid; i < BQ * D; i += 256)
    {
        int r = i / D, d = i - r * D;
        Qs[r * PD + d] = r < cnt ? h2f(q[((long)(t0 + r) * H + h) * D + d]) * scale : 0.f;
    }
    float o[4][2][4];
    float m[4], l[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
    {
        m[i] = NEG_INF; l[i] = 0.f;
#pragma unroll
        for (int c = 0; c < 2; c++)
#pragma unroll
            for (int e = 0; e < 4; e++) o[i][c][e] = 0.f;
    }
    for (int k0 = 0; k0 < kend; k0 += BK)
    {
        __syncthreads();
        for (int i = tid; i < BK * D; i += 256)
        {
            int j = i / D, d = i - j * D;
            int kj = k0 + j;
            float kv = 0.f, vv = 0.f;
            if (kj < kend)
            {
                long slot = (long)table[kj / bs] * bs + kj % bs;
                long off = (slot * KH + kh) * D + d;
                kv = h2f(kc[off]);
                vv = h2f(vc[off]);
            }
            Ks[j * PD + d] = kv;
            Vs[j * PD + d] = vv;
        }
        __syncthreads();
        float s[4][2];
#pragma unroll
        for (int i = 0; i < 4; i++) { s[i][0] = 0.f; s[i][1] = 0.f; }
        for (int d4 = 0; d4 < D4; d4++)
        {
            float4 k0v = *(const float4*)&Ks[tx * PD + 4 * d4];
            float4 k1v = *(const float4*)&Ks[(tx + 16) * PD + 4 * d4];
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                float4 qv = *(const float4*)&Qs[(ty * 4 + i) * PD + 4 * d4];
                s[i][0] += qv.x * k0v.x + qv.y * k0v.y + qv.z * k0v.z + qv.w * k0v.w;
                s[i][1] += qv.x * k1v.x + qv.y * k1v.y + qv.z * k1v.z + qv.w * k1v.w;
            }
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
        {
            int r = ty * 4 + i, prow = p0 + r;
            float mx = NEG_INF;
#pragma unroll
            for (int j = 0; j < 2; j++)
            {
                int kj = k0 + tx + 16 * j;
                if (r >= cnt || kj > prow) s[i][j] = NEG_INF;
                mx = fmaxf(mx, s[i][j]);
            }
#pragma unroll
            for (int off = 1; off < 16; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            float mn = fmaxf(m[i], mx);
            bool none = mn == NEG_INF;
            float corr = none ? 1.f : __expf(m[i] - mn);
            float rs = 0.f;
#pragma unroll
            for (int j = 0; j < 2; j++)
            {
                float p = none ? 0.f : __expf(s[i][j] - mn);
                Ps[r * PP + tx + 16 * j] = p;
                rs += p;
            }
#pragma unroll
            for (int off = 1; off < 16; off <<= 1) rs += __shfl_xor_sync(0xffffffffu, rs, off);
            l[i] = l[i] * corr + rs;
            m[i] = mn;
#pragma unroll
            for (int c = 0; c < 2; c++)
#pragma unroll
                for (int e = 0; e < 4; e++) o[i][c][e] *= corr;
        }
        __syncthreads();
        int jn = min(BK, kend - k0);
        for (int j = 0; j < jn; j++)
        {
#pragma unroll
            for (int c = 0; c < 2; c++)
            {
                int d4 = tx + 16 * c;
                if (d4 < D4)
                {
                    float4 vv = *(const float4*)&Vs[j * PD + 4 * d4];
#pragma unroll
                    for (int i = 0; i < 4; i++)
                    {
                        float p = Ps[(ty * 4 + i) * PP + j];
                        o[i][c][0] += p * vv.x; o[i][c][1] += p * vv.y; o[i][c][2] += p * vv.z; o[i][c][3] += p * vv.w;
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
    {
        int r = ty * 4 + i;
        if (r >= cnt) continue;
        float inv = 1.f / l[i];
#pragma unroll
        for (int c = 0; c < 2; c++)
        {
            int d4 = tx + 16 * c;
            if (d4 >= D4) continue;
            half_t* op = out + ((long)(t0 + r) * H + h) * D + 4 * d4;
#pragma unroll
            for (int e = 0; e < 4; e++) op[e] = f2h(o[i][c][e] * inv);
        }
    }
}
