using System.Runtime.InteropServices;
using Quanta.Cuda.Native;
using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// One linear layer on the GPU, y [T, out] f32 = x [T, in] f16 · Wᵀ. GPTQ 4-bit stays 4-bit, repacked at load
/// into a tiled layout (see Kernels/gptq.cu): a tensor-core dequantise-and-multiply kernel for up to 64 rows,
/// dequantise-to-fp16 + cuBLAS above that; act-order by a load-time row permutation (and the activations
/// permuted per step). Dense weights are fp16 through cuBLAS.
/// </summary>
internal sealed unsafe class CudaLinear
{
    /// <summary>Up to this many rows (at most 64, in passes of 32) use the fused kernel; more use dequantise + GEMM (QUANTA_GEMV_MAX_ROWS).</summary>
    public static int GemvMaxRows { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("QUANTA_GEMV_MAX_ROWS"), out var n) && n >= 0 ? Math.Min(n, 64) : 64;

    /// <summary>Warps per SM the fused kernel aims to keep busy (QUANTA_GEMV_WARPS_PER_SM; 0, the default: <see cref="WarpsFor"/>); sets how far K is split.</summary>
    public static int WarpsPerSm { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("QUANTA_GEMV_WARPS_PER_SM"), out var w) && w >= 1 ? w : 0;

    /// <summary>
    /// The warps per SM planned for this many rows: 32 up to 8 rows, 24 above. H200, 7B, tok/s at 32 / 24 warps per SM: batch 1
    /// 568-571 / 546, batch 8 4,385 / 4,179-4,190, batch 16 4,725 / 4,856, batch 32 7,344 / 7,580, batch 64 7,708-7,721 / 7,969-7,973.
    /// </summary>
    internal static int WarpsFor(int rows) => WarpsPerSm > 0 ? WarpsPerSm : rows <= 8 ? 32 : 24;

    /// <summary>The fused kernel writes silu(gate) * up itself (QUANTA_SILU_EPILOGUE=0: product, then silu_mul).</summary>
    public static bool SiluEpilogue { get; set; } = Environment.GetEnvironmentVariable("QUANTA_SILU_EPILOGUE") != "0";

    /// <summary>
    /// How the fused kernel brings in the weights with groups of a multiple of 64 (QUANTA_GEMV_LOAD = registers |
    /// prefetch | pipeline; other groups always load into registers). 7B, H200: prefetch took batch 1 from 463 to 482
    /// tok/s; pipeline (x staged per block for 9-32 rows) batch 32 from 6,033-6,072 to 7,098-7,147.
    /// </summary>
    public static GemvLoad Load { get; set; } = Enum.TryParse<GemvLoad>(Environment.GetEnvironmentVariable("QUANTA_GEMV_LOAD"), true, out var l) ? l : GemvLoad.Pipeline;

    const int MinStepsPerWarp = 4;
    /// <summary>Rows per pass of the fused kernel (its widest variant).</summary>
    const int MmaRows = 32;

    readonly DeviceArena _mem;
    readonly Kernels _k;
    public readonly int In, Out, GroupSize;
    public readonly ulong QTiles;    // [ceil(out/16), ceil(in/64), 32] uint4 tiled int4 (GPTQ, rows in group order) | 0
    public readonly ulong ScaleZero; // [groups, ceil(out/16)*16] u32 half2(scale, 1024 + zero + 1) | 0
    public readonly ulong Perm;      // [in] i32 act-order permutation | 0
    public readonly ulong Dense;     // [out, in] f16 | 0
    public bool IsQuantized => QTiles != 0;
    /// <summary>A fused gate/up layer whose output columns alternate 8 gate, 8 up (see <see cref="ForwardSilu"/>).</summary>
    public bool SiluPairs { get; private set; }
    public long DeviceBytes { get; }

    CudaLinear(DeviceArena mem, Kernels k, int inF, int outF)
    {
        _mem = mem; _k = k; In = inF; Out = outF;
    }

