using System.Runtime.InteropServices;
using Quanta.Cpu;
using Quanta.Cpu.Kernels;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>
/// The quantizer's fp32 calibration forward on the CPU: one decoder layer over a whole sample (causal attention over
/// its tokens), run by the CPU backend's own <see cref="CpuLayer"/> with a capture on each linear input. The weights
/// are the quantizer's fp32 arrays of a <see cref="DenseLayer"/> (rotate-half q/k rows, padded FFN), read in place.
/// Not re-entrant: one sample at a time.
/// </summary>
internal sealed unsafe class DenseForward(LlamaConfig config) : IDisposable
{
    const int BlockSize = 16;
    readonly ScratchBuffer _x = new();   // [tokens, hidden] the sample's states while the layer runs
    LayerContext? _ctx;                   // one-layer KV cache for the longest sample so far
    int _ctxFfn, _ctxBlocks;
    float[][] _bound = [];                // the DenseLayer arrays the current CpuLayer reads, pinned by _pins
    GCHandle[] _pins = [];
    CpuLayer? _layer;

    /// <summary>
    /// Runs layer <paramref name="w"/> on x [tokens, hidden] in place; <paramref name="hook"/> sees each linear input
    /// [tokens, width]. Stops after <paramref name="stopAfter"/> when given (x is then left unchanged).
    /// </summary>
    public void Layer(DenseLayer w, float[] x, int tokens, int ffn, LinearCapture? hook, LinearInput? stopAfter = null)
    {
        if (x.Length < tokens * config.HiddenSize) throw new ArgumentException($"states: {x.Length} floats, need {tokens} x {config.HiddenSize}");
        if (tokens == 0) return;
        var ctx = Context(tokens, ffn);
        var layer = Bind(w, ctx);
        int blocks = (tokens + BlockSize - 1) / BlockSize;
        ctx.Begin(ForwardBatch.Of(BlockSize, new SeqTokens([.. Enumerable.Range(0, blocks)], 0, new int[tokens])));
        var states = x.AsSpan(0, tokens * config.HiddenSize);
        float* buf = _x.Get(states.Length);
        states.CopyTo(new Span<float>(buf, states.Length));
        layer.Forward(ctx, 0, buf, hook, stopAfter);
        if (stopAfter is null) new ReadOnlySpan<float>(buf, states.Length).CopyTo(states);
    }

    /// <summary>RMSNorm of each row of x [tokens, hidden] times <paramref name="weight"/>, by the CPU backend's kernel.</summary>
    public float[] RmsNorm(float[] x, int tokens, float[] weight)
    {
        int hidden = weight.Length;
        var y = new float[x.Length];
        fixed (float* px = x, pw = weight, py = y)
            for (int t = 0; t < tokens; t++) Vec.RmsNorm(px + (long)t * hidden, pw, py + (long)t * hidden, hidden, config.RmsNormEps);
        return y;
    }

    /// <summary>
    /// The layer context for this FFN width with room for <paramref name="tokens"/>: q/k rows are already in rotate-half
    /// order (see <see cref="DenseWeights.InterleavedToRotateHalf"/>), whatever the checkpoint's RoPE style.
    /// </summary>
    LayerContext Context(int tokens, int ffn)
    {
        int blocks = (tokens + BlockSize - 1) / BlockSize;
        if (_ctx is not null && _ctxFfn == ffn && _ctxBlocks >= blocks) return _ctx;
        _ctx?.Dispose();
        _layer = null;
        var c = config with { RopeStyle = RopeStyle.RotateHalf, IntermediateSize = ffn };
        _ctx = new LayerContext(c, 1, new KvCacheOptions(BlockSize, blocks), threads: 0);
        (_ctxFfn, _ctxBlocks) = (ffn, blocks);
        return _ctx;
    }

    /// <summary>A <see cref="CpuLayer"/> over the arrays of <paramref name="w"/>, rebuilt when one of them was replaced.</summary>
    CpuLayer Bind(DenseLayer w, LayerContext c)
    {
        float[][] arrays = [w.AttnNorm, w.Wq, w.Wk, w.Wv, w.Wo, w.FfnNorm, w.WGate, w.WUp, w.WDown];
        if (_layer is not null && arrays.AsSpan().SequenceEqual(_bound)) return _layer;
        Unpin();
        _pins = [.. arrays.Select(a => GCHandle.Alloc(a, GCHandleType.Pinned))];
        _bound = arrays;
        int h = c.Hidden;
        return _layer = new CpuLayer
        {
            AttnNorm = w.AttnNorm, FfnNorm = w.FfnNorm,
            Wq = Linear(w.Wq, "q_proj", c.QDim, h, c), Wk = Linear(w.Wk, "k_proj", c.KvDim, h, c), Wv = Linear(w.Wv, "v_proj", c.KvDim, h, c),
            Wo = Linear(w.Wo, "o_proj", h, c.QDim, c),
            WGate = Linear(w.WGate, "gate_proj", c.Ffn, h, c), WUp = Linear(w.WUp, "up_proj", c.Ffn, h, c), WDown = Linear(w.WDown, "down_proj", h, c.Ffn, c),
        };
    }

    /// <summary>The CPU backend's fp32 linear over <paramref name="w"/> [rows, cols] (pinned by <see cref="Bind"/>).</summary>
    static CpuLinear Linear(float[] w, string name, int rows, int cols, LayerContext c)
    {
        if (w.Length != rows * cols) throw new ArgumentException($"{name}: {w.Length} weights, expected [{rows}, {cols}]");
        var view = new TensorView
        {
            Name = name, DType = DType.F32, Shape = [rows, cols],
            Data = (nint)Marshal.UnsafeAddrOfPinnedArrayElement(w, 0), ByteLength = (long)w.Length * sizeof(float),
        };
        return CpuLinear.Create(new DenseLinear { Name = name, InFeatures = cols, OutFeatures = rows, Weight = view }, c.Gather);
    }

    void Unpin()
    {
        foreach (var p in _pins) p.Free();
        _pins = [];
        _bound = [];
    }

    public void Dispose()
    {
        Unpin();
        _layer = null;
        _ctx?.Dispose();
        _ctx = null;
    }
}
