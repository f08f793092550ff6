using Quanta.Cuda;
using Quanta.Model;

namespace Quanta.Cuda.Tests;

/// <summary>Each small kernel against a float64 reference on fresh random inputs, sizes off the tile too.</summary>
public class KernelTests
{
    readonly Random _rng = new();

    [Fact]
    public void EveryModuleCompiles()
    {
        var ctx = Gpu.Context();
        ctx.Kernels.LoadAll();
        Assert.Contains("gptq", KernelRegistry.ModuleNames);
    }

    /// <summary>
    /// stage_embed reads a step's inputs from mapped host memory: x rows of the ids (fed tokens take the step before's ids),
    /// the meta ints (ids fed there too) and the sampling parameters copied to the device, with and without a feed, over
    /// more ints than one block's copy.
    /// </summary>
    [Theory]
    [InlineData(64, 3, false, 0)]
    [InlineData(100, 7, true, 12)]
    [InlineData(4096, 2, true, 6)]
    [InlineData(96, 40, false, 300)]
    [InlineData(8200, 2, true, 0)]   // more 16-byte chunks than one pass of 4 per thread (n = 100: the scalar loop)
    public void StageEmbedCopiesInputsAndEmbeds(int n, int tokens, bool fed, int np)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int vocab = 37, extra = 3 * tokens + 700, feedAt = fed ? tokens + extra : 0, count = tokens + extra + (fed ? tokens : 0);
        var table = Gpu.Half(Gpu.Random(_rng, vocab * n));
        var prev = Enumerable.Range(0, 5).Select(_ => _rng.Next(vocab)).ToArray();
        using var hostMeta = new PinnedBuffer();
        using var hostParams = new PinnedBuffer();
        var m = hostMeta.Get<int>(count);
        for (int i = 0; i < count; i++) m[i] = i < tokens ? _rng.Next(vocab) : _rng.Next();
        for (int t = 0; t < tokens && fed; t++) m[feedAt + t] = t % 3 == 0 ? -1 : _rng.Next(prev.Length);
        var pm = hostParams.Get<int>(Math.Max(1, np));
        for (int i = 0; i < np; i++) pm[i] = _rng.Next();
        var want = m.ToArray();
        for (int t = 0; t < tokens && fed; t++) if (want[feedAt + t] >= 0) want[t] = prev[want[feedAt + t]];
        var wantParams = pm[..np].ToArray();
        ulong x = mem.Alloc(4L * tokens * n, "x"), meta = mem.Alloc(4L * count, "meta"), parms = mem.Alloc(4L * Math.Max(1, np), "params");
        new Kernels(ctx).StageEmbed(hostMeta.Device, meta, count, tokens, feedAt, mem.Upload<int>(prev, "prev"), mem.Upload<ushort>(table, "table"),
            x, n, np > 0 ? hostParams.Device : 0, parms, np);
        var got = ctx.Download<float>(x, tokens * n);
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < n; i++)
                Assert.Equal((float)BitConverter.UInt16BitsToHalf(table[want[t] * n + i]), got[t * n + i]);
        Assert.Equal(want, ctx.Download<int>(meta, count));
        if (np > 0) Assert.Equal(wantParams, ctx.Download<int>(parms, np));
    }

    [Theory]
    [InlineData(64, 1)]
    [InlineData(1000, 3)]
    [InlineData(4096, 5)]
    [InlineData(5120, 2)]    // more than one float4 per thread
    [InlineData(1002, 2)]    // not a multiple of 4
    public void RmsNormMatchesReference(int n, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var x = Gpu.Random(_rng, rows * n, 3f);
        var w = Gpu.Random(_rng, n);
        ulong xd = mem.Upload<float>(x, "x"), outp = mem.Alloc(2L * rows * n, "out");
        new Kernels(ctx).RmsNorm(xd, mem.Upload<float>(w, "w"), outp, n, 1e-5f, rows);
        Assert.Equal(x, ctx.Download<float>(xd, rows * n));
        var got = Gpu.Float(ctx.Download<ushort>(outp, rows * n));
        var want = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double)x[r * n + i] * x[r * n + i];
            double inv = 1 / Math.Sqrt(ss / n + 1e-5);
            for (int i = 0; i < n; i++) want[r * n + i] = x[r * n + i] * inv * w[i];
        }
        Gpu.Close(got, want, 2e-3, "rmsnorm");
    }

    /// <summary>gate and up side by side in rows of 2n, as the fused projection writes them.</summary>
    [Theory]
    [InlineData(1000, 1)]
    [InlineData(11008, 3)]
    [InlineData(77, 5)]
    public void SiluMulMatchesReference(int n, int rows)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        var gu = Gpu.Random(_rng, rows * 2 * n, 6f);
        ulong o = mem.Alloc(2L * n * rows, "out"), d = mem.Upload<float>(gu, "gate_up");
        new Kernels(ctx).SiluMul(d, d + 4UL * (ulong)n, o, n, 2 * n, rows);
        var got = Gpu.Float(ctx.Download<ushort>(o, n * rows));
        var want = new double[n * rows];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++)
            {
                double a = gu[r * 2 * n + i];
                want[r * n + i] = a / (1 + Math.Exp(-a)) * gu[r * 2 * n + n + i];
            }
        Gpu.Close(got, want, 2e-3, "silu*mul");
    }

    [Theory]
    [InlineData(8, 4, 2, 0)]
    [InlineData(16, 4, 4, 1)]
    [InlineData(128, 8, 2, 0)]
    [InlineData(128, 4, 1, 1)]
    public void RopeRotatesQAndWritesKvSlots(int d, int heads, int kvHeads, int style)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int T = 5, slots = 64, qd = heads * d, kvd = kvHeads * d, ld = qd + 2 * kvd;
        var qkv = Gpu.Random(_rng, T * ld);
        var q = new float[T * qd]; var k = new float[T * kvd]; var v = new float[T * kvd];
        for (int t = 0; t < T; t++)
        {
            Array.Copy(qkv, t * ld, q, t * qd, qd);
            Array.Copy(qkv, t * ld + qd, k, t * kvd, kvd);
            Array.Copy(qkv, t * ld + qd + kvd, v, t * kvd, kvd);
        }
        var pos = Enumerable.Range(0, T).Select(_ => _rng.Next(3000)).ToArray();
        var slot = Enumerable.Range(0, slots).OrderBy(_ => _rng.Next()).Take(T).ToArray();
        var inv = RotaryFrequencies.Inverse(10000f, d, null);
        ulong qh = mem.Alloc(2L * T * qd, "qh"), kc = mem.Alloc(2L * slots * kvd, "kc"), vc = mem.Alloc(2L * slots * kvd, "vc");
        ulong qkvd = mem.Upload<float>(qkv, "qkv");
        new Kernels(ctx).RopeKv(qkvd, qkvd + 4UL * (ulong)qd, qkvd + 4UL * (ulong)(qd + kvd), qh, kc, vc,
            mem.Upload<int>(pos, "pos"), mem.Upload<int>(slot, "slot"), mem.Upload<double>(inv, "inv"), heads, kvHeads, d, style, T, ld);
        var gq = Gpu.Float(ctx.Download<ushort>(qh, T * qd));
        var gk = Gpu.Float(ctx.Download<ushort>(kc, slots * kvd));
        var gv = Gpu.Float(ctx.Download<ushort>(vc, slots * kvd));
        var wq = new double[T * qd];
        var wk = new double[T * kvd];
        var gkT = new float[T * kvd];
        var gvT = new float[T * kvd];
        for (int t = 0; t < T; t++)
        {
            Rotate(q, t * qd, heads, d, pos[t], inv, style, wq);
            Rotate(k, t * kvd, kvHeads, d, pos[t], inv, style, wk);
            Array.Copy(gk, slot[t] * kvd, gkT, t * kvd, kvd);
            Array.Copy(gv, slot[t] * kvd, gvT, t * kvd, kvd);
        }
        Gpu.Close(gq, wq, 2e-3, "rope q");
        Gpu.Close(gkT, wk, 2e-3, "rope k in cache");
        Gpu.Close(gvT, [.. v.Select(x => (double)x)], 2e-3, "v in cache");
    }

    static void Rotate(float[] src, int off, int heads, int d, int pos, double[] inv, int style, double[] dst)
    {
        int h2 = d / 2;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < h2; j++)
            {
                int a = off + h * d + (style == 0 ? j : 2 * j), b = off + h * d + (style == 0 ? j + h2 : 2 * j + 1);
                double c = Math.Cos(pos * inv[j]), s = Math.Sin(pos * inv[j]);
                dst[a] = src[a] * c - src[b] * s;
                dst[b] = src[b] * c + src[a] * s;
            }
    }

    /// <summary>A gather to a wider row (zeros where the map says -1), as the int4 GEMM's slot order pads the last k-step.</summary>
    [Fact]
    public void GatherColsGathersAndPads()
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int nin = 300, nout = 320, rows = 3;
        var x = Gpu.Half(Gpu.Random(_rng, nin * rows));
        var map = Enumerable.Range(0, nin).OrderBy(_ => _rng.Next()).Concat(Enumerable.Repeat(-1, nout - nin)).OrderBy(_ => _rng.Next()).ToArray();
        ulong y = mem.Alloc(2L * nout * rows, "y");
        new Kernels(ctx).GatherCols(mem.Upload<ushort>(x, "x"), mem.Upload<int>(map, "map"), y, nout, nin, rows);
        var got = ctx.Download<ushort>(y, nout * rows);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < nout; i++) Assert.Equal(map[i] < 0 ? (ushort)0 : x[r * nin + map[i]], got[r * nout + i]);
    }
}