    CudaLinear(DeviceArena mem, Kernels k, int inF, int outF, ulong dense) : this(mem, k, inF, outF)
    {
        Dense = dense;
        DeviceBytes = 2L * inF * outF;
    }

    CudaLinear(DeviceArena mem, Kernels k, int inF, int outF, ulong qt, long qtBytes, ulong sz, long szBytes, ulong perm, int gs) : this(mem, k, inF, outF)
    {
        QTiles = qt; ScaleZero = sz; Perm = perm; GroupSize = gs;
        DeviceBytes = qtBytes + szBytes + (perm != 0 ? 4L * inF : 0);
    }

    internal CudaLinear WithSiluPairs(bool on) { SiluPairs = on; return this; }

    /// <summary>A dense layer over an f16 matrix already on the device (tied lm_head over the embedding).</summary>
    public static CudaLinear Shared(DeviceArena mem, Kernels k, int inF, int outF, ulong dense) => new(mem, k, inF, outF, dense);

    /// <summary>
    /// Uploads a layer; GPTQ layers whose groups are not contiguous runs of a multiple of 16 rows after sorting,
    /// or whose widths the tiles cannot take (in % 16, out % 8), fall back to fp16.
    /// </summary>
    public static CudaLinear Upload(DeviceArena ctx, Kernels k, LinearWeights w)
    {
        if (w is DenseLinear d) return new CudaLinear(ctx, k, w.InFeatures, w.OutFeatures, UploadHalf(ctx, d.Weight, (long)w.InFeatures * w.OutFeatures));
        var g = (GptqLinear)w;
        int inF = g.InFeatures, outF = g.OutFeatures;
        if (g.Bits != 4) throw new NotSupportedException($"{g.Name}: {g.Bits}-bit GPTQ is not supported by the CUDA backend (4-bit only)");
        var perm = SortedPermutation(g.GIdx);
        int gs = UniformGroupSize(g, perm);
        if (gs == 0 || gs % 16 != 0 || inF % 16 != 0 || outF % 8 != 0)
        {
            var wf = GptqFormat.Dequantize(g);
            var wh = new Half[wf.Length];
            for (int i = 0; i < wf.Length; i++) wh[i] = (Half)wf[i];
            return new CudaLinear(ctx, k, inF, outF, ctx.Upload<Half>(wh, g.Name));
        }
        ulong qw;
        bool identity = true;
        for (int i = 0; i < perm.Length && identity; i++) identity = perm[i] == i;
        if (identity) qw = UploadRaw(ctx, g.QWeight, g.Name + ".qweight");
        else
        {
            var q = GptqFormat.UnpackQWeight(g.QWeight.Span<int>(), inF, outF);
            var qp = new byte[q.Length];
            for (int i = 0; i < inF; i++) q.AsSpan(perm[i] * outF, outF).CopyTo(qp.AsSpan(i * outF, outF));
            qw = ctx.Upload<int>(GptqFormat.PackQWeight(qp, inF, outF), g.Name + ".qweight");
        }
        ulong qz = UploadRaw(ctx, g.QZeros, g.Name + ".qzeros");
        ulong sc = UploadRaw(ctx, g.Scales, g.Name + ".scales");
        int ntiles = (outF + 15) / 16, ksteps = (inF + 63) / 64, groups = inF / gs;
        long qtBytes = 512L * ntiles * ksteps, szBytes = 4L * groups * ntiles * 16;
        ulong qt = ctx.Alloc(qtBytes, g.Name + ".qweight (tiled)"), sz = ctx.Alloc(szBytes, g.Name + ".scales+zeros");
        k.GptqTile(qw, qt, inF, outF);
        k.GptqScalesZeros(qz, sc, sz, outF, groups, ntiles * 16);
        ctx.Ctx.Synchronize();
        ctx.Free(qw); ctx.Free(qz); ctx.Free(sc);
        ulong pp = identity ? 0 : ctx.Upload<int>(perm, g.Name + ".perm");
        return new CudaLinear(ctx, k, inF, outF, qt, qtBytes, sz, szBytes, pp, gs);
    }

