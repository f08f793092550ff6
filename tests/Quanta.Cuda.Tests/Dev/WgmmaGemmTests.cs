using Quanta.Cuda.Native;
using Quanta.Tests;
using Quanta.Tests.Cpu;

namespace Quanta.Cuda.Tests.Dev;

/// <summary>
/// The developer wgmma GEMMs that copy x into slot order in 4-byte pairs (dev/kernels/gptq_wgmma.cu; the product gathers x
/// into slot order first and copies it in 16-byte pieces, gptq_wgmma.cu, see docs/gemm.md): checked against a float64
/// product on every Hopper GPU run so that they do not rot, and timed against the product's GEMMs and dequantise + cuBLAS
/// when DEV_GEMM_TIMING names a file for the table.
/// </summary>
public unsafe class WgmmaGemmTests
{
    /// <summary>Rows x features per block (in warpgroups of 64 features), and stages.</summary>
    static readonly (string Name, int Rows, int WarpGroups, int Stages)[] Kernels =
    [
        ("wgmma_pairs_64", 64, 2, 6), ("wgmma_pairs_128", 128, 2, 5), ("wgmma_pairs_256", 256, 2, 5),
        ("wgmma_pairs_64w", 64, 4, 6), ("wgmma_pairs_128w", 128, 4, 4),
    ];

    static GemmTile Tile((string Name, int Rows, int WarpGroups, int Stages) k)
        => new(k.Rows, 64 * k.WarpGroups, 128 * k.WarpGroups, k.Stages * (k.Rows * 128 + 4 * k.WarpGroups * 512) + 1024, k.Name, null);

    static CudaContext Hopper()
    {
        var ctx = Gpu.Context();
        if (ctx.Arch != 90) Assert.Skip($"wgmma needs compute capability 9.0, this GPU has {ctx.Arch}");
        return ctx;
    }

