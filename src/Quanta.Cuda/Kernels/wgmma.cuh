// Hopper's warpgroup MMA over the tiled int4 layout (gptq.cuh), shared by the product GEMM (gptq_wgmma.cu) and the developer
// variants (dev/kernels/gptq_wgmma.cu). Compiled for sm_90a only (KernelRegistry.ArchSpecific); elsewhere every body is empty.
#pragma once
#include "gptq.cuh"

// Warpgroup MMA: D [64 x N] f32 += A [64 x 16] f16 (registers) . B [16 x N] f16 (shared memory, K-major, 128-byte swizzle),
// issued asynchronously by the four warps of a warpgroup. Inline PTX spells out every accumulator.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }
// Orders this thread's ordinary (and cp.async) shared-memory writes before the tensor cores' reads of them.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

// The descriptor of a K-major operand with 128-byte swizzle at shared address addr (its 8-row atom 1024-byte aligned,
// k offsets within the atom added to addr): leading offset unused (1), stride 1024 bytes between 8-row groups.
__device__ __forceinline__ unsigned long long sw128_desc(u32 addr)
{
    return (unsigned long long)((addr & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

// d [64 x 64] += a . B(64 rows at desc); d[4i + e]: feature g, row 8i + 2t + e; d[4i + 2 + e]: feature g + 8.
__device__ __forceinline__ void wgmma_n64(float (&d)[32], const u32 (&a)[4], unsigned long long desc)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc)
        : "memory");
}
// d [64 x 128] += a . B(128 rows at desc); d[4i + e]: feature g, row 8i + 2t + e; d[4i + 2 + e]: feature g + 8.
__device__ __forceinline__ void wgmma_n128(float (&d)[64], const u32 (&a)[4], unsigned long long desc)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc)
        : "memory");
}
// d [64 x 256] += a . B(256 rows at desc); d[4i + e]: feature g, row 8i + 2t + e; d[4i + 2 + e]: feature g + 8.
__device__ __forceinline__ void wgmma_n256(float (&d)[128], const u32 (&a)[4], unsigned long long desc)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, {%128, %129, %130, %131}, %132, p, 1, 1, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc)
        : "memory");
}
template <int N> struct Wgmma;
template <> struct Wgmma<64> { __device__ __forceinline__ static void mma(float (&d)[32], const u32 (&a)[4], unsigned long long s) { wgmma_n64(d, a, s); } };
template <> struct Wgmma<128> { __device__ __forceinline__ static void mma(float (&d)[64], const u32 (&a)[4], unsigned long long s) { wgmma_n128(d, a, s); } };
template <> struct Wgmma<256> { __device__ __forceinline__ static void mma(float (&d)[128], const u32 (&a)[4], unsigned long long s) { wgmma_n256(d, a, s); } };
#endif

__device__ __forceinline__ void cp_async16_s(u32 dst, const void* src, int bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// One warp's share of a warpgroup's accumulators [64 features x N rows] (see wgmma_n64 for d's layout), fed one k-step at a
// time: the lane's 4 words are dequantised (each weight scaled in fp16) into one of two A sets, P = k-step & 1, so the
// tensor cores may still read the other set (k-step - 1) while this one is written.
template <int N>
struct WgmmaAcc
{
    float d[N / 2];
    u32 a[2][4][4];                 // [set][sub-step][register]
    const u32* scol;                // the lane's scale/zero column (feature g; g + 8 is 8 further)
    int npad, gs, groups, t, grp;
    u32 sa, za, sb, zb;

    __device__ __forceinline__ void init(const u32* scol_, int npad_, int gs_, int groups_, int t_)
    {
        scol = scol_; npad = npad_; gs = gs_; groups = groups_; t = t_; grp = -1;
        sa = za = sb = zb = 0;
#pragma unroll
        for (int i = 0; i < N / 2; i++) d[i] = 0.f;
    }

    // k-step st: w the lane's word, xs the shared address of the stage's x.
    template <int P>
    __device__ __forceinline__ void step(uint4 w, int st, u32 xs)
    {
        // The group of the lane's 16 inputs; past in (the last k-step's zero-filled x) any group will do, so the last.
        int gi = min((st * 64 + 16 * t) / gs, groups - 1);
        if (gi != grp)
        {
            grp = gi;
            u32 va = __ldg(scol + (long)gi * npad), vb = __ldg(scol + (long)gi * npad + 8);
            sa = (va & 0xffffu) * 0x10001u; za = (va >> 16) * 0x10001u;
            sb = (vb & 0xffffu) * 0x10001u; zb = (vb >> 16) * 0x10001u;
        }
        dequant_word(w.x, za, sa, zb, sb, a[P][0]);
        dequant_word(w.y, za, sa, zb, sb, a[P][1]);
        dequant_word(w.z, za, sa, zb, sb, a[P][2]);
        dequant_word(w.w, za, sa, zb, sb, a[P][3]);
        wgmma_fence();
#pragma unroll
        for (int j = 0; j < 4; j++) Wgmma<N>::mma(d, a[P][j], sw128_desc(xs + 32 * j));
        wgmma_commit();
        wgmma_wait<1>();                                            // k-step st - 1 is done: its A set and stage are free
    }
};

#endif

// A block of WG warpgroups side by side over features (64 * WG features) x N rows (wgmma's N, 64 to 256): per pipeline
// stage (one k-step, 64 inputs) N rows of x in 128 bytes each and the words of its 4 * WG tiles.
template <int N, int WG, int STAGES>
struct WgmmaTile
{
    static constexpr int tiles = 4 * WG, threads = 128 * WG;
    static constexpr int xbytes = N * 128, wbytes = tiles * 512;   // per stage
    static constexpr int smem = STAGES * (xbytes + wbytes) + 1024; // dynamic shared memory, bytes (+ alignment slack)
};