    /// <summary>Stable argsort of g_idx: the input rows in group order.</summary>
    static int[] SortedPermutation(int[] gidx)
    {
        var perm = new int[gidx.Length];
        for (int i = 0; i < perm.Length; i++) perm[i] = i;
        var keys = (int[])gidx.Clone();
        Array.Sort(keys, perm);          // introsort is not stable: restore order within equal keys
        int s = 0;
        for (int i = 1; i <= perm.Length; i++)
            if (i == perm.Length || keys[i] != keys[s]) { Array.Sort(perm, s, i - s); s = i; }
        return perm;
    }

    /// <summary>Rows per group when the sorted rows fall into equal runs of a multiple of 8 (0 otherwise).</summary>
    static int UniformGroupSize(GptqLinear g, int[] perm)
    {
        int gs = g.GroupSize > 0 ? g.GroupSize : g.InFeatures;
        if (gs % 8 != 0) return 0;
        for (int i = 0; i < perm.Length; i++)
            if (g.GIdx[perm[i]] != i / gs) return 0;
        return gs;
    }

    static ulong UploadRaw(DeviceArena ctx, TensorView t, string what)
    {
        ulong p = ctx.Alloc(t.ByteLength, what);
        ctx.Ctx.Upload(p, (void*)t.Data, t.ByteLength);
        return p;
    }

    /// <summary>Uploads a float tensor (f32/f16/bf16) as f16, converting on the host in chunks.</summary>
    public static ulong UploadHalf(DeviceArena ctx, TensorView t, long elements)
    {
        if (t.ElementCount != elements) throw new ModelLoadException($"{t.Name}: {t.ElementCount} elements, expected {elements}");
        if (t.DType == DType.F16) return UploadRaw(ctx, t, t.Name);
        ulong p = ctx.Alloc(elements * 2, t.Name);
        const int Chunk = 1 << 20;
        var f = new float[Chunk];
        var h = new Half[Chunk];
        for (long s = 0; s < elements; s += Chunk)
        {
            int n = (int)Math.Min(Chunk, elements - s);
            GptqFormat.ToFloat(t, s, f.AsSpan(0, n));
            for (int i = 0; i < n; i++) h[i] = (Half)f[i];
            fixed (Half* hp = h) ctx.Ctx.Upload(p + (ulong)(s * 2), hp, n * 2L);
        }
        return p;
    }

    /// <summary>Bytes of f16 scratch this layer needs for <paramref name="rows"/> rows (permuted x, dequantised W).</summary>
    public long ScratchBytes(int rows)
        => (Perm != 0 ? 2L * rows * In : 0) + (IsQuantized && rows > GemvMaxRows ? 2L * In * Out : 0);

    /// <summary>
    /// y [rows, ldy] f32 (columns 0..out; ldy 0 = out) = x [rows, in] f16 · Wᵀ, or with <paramref name="accumulate"/>
    /// y += x · Wᵀ (the residual stream takes o_proj and down_proj this way); scratch holds <see cref="ScratchBytes"/>.
    /// </summary>
    /// <remarks>With <paramref name="norm"/> (where <see cref="TakesNorm"/>), x is unused: the kernel norms norm.Xres itself.</remarks>
    public void Forward(ulong x, ulong y, int rows, ulong scratch, int ldy = 0, bool accumulate = false, InputNorm? norm = null)
    {
        if (rows == 0) return;
        if (ldy == 0) ldy = Out;
        if (norm is { } nm)
        {
            if (!TakesNorm(rows)) throw new InvalidOperationException($"this layer does not norm {rows} rows of input itself");
            Pass(0, y, rows, ldy, silu: false, accumulate, nm);
            return;
        }
        if (!IsQuantized) { Gemm(Dense, In, x, y, rows, ldy, accumulate); return; }
        x = Permuted(x, rows, ref scratch);
        if (rows <= GemvMaxRows)
        {
            Passes(x, y, rows, ldy, accumulate);
            return;
        }
        _k.GptqDequant(QTiles, ScaleZero, scratch, In, Out, GroupSize);
        Gemm(scratch, In, x, y, rows, ldy, accumulate);
    }

