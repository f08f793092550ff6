using System.Runtime.CompilerServices;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>Rotary position embedding: inverse frequencies as transformers computes them, applied per head.</summary>
internal sealed unsafe class Rope
{
    readonly double[] _invFreq; // [head_dim/2]

    public Rope(LlamaConfig c, int headDim)
    {
        HeadDim = headDim;
        Style = c.RopeStyle;
        _invFreq = InverseFrequencies(c.RopeTheta, headDim, c.RopeScaling);
    }

    public int HeadDim { get; }
    public RopeStyle Style { get; }

    /// <summary>inv_freq[i] = theta^(-2i/d), then linear or llama3 scaling.</summary>
    public static double[] InverseFrequencies(float theta, int headDim, RopeScaling? scaling)
    {
        var f = new double[headDim / 2];
        for (int i = 0; i < f.Length; i++) f[i] = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
        if (scaling is null) return f;
        switch (scaling.Type)
        {
            case "linear":
                for (int i = 0; i < f.Length; i++) f[i] /= scaling.Factor;
                return f;
            case "llama3":
                double lowWave = scaling.OriginalMaxPositionEmbeddings / (double)scaling.LowFreqFactor;
                double highWave = scaling.OriginalMaxPositionEmbeddings / (double)scaling.HighFreqFactor;
                for (int i = 0; i < f.Length; i++)
                {
                    double wave = 2 * Math.PI / f[i];
                    if (wave < highWave) continue;
                    if (wave > lowWave) { f[i] /= scaling.Factor; continue; }
                    double smooth = (scaling.OriginalMaxPositionEmbeddings / wave - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                    f[i] = (1 - smooth) * f[i] / scaling.Factor + smooth * f[i];
                }
                return f;
            default:
                throw new ModelLoadException($"config.json: rope_scaling type '{scaling.Type}' is not supported (linear, llama3)");
        }
    }

    /// <summary>cos/sin [tokens, head_dim/2] for the given positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Tables(ReadOnlySpan<int> positions, float* cos, float* sin)
    {
        int h = _invFreq.Length;
        for (int t = 0; t < positions.Length; t++)
            for (int i = 0; i < h; i++)
            {
                double a = positions[t] * _invFreq[i];
                cos[t * h + i] = (float)Math.Cos(a);
                sin[t * h + i] = (float)Math.Sin(a);
            }
    }

    /// <summary>Rotates <paramref name="heads"/> consecutive heads of one token in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(float* v, int heads, float* cos, float* sin)
    {
        int d = HeadDim, h = d / 2;
        for (int hd = 0; hd < heads; hd++, v += d)
        {
            if (Style == RopeStyle.RotateHalf)
                for (int i = 0; i < h; i++)
                {
                    float a = v[i], b = v[i + h];
                    v[i] = a * cos[i] - b * sin[i];
                    v[i + h] = b * cos[i] + a * sin[i];
                }
            else
                for (int i = 0; i < h; i++)
                {
                    float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = a * cos[i] - b * sin[i];
                    v[2 * i + 1] = a * sin[i] + b * cos[i];
                }
        }
    }
}
