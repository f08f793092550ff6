using Quanta.Cuda;

namespace Quanta.Cuda.Tests;

/// <summary>Paged causal attention over variable-length sequences with shuffled block tables, with and without split-K.</summary>
public class AttentionTests
{
    readonly Random _rng = new();

    [Theory]
    [InlineData(16, 4, 2, 1)]
    [InlineData(128, 8, 2, 1)]
    [InlineData(128, 4, 4, 3)]
    [InlineData(8, 8, 4, 16)]
    [InlineData(96, 2, 1, 5)]
    public void MatchesReference(int d, int heads, int kvHeads, int splits)
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        int bs = 16, blocks = 40, kvd = kvHeads * d;
        int[] ctxLen = [40, 5, 133, 1], qLen = [1, 5, 17, 1];
        int S = ctxLen.Length, maxb = 9, T = qLen.Sum();
        var perm = Enumerable.Range(0, blocks).OrderBy(_ => _rng.Next()).ToArray();
        var tables = Enumerable.Repeat(-1, S * maxb).ToArray();
        int next = 0;
        for (int s = 0; s < S; s++)
            for (int j = 0; j < (ctxLen[s] + bs - 1) / bs; j++) tables[s * maxb + j] = perm[next++];
        var seqOf = new int[T];
        var pos = new int[T];
        for (int s = 0, t = 0; s < S; s++)
            for (int i = 0; i < qLen[s]; i++, t++) { seqOf[t] = s; pos[t] = ctxLen[s] - qLen[s] + i; }
        var kc = Gpu.RoundHalf(Gpu.Random(_rng, blocks * bs * kvd));
        var vc = Gpu.RoundHalf(Gpu.Random(_rng, blocks * bs * kvd));
        var q = Gpu.RoundHalf(Gpu.Random(_rng, T * heads * d, 2f));
        ulong o = mem.Alloc(2L * T * heads * d, "out"), part = mem.Alloc(4L * T * heads * splits * (d + 2), "part");
        float scale = 1f / MathF.Sqrt(d);
        new Kernels(ctx).PagedAttention(mem.Upload<ushort>(Gpu.Half(q), "q"), mem.Upload<ushort>(Gpu.Half(kc), "kc"), mem.Upload<ushort>(Gpu.Half(vc), "vc"),
            mem.Upload<int>(seqOf, "seq"), mem.Upload<int>(pos, "pos"), mem.Upload<int>(tables, "tables"), o, part,
            heads, kvHeads, d, bs, maxb, scale, splits, T);
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
}