    /// <summary>The load mode for this many rows: prefetch only takes up to 8 rows; every mode but registers needs groups of a multiple of 64.</summary>
    GemvLoad LoadFor(int rows) => GroupSize % 64 != 0 || (rows > 8 && Load == GemvLoad.Prefetch) ? GemvLoad.Registers : Load;

    /// <summary>
    /// Warps per block of the prefetching pair kernels (QUANTA_GEMV_BLOCK_WARPS = 8 | 4; 0, the default, lets
    /// <see cref="Plan"/> choose); other kernels always run 8.
    /// </summary>
    public static int BlockWarps { get; set; } = int.TryParse(Environment.GetEnvironmentVariable("QUANTA_GEMV_BLOCK_WARPS"), out var bw) && bw is 4 or 8 ? bw : 0;

    /// <summary>The kernel for this many rows; blocks of 4 warps only where <paramref name="warps"/> asks and the kernel has them.</summary>
    GptqVariant Variant(int rows, bool silu, int warps = 8)
    {
        bool pairs = Pairs(rows);
        var load = LoadFor(rows);
        return new(pairs, silu, load, pairs && load != GemvLoad.Registers && warps == 4 ? 4 : 8);
    }

    /// <summary>
    /// Whether a warp takes two tiles: few rows, groups of a multiple of 64, and at most 8192 inputs (measured faster on
    /// the 7B q/k/v, o and gate/up shapes, slower on down_proj's 11008 inputs).
    /// </summary>
    internal bool Pairs(int rows) => rows <= 8 && GroupSize % 64 == 0 && In <= 8192;

    /// <summary>
    /// act [rows, out/2] f16 = silu(gate) * up for a <see cref="SiluPairs"/> layer: the fused kernel writes it directly
    /// (groups of a multiple of 64, up to <see cref="GemvMaxRows"/> rows, passes of other than 9-16 rows); otherwise
    /// y [rows, out] f32 is the product and silu_mul reads its alternating runs.
    /// </summary>
    public void ForwardSilu(ulong x, ulong act, int rows, ulong scratch, ulong y)
    {
        if (!SiluPairs) throw new InvalidOperationException("ForwardSilu needs a gate/up layer with alternating columns");
        if (rows == 0) return;
        int half = Out / 2;
        if (!(SiluEpilogue && IsQuantized && rows <= GemvMaxRows && GroupSize % 64 == 0))
        {
            Forward(x, y, rows, scratch);
            _k.SiluMul(y, y + 32, act, half, Out, rows, chunk: 8);
            return;
        }
        x = Permuted(x, rows, ref scratch);
        for (int r = 0; r < rows; r += MmaRows)
        {
            int m = Math.Min(MmaRows, rows - r);
            ulong xr = x + (ulong)(2L * r * In), ar = act + (ulong)(2L * r * half);
            // The epilogue for a pass of 9-16 rows measured 12% slower per decode step than product + silu_mul (H100,
            // batch 16); for 1-8 and 17-32 rows it is 1-2.5% faster.
            if (m <= 8 || m > 16) Pass(xr, ar, m, half, silu: true, accumulate: false);
            else
            {
                ulong yr = y + (ulong)(4L * r * Out);
                Pass(xr, yr, m, Out, silu: false, accumulate: false);
                _k.SiluMul(yr, yr + 32, ar, half, Out, m, chunk: 8);
            }
        }
    }

    /// <summary>x, or x's columns in group order (act-order) written to scratch, which then advances past them.</summary>
    ulong Permuted(ulong x, int rows, ref ulong scratch)
    {
        if (Perm == 0) return x;
        _k.PermuteCols(x, Perm, scratch, In, rows);
        ulong p = scratch;
        scratch += (ulong)(2L * rows * In);
        return p;
    }

