using System.Numerics.Tensors;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>
/// The input of each linear layer, where a calibration hook can observe it: Attn (q/k/v), O (o_proj), Mlp (gate/up),
/// Down (down_proj).
/// </summary>
public enum LinearInput { Attn, O, Mlp, Down }

/// <summary>
/// Full-sequence fp32 forward of one decoder layer (causal attention over the whole sample, rotate-half RoPE).
/// The CPU runner only exposes logits through a paged KV cache; calibration needs every linear layer's input.
/// </summary>
internal sealed class DenseForward(LlamaConfig config)
{
    readonly int hidden = config.HiddenSize, heads = config.NumHeads, kvHeads = config.NumKvHeads, hd = config.EffectiveHeadDim;
    readonly float eps = config.RmsNormEps;
    readonly float[] invFreq = Array.ConvertAll(RotaryFrequencies.Inverse(config.RopeTheta, config.EffectiveHeadDim, config.RopeScaling), f => (float)f);   // [head_dim/2]

    /// <summary>
    /// Runs layer <paramref name="w"/> on x [tokens, hidden] in place; <paramref name="hook"/> sees each linear input
    /// [tokens, width]. Stops early after <paramref name="stopAfter"/> when given (x is then left unchanged).
    /// </summary>
    public void Layer(DenseLayer w, float[] x, int tokens, int ffn, Action<LinearInput, float[]>? hook, LinearInput? stopAfter = null)
    {
        int qw = heads * hd, kw = kvHeads * hd;
        var xn = RmsNorm(x, tokens, w.AttnNorm);                             // [tokens, hidden]
        hook?.Invoke(LinearInput.Attn, xn);
        if (stopAfter == LinearInput.Attn) return;
        var q = MatMul(xn, tokens, hidden, w.Q, qw);                          // [tokens, qw]
        var k = MatMul(xn, tokens, hidden, w.K, kw);                          // [tokens, kw]
        var v = MatMul(xn, tokens, hidden, w.V, kw);                          // [tokens, kw]
        Rope(q, tokens, heads); Rope(k, tokens, kvHeads);
        var att = Attention(q, k, v, tokens);                                 // [tokens, qw]
        hook?.Invoke(LinearInput.O, att);
        if (stopAfter == LinearInput.O) return;
        var o = MatMul(att, tokens, qw, w.O, hidden);
        var h = new float[x.Length];                                          // [tokens, hidden]
        TensorPrimitives.Add(x, o, h);
        var hn = RmsNorm(h, tokens, w.FfnNorm);
        hook?.Invoke(LinearInput.Mlp, hn);
        if (stopAfter == LinearInput.Mlp) return;
        var g = MatMul(hn, tokens, hidden, w.Gate, ffn);                      // [tokens, ffn]
        var u = MatMul(hn, tokens, hidden, w.Up, ffn);
        for (int i = 0; i < g.Length; i++) g[i] = g[i] / (1 + MathF.Exp(-g[i])) * u[i];
        hook?.Invoke(LinearInput.Down, g);
        if (stopAfter == LinearInput.Down) return;
        var d = MatMul(g, tokens, ffn, w.Down, hidden);
        TensorPrimitives.Add(h, d, x);
    }

    /// <summary>RMSNorm of each row times <paramref name="weight"/>.</summary>
    public float[] RmsNorm(float[] x, int tokens, float[] weight)
    {
        var y = new float[x.Length];
        for (int t = 0; t < tokens; t++)
        {
            var row = x.AsSpan(t * hidden, hidden);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / hidden + eps);
            TensorPrimitives.Multiply(row, scale, y.AsSpan(t * hidden, hidden));
            TensorPrimitives.Multiply(y.AsSpan(t * hidden, hidden), weight, y.AsSpan(t * hidden, hidden));
        }
        return y;
    }

    /// <summary>Y [tokens, outDim] = X [tokens, inDim] · Wᵀ with W [outDim, inDim].</summary>
    public static float[] MatMul(float[] x, int tokens, int inDim, float[] w, int outDim)
    {
        var y = new float[tokens * outDim];
        Parallel.For(0, tokens, t =>
        {
            var xr = x.AsSpan(t * inDim, inDim);
            for (int o = 0; o < outDim; o++) y[t * outDim + o] = TensorPrimitives.Dot(xr, w.AsSpan(o * inDim, inDim));
        });
        return y;
    }

    void Rope(float[] x, int tokens, int nHeads)
    {
        int half = hd / 2;
        for (int t = 0; t < tokens; t++)
            for (int j = 0; j < half; j++)
            {
                var (sin, cos) = MathF.SinCos(t * invFreq[j]);
                for (int h = 0; h < nHeads; h++)
                {
                    int i = (t * nHeads + h) * hd + j;
                    float a = x[i], b = x[i + half];
                    x[i] = a * cos - b * sin;
                    x[i + half] = b * cos + a * sin;
                }
            }
    }

    float[] Attention(float[] q, float[] k, float[] v, int tokens)
    {
        int qw = heads * hd, kw = kvHeads * hd, group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(hd);
        var outp = new float[tokens * qw];
        Parallel.For(0, heads, h =>
        {
            var s = new float[tokens];
            int kvh = h / group;
            for (int t = 0; t < tokens; t++)
            {
                var qr = q.AsSpan(t * qw + h * hd, hd);
                for (int u = 0; u <= t; u++) s[u] = TensorPrimitives.Dot(qr, k.AsSpan(u * kw + kvh * hd, hd)) * scale;
                TensorPrimitives.SoftMax(s.AsSpan(0, t + 1), s.AsSpan(0, t + 1));
                var dst = outp.AsSpan(t * qw + h * hd, hd);
                for (int u = 0; u <= t; u++) TensorPrimitives.MultiplyAdd(v.AsSpan(u * kw + kvh * hd, hd), s[u], dst, dst);
            }
        });
        return outp;
    }
}
