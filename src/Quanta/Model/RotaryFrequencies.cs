namespace Quanta.Model;

/// <summary>RoPE inverse frequencies as transformers computes them; shared by every backend.</summary>
public static class RotaryFrequencies
{
    /// <summary>inv_freq[i] = theta^(-2i/d), then linear or llama3 scaling.</summary>
    public static double[] Inverse(float theta, int headDim, RopeScaling? scaling)
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
}