    static readonly Lazy<string> Source = new(() => File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "dev", "kernels", "gptq_wgmma.cu")));

    /// <summary>The kernel of <paramref name="tile"/>, its shared memory allowed (compiled on first use; looked up after).</summary>
    static nint Function(CudaContext ctx, GemmTile tile)
    {
        nint fn = ctx.Kernels.FunctionFromSource("gptq_wgmma", Source.Value, tile.Scaled, archSpecific: true);
        if (!ctx.Kernels.AllowSharedMemory(fn, tile.SharedBytes)) throw new InvalidOperationException($"{tile.Scaled}: shared memory refused");
        return fn;
    }

    static void Launch(CudaContext ctx, nint fn, GemmTile tile, ulong x, ulong qt, ulong sz, ulong y, int m, int inF, int outF, int gs, GemmLaunch l)
    {
        int ldy = outF, per = l.Per, atomic = 0;
        void** a = stackalloc void*[] { &x, &qt, &sz, &y, &m, &inF, &outF, &gs, &ldy, &per, &atomic };
        uint gx = (uint)(((outF + 15) / 16 + tile.Features / 16 - 1) / (tile.Features / 16)), gy = (uint)((m + tile.Rows - 1) / tile.Rows);
        ctx.Kernels.Launch(fn, (gx, gy, (uint)l.Splits), (uint)tile.Threads, (uint)tile.SharedBytes, a, tile.Scaled);
    }

    static GemmLaunch Plan(CudaContext ctx, GemmTile tile, int inF, int outF, int gs, int rows)
        => GemmPlanner.Plan(new GptqShape(inF, outF, gs), rows, ctx.Multiprocessors, _ => 1, tile);

    [Theory]
    [InlineData(256, 512, 128, true, 33)]
    [InlineData(200, 320, 64, false, 70)]
    [InlineData(264, 336, 16, false, 129)]      // groups of 16, K not a multiple of 64: the last k-step's groups clamp
    [InlineData(128, 4096, -1, true, 100)]
    [InlineData(64, 11008, 128, true, 64)]      // K split many ways
    [InlineData(520, 576, 192, false, 257)]
    public void MatchesFloat64Product(int outF, int inF, int gs, bool sym, int rows)
    {
        var ctx = Hopper();
        var (_, mem, lin, w) = GemmTests.Layer(outF, inF, gs, false, sym);
        using var _ = mem;
        var x = Gpu.RoundHalf(Gpu.Random(new Random(rows), rows * inF));
        ulong xd = mem.Upload<ushort>(Gpu.Half(x), "x"), y = mem.Alloc(4L * rows * outF, "y");
        var want = GemmTests.Product(x, w, rows, inF, outF);
        foreach (var k in Kernels)
        {
            var tile = Tile(k);
            var plan = Plan(ctx, tile, inF, outF, lin.GroupSize, rows);
            ctx.ZeroFloatsAsync(y, outF, outF, rows);
            Launch(ctx, Function(ctx, tile), tile, xd, lin.QTiles, lin.ScaleZero, y, rows, inF, outF, lin.GroupSize, plan);
            GemmTests.RowsClose(ctx.Download<float>(y, rows * outF), want, rows, outF, 1e-2, $"{k.Name} x{plan.Splits} {outF}x{inF} g{gs} rows {rows}");
        }
    }

    /// <summary>One 7B layer's GPTQ g128 linears, device µs per launch and TFLOP/s, per rows and kernel: the product's blocks and these.</summary>
    [Fact]
    public void TimingTable()
    {
        var path = Environment.GetEnvironmentVariable("DEV_GEMM_TIMING");
        if (path is null) Assert.Skip("DEV_GEMM_TIMING (a file for the table) is not set");
        var ctx = Hopper();
        using var mem = new DeviceArena(ctx);
        var k = new Kernels(ctx);
        using var o = new StreamWriter(path) { AutoFlush = true };
        (string Name, int In, int Out)[] shapes = [("qkv", 4096, 12288), ("o", 4096, 4096), ("gate_up", 4096, 22016), ("down", 11008, 4096)];
        int[] rowsList = [64, 128, 256, 512, 2048];
        ulong x = mem.Alloc(2L * 2048 * 11008, "x"), xs = mem.Alloc(2L * 2048 * 11008, "x in slot order"), y = mem.Alloc(4L * 2048 * 22016, "y"), wd = mem.Alloc(2L * 4096 * 22016, "wd");
        ctx.ZeroAsync(x, 2L * 2048 * 11008);
        foreach (var (name, inF, outF) in shapes)
        {
            var layer = TestTensors.Gptq(new Random(1), name, outF, inF, 128, false, true, out _);
            var lin = CudaLinear.Upload(mem, k, layer);
            double flopsPerRow = 2.0 * inF * outF;
            foreach (int rows in rowsList)
            {
                string Cell(string what, double us) => $" | {what} {us,7:F1} us {flopsPerRow * rows / us / 1e6,4:F0} TF";
                var line = $"{name,-8} rows {rows,5}";
                var prod = GemmPlanner.Plan(new GptqShape(inF, outF, 128), rows, ctx.Multiprocessors, k.GemmResidentBlocks, wgmma: false);
                line += Cell($"gemm_64x{prod.Splits}", Time(ctx, () =>
                {
                    if (prod.Splits > 1) ctx.ZeroFloatsAsync(y, outF, outF, rows);
                    k.GptqGemm(x, lin.QTiles, lin.ScaleZero, y, rows, inF, outF, 128, outF, prod, false);
                }));
                // The product's wgmma blocks, each with the gather of x into slot order (which they need) counted in.
                foreach (var wt in GemmTile.All.Where(t => t.Wgmma && t.Rows <= 2 * rows))
                {
                    var wp = GemmPlanner.Plan(new GptqShape(inF, outF, 128), rows, ctx.Multiprocessors, k.GemmResidentBlocks, wt);
                    line += Cell($"{wt.Scaled[5..]}x{wp.Splits}", Time(ctx, () =>
                    {
                        k.GatherCols(x, lin.SlotMap, xs, GemmPlanner.SlotStride(inF), inF, rows);
                        if (wp.Splits > 1) ctx.ZeroFloatsAsync(y, outF, outF, rows);
                        k.GptqWgmma(xs, lin.QTiles, lin.ScaleZero, y, rows, inF, outF, 128, outF, wp, false);
                    }));
                }
                foreach (var kd in Kernels)
                {
                    if (kd.Rows > 2 * rows) continue;
                    var tile = Tile(kd);
                    var plan = Plan(ctx, tile, inF, outF, 128, rows);
                    nint fn = Function(ctx, tile);
                    line += Cell($"{kd.Name[6..]}x{plan.Splits}", Time(ctx, () =>
                    {
                        if (plan.Splits > 1) ctx.ZeroFloatsAsync(y, outF, outF, rows);
                        Launch(ctx, fn, tile, x, lin.QTiles, lin.ScaleZero, y, rows, inF, outF, 128, plan);
                    }));
                }
                line += Cell("deq+cublas", Time(ctx, () =>
                {
                    k.GptqDequant(lin.QTiles, lin.ScaleZero, wd, inF, outF, 128);
                    float alpha = 1f, beta = 0f;
                    Cublas.Check(Cublas.GemmEx(ctx.Cublas, Cublas.OpT, Cublas.OpN, outF, rows, inF, &alpha, wd, Cublas.R16F, inF,
                        x, Cublas.R16F, inF, &beta, y, Cublas.R32F, outF, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
                }));
                o.WriteLine(line);
            }
            mem.Free(lin.QTiles); mem.Free(lin.ScaleZero);
        }
    }

    /// <summary>Device µs per call of <paramref name="a"/>: 20 calls back to back after 3 warm-ups.</summary>
    static double Time(CudaContext ctx, Action a)
    {
        const int N = 20;
        for (int i = 0; i < 3; i++) a();
        return DeviceTimer.Milliseconds(ctx, () => { for (int i = 0; i < N; i++) a(); }) * 1000.0 / N;
    }
}
