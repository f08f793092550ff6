namespace Quanta.Cuda;

internal sealed unsafe partial class Kernels
{
    /// <summary>qt (tiled, see gptq.cu) [ceil(out/16), ceil(in/64), 32] uint4 from qw [in/8, out] u32 in group order.</summary>
    public void GptqTile(ulong qw, ulong qt, int inF, int outF)
    {
        void** a = stackalloc void*[] { &qw, &qt, &inF, &outF };
        Go("gptq_pack", "gptq_tile", (Blocks((long)((outF + 15) / 16) * ((inF + 63) / 64) * 128, Threads), 1, 1), Threads, a);
    }

    /// <summary>sz [groups, npad] half2(scale, 1024 + zero + 1) from qz [groups, out/8] u32 and sc [groups, out] f16.</summary>
    public void GptqScalesZeros(ulong qz, ulong sc, ulong sz, int outF, int groups, int npad)
    {
        void** a = stackalloc void*[] { &qz, &sc, &sz, &outF, &groups, &npad };
        Go("gptq_pack", "gptq_scales_zeros", (Blocks((long)groups * npad, Threads), 1, 1), Threads, a);
    }

    /// <summary>
    /// y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · dequant(W) on tensor cores, 1 &lt;= m &lt;= 32: blocks of v.Warps warps,
    /// ks warps per 16-column tile along K, splits blocks along K, per k-steps of 64 each; with splits &gt; 1 or accumulate
    /// the product is added into y atomically (zero y first for a plain product). The variant says which kernel: see
    /// <see cref="GptqVariant"/>.
    /// </summary>
    /// <remarks>With <see cref="GptqVariant.Norm"/>, x is unused: each block computes rmsnorm(norm.Xres) * norm.W itself (m * in &lt;= 4096; W f16 for <see cref="GptqNorm.F16"/>).</remarks>
    public void GptqMma(ulong x, ulong qt, ulong sz, ulong y, int m, int inF, int outF, int gs, int ldy, int ks, int splits, int per, GptqVariant v,
                        bool accumulate = false, CudaLinear.InputNorm norm = default)
    {
        int atomic = accumulate ? 1 : 0;
        var (xres, nw, eps, _) = norm;
        void** a = stackalloc void*[] { &x, &qt, &sz, &y, &m, &inF, &outF, &gs, &ldy, &ks, &per, &atomic, &xres, &nw, &eps };
        if (v.Norm != GptqNorm.None && (xres == 0 || nw == 0 || (long)m * inF > CudaLinear.NormMaxInputs || inF % 8 != 0))
            throw new ArgumentException($"the normed kernel needs the residual stream and norm weights, m * in <= {CudaLinear.NormMaxInputs}, in % 8 == 0");
        if (ks > v.Warps) throw new ArgumentException($"{ks} warps per tile in blocks of {v.Warps}");
        int tilesPerBlock = v.Warps / ks * (v.Pairs ? 2 : 1);
        if (v.Silu && (gs % 64 != 0 || splits != 1 || accumulate)) throw new ArgumentException("the SiLU epilogue needs groups of a multiple of 64, one split and no accumulation");
        if (GptqKernelName.Stages(m, gs) && ks != 1) throw new ArgumentException($"the staged kernel ({m} rows) takes one warp per tile, not {ks}");
        uint grid = (uint)(((outF + 15) / 16 + tilesPerBlock - 1) / tilesPerBlock);
        Go("gptq", GptqKernelName.For(m, gs, v), (grid, (uint)splits, 1), (uint)(32 * v.Warps), a);
    }

    /// <summary>
    /// y [m, ldy] f32 (columns 0..out) = x [m, in] f16 · dequant(W) by the tiled GEMM (gptq_gemm.cu): l.Tile blocks over
    /// features and rows, l.Splits blocks along K adding into y atomically (zero y first for a plain product); with
    /// <paramref name="accumulate"/> and one split, y += the product.
    /// </summary>
    public void GptqGemm(ulong x, ulong qt, ulong sz, ulong y, int m, int inF, int outF, int gs, int ldy, GemmLaunch l, bool accumulate)
    {
        int per = l.Per, atomic = accumulate ? 1 : 0;
        void** a = stackalloc void*[] { &x, &qt, &sz, &y, &m, &inF, &outF, &gs, &ldy, &per, &atomic };
        if (l.Tile.Wgmma) throw new InvalidOperationException($"{l.Tile.Scaled} takes x in slot order: launch it through GptqWgmma");
        LaunchGemm(l, outF, m, a);
    }

