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
        _invFreq = RotaryFrequencies.Inverse(c.RopeTheta, headDim, c.RopeScaling);
    }

    public int HeadDim { get; }
    public RopeStyle Style { get; }


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