    /// <summary>The fused kernel over rows in passes of <see cref="MmaRows"/>: y [rows, ldy] f32 (+)= x · Wᵀ.</summary>
    void Passes(ulong x, ulong y, int rows, int ldy, bool accumulate)
    {
        for (int r = 0; r < rows; r += MmaRows)
            Pass(x + (ulong)(2L * r * In), y + (ulong)(4L * r * ldy), Math.Min(MmaRows, rows - r), ldy, silu: false, accumulate);
    }

    /// <summary>One launch of the fused kernel for m &lt;= <see cref="MmaRows"/> rows: y [m, ldy] f32 (+)= x · Wᵀ, or with <paramref name="silu"/> y = act [m, ldy] f16.</summary>
    void Pass(ulong x, ulong y, int m, int ldy, bool silu, bool accumulate, InputNorm norm = default)
    {
        var (ks, splits, per, v) = Plan(m, silu);
        if (splits > 1 && !accumulate) _mem.Ctx.ZeroFloatsAsync(y, Out, ldy, m);
        _k.GptqMma(x, QTiles, ScaleZero, y, m, In, Out, GroupSize, ldy, ks, splits, per, v with { Norm = norm.Xres != 0, NormHalf = norm.Half }, accumulate, norm);
    }

    /// <summary>
    /// The RMSNorm a fused kernel may apply to its own input: x [rows, in] f16 = rmsnorm(Xres [rows, in] f32) * W [in], W f32,
    /// or f16 where <paramref name="Half"/> (the kernel then needs 16 KiB less shared memory).
    /// </summary>
    public readonly record struct InputNorm(ulong Xres, ulong W, float Eps, bool Half = false);

    /// <summary>Most rows x inputs a normed kernel takes (its block's copies of x and w in shared memory: NORM_MAX in gptq.cu).</summary>
    internal const int NormMaxInputs = 4096;

    /// <summary>
    /// Whether <see cref="Forward"/> norms its input itself for this many rows, which saves the rmsnorm launch before it
    /// (QUANTA_GEMV_NORM=0: never): where the plan takes the prefetching pair kernel in blocks of 8 warps (up to 8 rows), no
    /// act-order, rows x in &lt;= <see cref="NormMaxInputs"/>, in % 8 == 0. Decode q/k/v of 7B at one row on an H200: 599.4-600.2 -> 608.2-608.8
    /// tok/s at contexts 16-80, 583.6 -> 594.4 at 80-144.
    /// </summary>
    public bool TakesNorm(int rows)
    {
        if (!FusedNorm || !IsQuantized || Perm != 0 || rows < 1 || (long)rows * In > NormMaxInputs || In % 8 != 0) return false;
        return Plan(rows).V is { Pairs: true, Whole: false, Load: not GemvLoad.Registers, Warps: 8 };
    }

    /// <summary>See <see cref="TakesNorm"/>.</summary>
    public static bool FusedNorm { get; set; } = Environment.GetEnvironmentVariable("QUANTA_GEMV_NORM") != "0";

    /// <summary>
    /// Whether a normed kernel takes f16 norm weights where they are exact (QUANTA_GEMV_NORM_HALF=0: always f32). 7B, H200,
    /// official bench, batch 1: 594.7-594.8 -> 596.2 tok/s (f32 -> f16 in the same build).
    /// </summary>
    public static bool NormHalf { get; set; } = Environment.GetEnvironmentVariable("QUANTA_GEMV_NORM_HALF") != "0";

