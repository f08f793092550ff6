using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>
/// The CPU backend: the fp32 <see cref="DenseForward"/> (the CPU runner's layer), fp64 <see cref="Hessian"/>,
/// fp64 <see cref="Quantization.Gptq"/>.
/// </summary>
public sealed class CpuQuantBackend(LlamaConfig config) : QuantBackend
{
    readonly DenseForward _fwd = new(config);
    float[][] _states = [];                               // per sample [tokens, hidden] fp32
    int[][] _samples = [];
    DenseLayer? _layer;
    int _ffn;

    public override string Device => "cpu";

    public override void Start(LoadedModel model, int[][] samples)
    {
        _samples = samples;
        _states = Embed(model, samples);
    }

    public override void Load(DenseLayer layer, int ffn) => (_layer, _ffn) = (layer, ffn);

    public override void Updated(DenseLayer layer, string name) { }   // the forward rebinds a replaced array itself

    public override Dictionary<LinearInput, IHessianSum> Collect(LinearInput? only)
    {
        var layer = Layer;
        var hs = new Dictionary<LinearInput, Hessian>();
        foreach (LinearInput input in Enum.GetValues<LinearInput>())
            if (only is null || only == input)
                hs[input] = new Hessian(ModelQuantizer.Width(config, input, _ffn));
        for (int s = 0; s < _states.Length; s++)
        {
            int tokens = _samples[s].Length;
            _fwd.Layer(layer, _states[s], tokens, _ffn, (at, x) => { if (hs.TryGetValue(at, out var h)) h.Add(x, tokens); },
                       only ?? LinearInput.Down);
        }
        return hs.ToDictionary(kv => kv.Key, kv => (IHessianSum)kv.Value);
    }

    public override void Advance()
    {
        var layer = Layer;
        for (int s = 0; s < _states.Length; s++) _fwd.Layer(layer, _states[s], _samples[s].Length, _ffn, null);
    }

    public override QuantizedMatrix Gptq(IHessianSum h, double[] weight, int rows, int cols, QuantSpec spec)
        => Quantization.Gptq.Quantize(weight, rows, cols, Cpu(h).Scaled(), spec);

    public override QuantizedMatrix RoundToNearest(double[] weight, int rows, int cols, QuantSpec spec)
        => Quantization.Gptq.RoundToNearest(weight, rows, cols, spec);

    public override double OutputError(IHessianSum h, double[] delta, int rows) => Cpu(h).OutputError(delta, rows);

    public override void Dispose()
    {
        _fwd.Dispose();
        base.Dispose();
    }

    DenseLayer Layer => _layer ?? throw new InvalidOperationException("no layer loaded");

    static Hessian Cpu(IHessianSum h) => h as Hessian ?? throw new ArgumentException("the CPU backend takes its own Hessians", nameof(h));

    static float[][] Embed(LoadedModel model, int[][] samples)
    {
        int hidden = model.Config.HiddenSize;
        var emb = DenseWeights.ToFloat(model.Weights.Embedding);             // [vocab, hidden]
        return samples.Select(ids =>
        {
            var x = new float[ids.Length * hidden];
            for (int t = 0; t < ids.Length; t++) emb.AsSpan(ids[t] * hidden, hidden).CopyTo(x.AsSpan(t * hidden));
            return x;
        }).ToArray();
    }
}
