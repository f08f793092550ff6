using System.Numerics.Tensors;
using Quanta.Cpu;
using Quanta.Engine;
using Quanta.IO;
using Quanta.Model;
using Quanta.Quantization;
using Quanta.Tests.Cpu;

namespace Quanta.Tests.Quantization;

/// <summary>Opens checkpoints without their tokenizer and computes reference logits with the dense forward.</summary>
internal static class QuantTestModels
{
    public static LoadedModel Open(string path)
    {
        var ck = ModelLoader.Open(path);
        var m = new LoadedModel { Name = ck.Name, Path = ck.Path, Config = ck.Config, Weights = ck.Weights, Tokenizer = new NoTokenizer() };
        m.Owned.AddRange(ck.Owned);
        ck.Owned.Clear();
        return m;
    }

    /// <summary>Seeded random token windows.</summary>
    public static int[][] RandomSamples(int vocab, int count, int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(3, vocab)).ToArray()).ToArray();
    }

    /// <summary>Logits [tokens, vocab] of the whole sequence through <paramref name="runner"/> (one prefill).</summary>
    public static float[] RunnerLogits(IModelRunner runner, int[] ids)
    {
        int blocks = (ids.Length + runner.BlockSize - 1) / runner.BlockSize;
        return Batches.Run(runner, Batches.Build(runner.BlockSize, new SeqStep(Enumerable.Range(0, blocks).ToArray(), 0, ids, AllLogits: true)));
    }

    public static CpuModelRunner Runner(LoadedModel m, int tokens = 256) => new(m.Config, m.Weights, new KvCacheOptions(16, (tokens + 15) / 16), threads: 1);

    /// <summary>
    /// Logits [tokens, vocab] from the dense forward: the model's own norms and embeddings (rounded to fp16 when
    /// <paramref name="halfNorms"/>) and, when given, the dequantized linears of <paramref name="q"/>.
    /// </summary>
    public static float[] DenseLogits(LoadedModel m, int[] ids, QuantizedModel? q = null, bool halfNorms = false)
    {
        var c = m.Config;
        int hidden = c.HiddenSize, n = ids.Length, ffn = q?.PaddedIntermediate ?? c.IntermediateSize;
        Func<float[], float[]> r = halfNorms ? a => Array.ConvertAll(a, v => (float)(Half)v) : a => a;
        var emb = r(DenseWeights.ToFloat(m.Weights.Embedding));
        var x = new float[n * hidden];
        for (int t = 0; t < n; t++) emb.AsSpan(ids[t] * hidden, hidden).CopyTo(x.AsSpan(t * hidden));
        using var fwd = new DenseForward(c);
        for (int i = 0; i < c.NumLayers; i++)
        {
            var l = DenseWeights.Layer(m, i, ffn);
            l.AttnNorm = r(l.AttnNorm); l.FfnNorm = r(l.FfnNorm);
            if (q is not null)
            {
                string p = $"model.layers.{i}.";
                l.Wq = q.Linears[p + "self_attn.q_proj"].Dequantize(); l.Wk = q.Linears[p + "self_attn.k_proj"].Dequantize();
                l.Wv = q.Linears[p + "self_attn.v_proj"].Dequantize(); l.Wo = q.Linears[p + "self_attn.o_proj"].Dequantize();
                l.WGate = q.Linears[p + "mlp.gate_proj"].Dequantize(); l.WUp = q.Linears[p + "mlp.up_proj"].Dequantize();
                l.WDown = q.Linears[p + "mlp.down_proj"].Dequantize();
            }
            fwd.Layer(l, x, n, ffn, null);
        }
        var xn = fwd.RmsNorm(x, n, r(DenseWeights.ToFloat(m.Weights.FinalNorm)));
        var head = m.Config.TieWordEmbeddings ? emb : r(DenseWeights.Linear(m.Weights.LmHead));
        var logits = new float[n * c.VocabSize];                          // [tokens, vocab] = xn · headᵀ
        for (int t = 0; t < n; t++)
            for (int v = 0; v < c.VocabSize; v++)
                logits[t * c.VocabSize + v] = TensorPrimitives.Dot(xn.AsSpan(t * hidden, hidden), head.AsSpan(v * hidden, hidden));
        return logits;
    }

    public static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    sealed class NoTokenizer : ITokenizer
    {
        public int VocabSize => throw new NotSupportedException();
        public int BosId => 1;
        public int EosId => 2;
        public int[] Encode(string text, bool addBos) => throw new NotSupportedException();
        public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = true) => throw new NotSupportedException();
        public ReadOnlySpan<byte> TokenBytes(int id) => throw new NotSupportedException();
        public string TokenText(int id) => throw new NotSupportedException();
        public bool IsSpecial(int id) => false;
    }
}