    /// <summary>
    /// How the fused kernel splits K: up to 8 warps of a block per 16-column tile (few rows; more rows keep one warp
    /// per tile so a block's 8 tiles share x), fewer when that makes the grid fit one wave of resident blocks (7B
    /// gate/up at one row: 688 blocks, 1.7 waves, 18.7 us; 344 blocks 17.8 us on an H200), then whole blocks along K
    /// (atomics) while the GPU is still half empty and the grid still fits one wave (see <see cref="SplitsInOneWave"/>; not
    /// with <paramref name="silu"/>, whose epilogue needs whole sums).
    /// Warps: the block width. When one wave of 8-warp blocks needed fewer warps per tile, the prefetching pair kernel
    /// runs 4-warp blocks, which pack the SM more tightly (7B gate/up at one row on an H200: 18.3 -> 17.2 us; q/k/v,
    /// which keeps 8 warps per tile, 10.3 -> 11.4 us in 4-warp blocks). Layers small enough take the whole-slice kernel
    /// (see <see cref="Whole"/>). V: the kernel.
    /// </summary>
    internal (int Ks, int Splits, int Per, GptqVariant V) Plan(int rows, bool silu = false)
    {
        var key = (rows, silu, Load, WarpsFor(rows), BlockWarps, Whole);
        if (!_plans.TryGetValue(key, out var plan)) _plans[key] = plan = NewPlan(rows, silu);
        return plan;
    }

    /// <summary>
    /// Whether splits along K stop before the grid outgrows one wave of resident blocks (QUANTA_GEMV_ONE_WAVE=0: they go on
    /// while the GPU is half empty by <see cref="WarpsFor"/>, which asks more warps per SM than 8-warp blocks of 72 registers
    /// fit, so a split could add waves instead of filling the first). 7B, H200, official bench, tok/s: batch 16 4,752-4,760 ->
    /// 4,918, batch 32 7,697-7,722 -> 7,760-7,786, batch 64 8,124-8,134 -> 8,171; batches 1, 8 and 128 within noise.
    /// </summary>
    internal static bool SplitsInOneWave { get; } = Environment.GetEnvironmentVariable("QUANTA_GEMV_ONE_WAVE") != "0";

    // Plans by (rows, silu, load mode, warps per SM, block width and whole-slice settings): the occupancy lookups are not
    // repeated per call.
    readonly Dictionary<(int, bool, GemvLoad, int, int, GemvWhole), (int, int, int, GptqVariant)> _plans = [];

    (int Ks, int Splits, int Per, GptqVariant V) NewPlan(int rows, bool silu)
    {
        if (!silu && WholePlan(rows) is { } whole) return whole;
        int ntiles = (Out + 15) / 16, ksteps = (In + 63) / 64, sms = _mem.Ctx.Multiprocessors, want = sms * WarpsFor(rows);
        bool pairs = Pairs(rows);
        if (pairs) ntiles = (ntiles + 1) / 2;
        int ks = 1, splits = 1, warps = 8;
        if (rows <= 8)
        {
            // K split over the warps of a block for blocks of `width` warps, then halved to fit one wave of resident blocks.
            (int Ks, bool Cut) SplitWarps(int width)
            {
                var v = Variant(rows, silu, width);
                int k = 1;
                while (k < v.Warps && ntiles * k < want && ksteps >= 2 * k * MinStepsPerWarp) k *= 2;
                int full = k;
                long wave = (long)sms * _k.GptqResidentBlocks(rows, GroupSize, v);
                while (k > 1 && Blocks(ntiles, k, v.Warps) > wave && Blocks(ntiles, k / 2, v.Warps) <= wave) k /= 2;
                return (k, k < full);
            }
            bool narrow = Variant(rows, silu, 4).Warps == 4;
            (ks, bool cut) = SplitWarps(BlockWarps == 4 && narrow ? 4 : 8);
            if (BlockWarps == 4 && narrow) warps = 4;
            else if (BlockWarps == 0 && narrow && cut) { warps = 4; ks = SplitWarps(4).Ks; }
        }
        long wave1 = SplitsInOneWave ? (long)sms * _k.GptqResidentBlocks(rows, GroupSize, Variant(rows, silu, warps)) : long.MaxValue;
        while (!silu && 2L * ntiles * ks * splits <= want && ksteps >= 2 * ks * splits * MinStepsPerWarp
               && Blocks(ntiles, ks, warps) * splits * 2 <= wave1) splits *= 2;
        int slices = ks * splits;
        return (ks, splits, (ksteps + slices - 1) / slices, Variant(rows, silu, warps));
    }

