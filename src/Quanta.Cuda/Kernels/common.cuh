// Shared helpers: fp16 is carried as raw 16-bit words (no cuda_fp16.h needed under NVRTC).
#pragma once

typedef unsigned short half_t;
typedef unsigned int u32;

// Programmatic dependent launch: every kernel starts with PDL_START, which waits until the kernels before it
// have finished and their writes are visible, then lets the next kernel's blocks be scheduled as SMs free up.
// Long kernels use PDL_WAIT first and PDL_TRIGGER once their main loop is done (waiting blocks of the next
// kernel would otherwise hold SM slots the whole time).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define PDL_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
#define PDL_TRIGGER() asm volatile("griddepcontrol.launch_dependents;" ::: "memory")
#else
#define PDL_WAIT()
#define PDL_TRIGGER()
#endif
#define PDL_START() do { PDL_WAIT(); PDL_TRIGGER(); } while (0)

#define NEG_INF __int_as_float(0xff800000)

// A chosen token: id and logprob of row r into the device arrays (the next step may take the id) and, where given, the
// mapped host arrays the engine reads.
__device__ __forceinline__ void put(int* ids, float* lps, int* host_ids, float* host_lps, int r, int id, float lp)
{
    ids[r] = id;
    lps[r] = lp;
    if (host_ids) { host_ids[r] = id; host_lps[r] = lp; }
}

// Larger float, larger key (-0 counts as +0, as float comparison does).
__device__ __forceinline__ u32 order_key(float x)
{
    if (x == 0.f) x = 0.f;
    u32 b = __float_as_uint(x);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// The float of an order_key (a -0 comes back +0).
__device__ __forceinline__ float key_value(u32 k)
{
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__device__ __forceinline__ float h2f(half_t h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ half_t f2h(float f)
{
    half_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// The 8 halves of 16 bytes as floats, in order.
__device__ __forceinline__ void unpack8(uint4 v, float (&f)[8])
{
    u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) { f[2 * i] = h2f((half_t)(w[i] & 0xffff)); f[2 * i + 1] = h2f((half_t)(w[i] >> 16)); }
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

struct SumOp { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; } };
struct MaxOp { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a > b ? a : b; } };
struct MinOp { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a < b ? a : b; } };

// Reduction over the whole block (blockDim.x a multiple of 32) with op and its identity; sh holds 32 values.
// Every thread gets the result.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, T* sh, T identity, Op op)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    T t = lane < nw ? sh[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) t = op(t, __shfl_xor_sync(0xffffffffu, t, o));
    return t;
}

__device__ __forceinline__ float block_sum(float v, float* sh) { return block_reduce(v, sh, 0.f, SumOp()); }

// RMSNorm pieces of the GEMVs that norm their own input, written as the rmsnorm kernel computes them (elementwise.cu
// keeps its own lines: with these helpers its code changed shape) so both round alike: the sum of squares of four
// values, and four values times the row's scale and the weights packed as f16.
__device__ __forceinline__ float sum_sq4(float4 v) { return v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w; }
__device__ __forceinline__ uint2 scale_pack4(float4 v, float r, float4 w)
{
    uint2 o;
    o.x = (u32)f2h(v.x * r * w.x) | ((u32)f2h(v.y * r * w.y) << 16);
    o.y = (u32)f2h(v.z * r * w.z) | ((u32)f2h(v.w * r * w.w) << 16);
    return o;
}

// 16 bytes global -> shared without registers (bytes < 16: the rest zero-filled); visible to the issuing thread after
// cp_async_wait, to the block after a barrier as well.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes)
{
    u32 d = (u32)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
