using Quanta.Cuda;
using Quanta.Model;

namespace Quanta.Cuda.Tests;

/// <summary>Paged causal attention over variable-length sequences with shuffled block tables, with and without split-K.</summary>
public class AttentionTests
{
    readonly Random _rng = new();

    /// <summary>
    /// splits 0 = the tiled prefill kernel (tiles of 64 queries; the last sequence needs two); paged attention with 4 or 8 warps,
    /// a key per 4 lanes where head_dim &lt;= 128, per 8 above.
    /// </summary>
    [Theory]
    [InlineData(16, 4, 2, 1, 4)]
    [InlineData(128, 8, 2, 1, 4)]
    [InlineData(128, 8, 2, 1, 8)]
    [InlineData(128, 4, 4, 3, 4)]
    [InlineData(128, 4, 4, 3, 8)]
    [InlineData(8, 8, 4, 16, 4)]
    [InlineData(8, 8, 4, 16, 8)]
    [InlineData(96, 2, 1, 5, 8)]
    [InlineData(256, 2, 1, 4, 4)]
    [InlineData(256, 2, 1, 4, 8)]
    [InlineData(64, 8, 8, 2, 4)]
    [InlineData(256, 4, 2, 1, 8)]
    [InlineData(128, 8, 2, 0, 0)]
    [InlineData(8, 4, 4, 0, 0)]
    [InlineData(96, 4, 1, 0, 0)]
    [InlineData(32, 4, 2, 0, 0)]
    public void MatchesReference(int d, int heads, int kvHeads, int splits, int warps)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int bs = 16, blocks = 50, kvd = kvHeads * d;
        int[] ctxLen = [40, 5, 133, 1, 150], qLen = [1, 5, 17, 1, 100];
        int S = ctxLen.Length, maxb = 10, T = qLen.Sum();
        var tables = ShuffledTables(ctxLen, bs, blocks, maxb);
        var seqOf = new int[T];
        var pos = new int[T];
        for (int s = 0, t = 0; s < S; s++)
            for (int i = 0; i < qLen[s]; i++, t++) { seqOf[t] = s; pos[t] = ctxLen[s] - qLen[s] + i; }
        var kc = Gpu.RoundHalf(Gpu.Random(_rng, blocks * bs * kvd));
        var vc = Gpu.RoundHalf(Gpu.Random(_rng, blocks * bs * kvd));
        var q = Gpu.RoundHalf(Gpu.Random(_rng, T * heads * d, 2f));
        ulong o = mem.Alloc(2L * T * heads * d, "out"), part = mem.Alloc(4L * T * heads * Math.Max(1, splits) * (d + 2), "part");
        float scale = 1f / MathF.Sqrt(d);
        ulong qd = mem.Upload<ushort>(Gpu.Half(q), "q"), kd = mem.Upload<ushort>(Gpu.Half(kc), "kc"), vd = mem.Upload<ushort>(Gpu.Half(vc), "vc");
        ulong sd = mem.Upload<int>(seqOf, "seq"), pd = mem.Upload<int>(pos, "pos"), td = mem.Upload<int>(tables, "tables");
        var k = new Kernels(ctx);
        if (splits == 0)
        {
            int[] qs = [0, .. qLen.Select((_, i) => qLen[..(i + 1)].Sum())];
            var tiles = Kernels.PrefillTiles(qs, S, pos)!;
            Assert.Equal(2 * 6, tiles.Length);
            k.PrefillAttention(qd, kd, vd, sd, pd, td, mem.Upload<int>(tiles, "tiles"), o, heads, kvHeads, d, bs, maxb, scale, tiles.Length / 2);
        }
        else
        {
            ulong done = mem.Alloc(4L * T * heads, "split counters");
            ctx.ZeroAsync(done, 4L * T * heads);
            for (int rep = 0; rep < 2; rep++)   // the counters must be left zero for the next launch
                k.PagedAttention(qd, kd, vd, sd, pd, td, o, part, done, heads, kvHeads, d, bs, maxb, scale, splits, T, warps);
            Assert.All(ctx.Download<int>(done, T * heads), c => Assert.Equal(0, c));
        }
        var got = Gpu.Float(ctx.Download<ushort>(o, T * heads * d));
        var want = new double[T * heads * d];
        for (int t = 0; t < T; t++)
            for (int h = 0; h < heads; h++)
            {
                int kh = h / (heads / kvHeads), n = pos[t] + 1;
                var sc = new double[n];
                for (int j = 0; j < n; j++)
                {
                    long slot = (long)tables[seqOf[t] * maxb + j / bs] * bs + j % bs;
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[(t * heads + h) * d + e] * kc[slot * kvd + kh * d + e];
                    sc[j] = dot * scale;
                }
                double mx = sc.Max(), sum = 0;
                for (int j = 0; j < n; j++) { sc[j] = Math.Exp(sc[j] - mx); sum += sc[j]; }
                for (int j = 0; j < n; j++)
                {
                    long slot = (long)tables[seqOf[t] * maxb + j / bs] * bs + j % bs;
                    for (int e = 0; e < d; e++) want[(t * heads + h) * d + e] += sc[j] / sum * vc[slot * kvd + kh * d + e];
                }
            }
        Gpu.Close(got, want, 3e-3, $"attention d={d} splits={splits}");
    }

    /// <summary>Block tables [sequences, maxb] (-1 past each context) over the blocks in random order.</summary>
    int[] ShuffledTables(int[] ctxLen, int bs, int blocks, int maxb)
    {
        var perm = Enumerable.Range(0, blocks).OrderBy(_ => _rng.Next()).ToArray();
        var tables = Enumerable.Repeat(-1, ctxLen.Length * maxb).ToArray();
        int next = 0;
        for (int s = 0; s < ctxLen.Length; s++)
            for (int j = 0; j < (ctxLen[s] + bs - 1) / bs; j++) tables[s * maxb + j] = perm[next++];
        return tables;
    }

    /// <summary>
    /// Decode attention that rotates q and the step's K/V and writes the cache itself gives the same output and cache as
    /// rope_kv, then paged attention: GQA, rotate-half and interleaved, splits whose last one is empty (context 5 in 4),
    /// and a padding row (slot -1, position 0 of sequence 0) that must write nothing; 8-warp blocks of 4-lane groups with the
    /// second and third keys preloaded where the blocks fit the SMs (contexts 133 and 150 in one split: three rounds, the token's
    /// own key in the third) and without where they do not (32 heads x 6 tokens x 5 splits).
    /// </summary>
    [Theory]
    [InlineData(128, 8, 2, 1, 8, 0)]
    [InlineData(128, 4, 4, 4, 8, 1)]
    [InlineData(64, 8, 8, 3, 4, 0)]
    [InlineData(96, 2, 1, 5, 8, 1)]
    [InlineData(256, 2, 1, 2, 4, 0)]
    [InlineData(256, 2, 1, 3, 8, 1)]
    [InlineData(128, 32, 8, 5, 8, 0)]
    [InlineData(64, 32, 8, 5, 8, 1)]
    public void FusedRopeMatchesRopeKvThenAttention(int d, int heads, int kvHeads, int splits, int warps, int style)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int bs = 16, blocks = 40, kvd = kvHeads * d, qd = heads * d, ld = qd + 2 * kvd, maxb = 10;
        int[] ctxLen = [40, 5, 133, 1, 150];
        int S = ctxLen.Length, T = S + 1;   // one query per sequence, then a padding row
        var tables = ShuffledTables(ctxLen, bs, blocks, maxb);
        var seqOf = new int[T];
        var pos = new int[T];
        var slot = new int[T];
        for (int t = 0; t < S; t++)
        {
            (seqOf[t], pos[t]) = (t, ctxLen[t] - 1);
            slot[t] = tables[t * maxb + pos[t] / bs] * bs + pos[t] % bs;
        }
        slot[S] = -1;
        var qkv = Gpu.Random(_rng, T * ld, 2f);
        var cache = Gpu.Half(Gpu.Random(_rng, blocks * bs * kvd));
        var inv = RotaryFrequencies.Inverse(10000f, d, null);
        ulong qkvd = mem.Upload<float>(qkv, "qkv"), sd = mem.Upload<int>(seqOf, "seq"), pd = mem.Upload<int>(pos, "pos");
        ulong sl = mem.Upload<int>(slot, "slot"), td = mem.Upload<int>(tables, "tables"), invd = mem.Upload<double>(inv, "inv");
        ulong qh = mem.Alloc(2L * T * qd, "qh"), part = mem.Alloc(4L * T * heads * splits * (d + 2), "part");
        ulong done = mem.Alloc(4L * T * heads, "split counters");
        ctx.ZeroAsync(done, 4L * T * heads);
        float scale = 1f / MathF.Sqrt(d);
        var k = new Kernels(ctx);
        (ushort[] Out, ushort[] K, ushort[] V) Run(bool fused)
        {
            ulong kc = mem.Upload<ushort>(cache, "kc"), vc = mem.Upload<ushort>(cache, "vc"), o = mem.Alloc(2L * T * qd, "out");
            if (!fused)
                k.RopeKv(qkvd, qkvd + 4UL * (ulong)qd, qkvd + 4UL * (ulong)(qd + kvd), qh, kc, vc, pd, sl, invd, heads, kvHeads, d, style, T, ld);
            k.PagedAttention(qh, kc, vc, sd, pd, td, o, part, done, heads, kvHeads, d, bs, maxb, scale, splits, T, warps,
                fused ? new Kernels.DecodeRope(qkvd, ld, sl, invd, style) : null);
            return (ctx.Download<ushort>(o, T * qd), ctx.Download<ushort>(kc, cache.Length), ctx.Download<ushort>(vc, cache.Length));
        }
        var (wo, wk, wv) = Run(fused: false);
        var (go, gk, gv) = Run(fused: true);
        Assert.Equal(wk, gk);
        Assert.Equal(wv, gv);
        Assert.Equal(wo.AsSpan(0, S * qd).ToArray(), go.AsSpan(0, S * qd).ToArray());
        Assert.All(Gpu.Float(go), x => Assert.True(float.IsFinite(x)));
        Assert.All(ctx.Download<int>(done, T * heads), c => Assert.Equal(0, c));
    }

    /// <summary>A prompt from position 0 through cuBLAS (scores, causal softmax, P·V), GQA included, rows offset in the batch.</summary>
    [Theory]
    [InlineData(77, 4, 2, 32)]
    [InlineData(130, 2, 2, 128)]
    [InlineData(65, 8, 1, 16)]
    public void GemmPromptAttentionMatchesReference(int len, int heads, int kvHeads, int d)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int t0 = 3, T = t0 + len, kvd = kvHeads * d;
        var q = Gpu.RoundHalf(Gpu.Random(_rng, T * heads * d, 2f));
        var k = Gpu.RoundHalf(Gpu.Random(_rng, T * kvd));
        var v = Gpu.RoundHalf(Gpu.Random(_rng, T * kvd));
        ulong o = mem.Alloc(2L * T * heads * d, "out");
        ulong sc = mem.Alloc(BlasAttention.ScratchBytes(heads, len), "scores");
        float scale = 1f / MathF.Sqrt(d);
        var kern = new Kernels(ctx);
        new BlasAttention(ctx, kern, heads, kvHeads, d).Run(mem.Upload<ushort>(Gpu.Half(q), "q"), mem.Upload<ushort>(Gpu.Half(k), "k"),
            mem.Upload<ushort>(Gpu.Half(v), "v"), o, t0, len, sc, sc + 4UL * (ulong)((long)heads * len * len), scale);
        var got = Gpu.Float(ctx.Download<ushort>(o, T * heads * d))[(t0 * heads * d)..];
        var want = new double[len * heads * d];
        for (int i = 0; i < len; i++)
            for (int h = 0; h < heads; h++)
            {
                int kh = h / (heads / kvHeads);
                var w = new double[i + 1];
                for (int j = 0; j <= i; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[((t0 + i) * heads + h) * d + e] * k[(t0 + j) * kvd + kh * d + e];
                    w[j] = dot * scale;
                }
                double mx = w.Max(), sum = 0;
                for (int j = 0; j <= i; j++) { w[j] = Math.Exp(w[j] - mx); sum += w[j]; }
                for (int j = 0; j <= i; j++)
                    for (int e = 0; e < d; e++) want[(i * heads + h) * d + e] += w[j] / sum * v[(t0 + j) * kvd + kh * d + e];
            }
        Gpu.Close(got, want, 3e-3, $"GEMM attention len={len}");
    }
}