    /// <summary>
    /// Whether layers small enough for it use the whole-slice kernel (QUANTA_GEMV_WHOLE = pairs | tiles | off): up to 8 rows,
    /// every warp's K slice is one round of words requested before the kernel waits for the one before, so where that kernel
    /// leaves the GPU mostly idle (o_proj behind decode attention) every weight is in flight before x is ready. Used when the
    /// grid fits one wave of resident blocks (7B: o_proj only). H200, 7B, decode steps queued ahead, tok/s at batch 1 / 8:
    /// off 548.5-549.0 / 4,225, tiles 553.0-556.0 / 4,286-4,289, pairs 558.7-559.7 / 4,311-4,315.
    /// </summary>
    public static GemvWhole Whole { get; set; } = Enum.TryParse<GemvWhole>(Environment.GetEnvironmentVariable("QUANTA_GEMV_WHOLE"), true, out var wh) ? wh : GemvWhole.Pairs;

    /// <summary>The whole-slice plan for this many rows (ks warps per tile in a block, splits blocks along K, per k-steps per warp), or null.</summary>
    (int Ks, int Splits, int Per, GptqVariant V)? WholePlan(int rows)
    {
        if (Whole == GemvWhole.Off || rows > 8 || GroupSize % 64 != 0 || LoadFor(rows) == GemvLoad.Registers) return null;
        bool pairs = Whole == GemvWhole.Pairs;
        int per = pairs ? 2 : 4, ntiles = (Out + 15) / 16, ksteps = (In + 63) / 64;   // per: the kernel's words per tile
        if (pairs) ntiles = (ntiles + 1) / 2;
        int slices = (ksteps + per - 1) / per, ks = 8;
        while (ks > 1 && slices < ks) ks /= 2;
        int splits = (slices + ks - 1) / ks;
        var v = new GptqVariant(pairs, false, GemvLoad.Prefetch, 8, Whole: true);
        long blocks = Blocks(ntiles, ks, 8) * splits, wave = (long)_mem.Ctx.Multiprocessors * _k.GptqResidentBlocks(rows, GroupSize, v);
        return blocks <= wave ? (ks, splits, per, v) : null;
    }

    static long Blocks(int ntiles, int ks, int warps) => ((long)ntiles * ks + warps - 1) / warps;

    /// <summary>cuBLAS: column-major C [out, rows] (+)= Aᵀ · B [in, rows], with A = W row-major [out, in] f16 and B = x row-major [rows, in].</summary>
    void Gemm(ulong a, int lda, ulong x, ulong y, int rows, int ldy, bool accumulate = false)
    {
        float alpha = 1f, beta = accumulate ? 1f : 0f;
        Cublas.Check(Cublas.GemmEx(_mem.Ctx.Cublas, Cublas.OpT, Cublas.OpN, Out, rows, In, &alpha, a, Cublas.R16F, lda,
            x, Cublas.R16F, In, &beta, y, Cublas.R32F, ldy, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
    }
}

/// <summary>Which whole-slice kernel small layers use (see <see cref="CudaLinear.Whole"/>).</summary>
public enum GemvWhole
{
    /// <summary>Never: every layer runs the kernel of its load mode.</summary>
    Off,
    /// <summary>Two tiles per warp sharing x, 2 k-steps (gptq_mma_pair_whole_1).</summary>
    Pairs,
    /// <summary>One tile per warp, 4 k-steps (gptq_mma_whole_1).</summary>
    Tiles,
}

/// <summary>How the fused GPTQ kernel reads the weights (see <see cref="CudaLinear.Load"/>).</summary>
public enum GemvLoad
{
    /// <summary>A round of 16-byte words per lane into registers, then compute (gptq.cu).</summary>
    Registers,
    /// <summary>Up to 8 rows: the next round is requested into registers before the current one is computed (gptq.cu, _db kernels).</summary>
    Prefetch,
    /// <summary>
    /// Prefetch up to 8 rows; 9-32 rows copy each round of x into shared memory once per block with the next round's
    /// weights and the next group's scales requested ahead (gptq_staged.cuh).
    /// </summary>
    Pipeline,
}