    /// <summary>
    /// y [m, ldy] f32 (columns 0..out) = x · dequant(W) by the wgmma GEMM (gptq_wgmma.cu, sm_90), x given in slot order as
    /// xs [m, ldx] f16 (ldx = 64 * ceil(in / 64), gathered by <see cref="GemmPlanner.SlotOrder"/>); l.Splits blocks along K add
    /// into y atomically (zero y first for a plain product); with <paramref name="accumulate"/> and one split, y += the product.
    /// </summary>
    public void GptqWgmma(ulong xs, ulong qt, ulong sz, ulong y, int m, int inF, int outF, int gs, int ldy, GemmLaunch l, bool accumulate)
    {
        if (!l.Tile.Wgmma || !Wgmma) throw new InvalidOperationException($"{l.Tile.Scaled} is not a wgmma block on this GPU (compute capability {_r.Arch})");
        int ldx = GemmPlanner.SlotStride(inF), per = l.Per, atomic = accumulate ? 1 : 0;
        void** a = stackalloc void*[] { &xs, &qt, &sz, &y, &m, &ldx, &inF, &outF, &gs, &ldy, &per, &atomic };
        LaunchGemm(l, outF, m, a);
    }

    void LaunchGemm(GemmLaunch l, int outF, int m, void** a)
    {
        string name = l.Tile.Kernel(l.GroupSums);
        nint fn = _r.Function(l.Tile.Module, name);
        if (!_r.AllowSharedMemory(fn, l.Tile.SharedBytes)) throw new InvalidOperationException($"{name}: {l.Tile.SharedBytes} bytes of shared memory refused");
        uint gx = (uint)((outF + l.Tile.Features - 1) / l.Tile.Features), gy = (uint)((m + l.Tile.Rows - 1) / l.Tile.Rows);
        _r.Launch(fn, (gx, gy, (uint)l.Splits), (uint)l.Tile.Threads, (uint)l.Tile.SharedBytes, a, name);
    }

    /// <summary>Whether this GPU runs the wgmma GEMM (compute capability 9.0, whose sm_90a code the module is compiled for).</summary>
    public bool Wgmma => _r.Sm90a;

    /// <summary>Blocks of a GEMM kernel (by name, one of <see cref="GemmTile.All"/>) that fit one SM at once, with its dynamic shared memory (cached).</summary>
    public int GemmResidentBlocks(string name)
    {
        if (_resident.TryGetValue(name, out int n)) return n;
        var tile = GemmTile.All.FirstOrDefault(t => t.Scaled == name || t.GroupSums == name);
        if (tile.Scaled is null) throw new ArgumentException($"no GEMM kernel {name}");
        nint fn = _r.Function(tile.Module, name);
        _r.AllowSharedMemory(fn, tile.SharedBytes);
        Native.Cu.Check(Native.Cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(out n, fn, tile.Threads, (nuint)tile.SharedBytes),
            $"cuOccupancyMaxActiveBlocksPerMultiprocessor({name})");
        return _resident[name] = Math.Max(1, n);
    }

    /// <summary>Blocks of the GptqMma kernel for these arguments that fit one SM at once (cached).</summary>
    public int GptqResidentBlocks(int m, int gs, GptqVariant v)
    {
        string name = GptqKernelName.For(m, gs, v);
        if (_resident.TryGetValue(name, out int n)) return n;
        Native.Cu.Check(Native.Cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(out n, _r.Function("gptq", name), 32 * v.Warps, 0),
            $"cuOccupancyMaxActiveBlocksPerMultiprocessor({name})");
        return _resident[name] = Math.Max(1, n);
    }

    readonly Dictionary<string, int> _resident = [];

    /// <summary>wd [out, in] f16 = dequant(W) from the tiled layout.</summary>
    public void GptqDequant(ulong qt, ulong sz, ulong wd, int inF, int outF, int gs)
    {
        void** a = stackalloc void*[] { &qt, &sz, &wd, &inF, &outF, &gs };
        Go("gptq_pack", "gptq_dequant", (Blocks((long)((outF + 15) / 16) * ((inF + 63) / 64) * 32, Threads), 1, 1), Threads, a);
    }
}
