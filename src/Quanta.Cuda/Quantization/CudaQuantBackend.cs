using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cuda;

/// <summary>
/// The CUDA backend of <see cref="ModelQuantizer"/>: calibration states, one layer's fp32 weights and its fp64 Hessians
/// stay on the GPU (one layer at a time); GPTQ and RTN solve in fp64 on the GPU.
/// </summary>
public sealed class CudaQuantBackend : QuantBackend
{
    readonly CudaContext _ctx;
    readonly QuantKernels _k;
    readonly CudaLayerForward _fwd;
    readonly CudaGptq _solve;
    readonly List<CudaHessian> _hessians = [];            // of the loaded layer

    /// <param name="chunkTokens">calibration tokens per forward chunk (whole samples; activations scale with it).</param>
    public CudaQuantBackend(LlamaConfig config, CudaContext? ctx = null, int chunkTokens = 8192)
    {
        _ctx = ctx ?? CudaContext.Shared;
        _ctx.MakeCurrent();
        _k = new QuantKernels(_ctx);
        _fwd = new CudaLayerForward(_ctx, _k, config, chunkTokens);
        _solve = new CudaGptq(_ctx, _k);
    }

    public override string Device => $"cuda ({_ctx.Name})";

    public override void Start(LoadedModel model, int[][] samples) => _fwd.Start(model, samples);

    /// <summary>Starts from given states, per sample [tokens, hidden] (tests).</summary>
    internal void Start(float[][] states) => _fwd.Start(states);

    public override void Load(DenseLayer layer, int ffn)
    {
        FreeHessians();
        _fwd.Load(layer, ffn);
    }

    public override void Updated(DenseLayer layer, string name) => _fwd.Upload(name, ModelQuantizer.Field(layer, name));

    public override Dictionary<LinearInput, IHessianSum> Collect(LinearInput? only)
    {
        var hs = new Dictionary<LinearInput, CudaHessian>();
        foreach (var input in Enum.GetValues<LinearInput>())
            if (only is null || only == input)
            {
                var h = new CudaHessian(_ctx, _k, _fwd.Width(input));
                _hessians.Add(h);
                hs[input] = h;
            }
        _fwd.Run(hs, only ?? LinearInput.Down);
        foreach (var h in hs.Values) h.Ready();
        return hs.ToDictionary(kv => kv.Key, kv => (IHessianSum)kv.Value);
    }

    public override void Advance() => _fwd.Run(null, null);

    public override QuantizedMatrix Gptq(IHessianSum h, double[] weight, int rows, int cols, QuantSpec spec)
        => _solve.Gptq(Gpu(h), weight, rows, cols, spec);

    public override QuantizedMatrix RoundToNearest(double[] weight, int rows, int cols, QuantSpec spec)
        => _solve.RoundToNearest(weight, rows, cols, spec);

    public override double OutputError(IHessianSum h, double[] delta, int rows) => _solve.OutputError(Gpu(h), delta, rows);

    /// <summary>The states of calibration sample <paramref name="s"/> [tokens, hidden] (tests).</summary>
    internal float[] State(int s) => _fwd.State(s);

    static CudaHessian Gpu(IHessianSum h) => h as CudaHessian ?? throw new ArgumentException("the CUDA backend takes its own Hessians", nameof(h));

    void FreeHessians()
    {
        if (_hessians.Count == 0) return;
        _ctx.Synchronize();
        foreach (var h in _hessians) h.Dispose();
        _hessians.Clear();
    }

    public override void Dispose()
    {
        FreeHessians();
        _fwd.Dispose();
        base.Dispose();
    }
}
