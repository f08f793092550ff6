using System.Runtime.CompilerServices;
using Quanta.Cpu.Kernels;
using Quanta.Model;

namespace Quanta.Cpu;

/// <summary>Sees x [tokens, width], the input of the linears at <paramref name="at"/> (GPTQ builds its Hessians from it).</summary>
internal delegate void LinearCapture(LinearInput at, ReadOnlySpan<float> x);

/// <summary>
/// One Llama decoder layer on the CPU, llama2.c's transformer block: x += Wo · attention(RoPE(Wq · norm(x)), ...)
/// over the paged KV cache, then x += WDown · (silu(WGate · norm(x)) * WUp · norm(x)). The inference runner and the
/// quantizer's calibration forward both run it; the calibration observes each linear's input through a capture.
/// </summary>
internal sealed unsafe class CpuLayer
{
    public required float[] AttnNorm { get; init; }  // [hidden]
    public required CpuLinear Wq { get; init; }      // [heads*head_dim, hidden]
    public required CpuLinear Wk { get; init; }      // [kv_heads*head_dim, hidden]
    public required CpuLinear Wv { get; init; }      // [kv_heads*head_dim, hidden]
    public required CpuLinear Wo { get; init; }      // [hidden, heads*head_dim]
    public required float[] FfnNorm { get; init; }   // [hidden]
    public required CpuLinear WGate { get; init; }   // [ffn, hidden]
    public required CpuLinear WUp { get; init; }     // [ffn, hidden]
    public required CpuLinear WDown { get; init; }   // [hidden, ffn]

    /// <summary>A checkpoint layer in the CPU backend's layout (norms in fp32, linears read in place or repacked).</summary>
    public static CpuLayer Create(LayerWeights l, int hidden, ScratchBuffer gather) => new()
    {
        AttnNorm = Floats(l.AttnNorm, hidden),
        Wq = CpuLinear.Create(l.Wq, gather),
        Wk = CpuLinear.Create(l.Wk, gather),
        Wv = CpuLinear.Create(l.Wv, gather),
        Wo = CpuLinear.Create(l.Wo, gather),
        FfnNorm = Floats(l.FfnNorm, hidden),
        WGate = CpuLinear.Create(l.WGate, gather),
        WUp = CpuLinear.Create(l.WUp, gather),
        WDown = CpuLinear.Create(l.WDown, gather),
    };

    /// <summary>
    /// Runs the layer on x [tokens, hidden] of the step <paramref name="c"/> began, writing its K/V rows into the cache's
    /// layer <paramref name="layer"/>. <paramref name="capture"/> sees each linear input; with <paramref name="stopAfter"/>
    /// the layer ends once that input is captured (x is then unchanged unless the stop is past the attention block).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(LayerContext c, int layer, float* x, LinearCapture? capture = null, LinearInput? stopAfter = null)
    {
        int T = c.Tokens, hidden = c.Hidden, qDim = c.QDim, kvDim = c.KvDim, ffn = c.Ffn, half = c.HeadDim / 2;
        var b = c.Batch;
        var pool = c.Pool;
        float* norm = c.Norm, o = c.O, q = c.Q, att = c.Att, k = c.K, v = c.V, gate = c.Gate, up = c.Up;

        fixed (float* nw = AttnNorm)
            for (int t = 0; t < T; t++) Vec.RmsNorm(x + (long)t * hidden, nw, norm + (long)t * hidden, hidden, c.Eps);
        if (Captured(capture, LinearInput.Attn, norm, T, hidden, stopAfter)) return;
        Wq.Forward(norm, q, T, pool);
        Wk.Forward(norm, k, T, pool);
        Wv.Forward(norm, v, T, pool);
        for (int t = 0; t < T; t++)
        {
            c.Rope.Apply(q + (long)t * qDim, c.Heads, c.Cos + t * half, c.Sin + t * half);
            c.Rope.Apply(k + (long)t * kvDim, c.KvHeads, c.Cos + t * half, c.Sin + t * half);
            int slot = b.SlotMapping[t];
            new ReadOnlySpan<float>(k + (long)t * kvDim, kvDim).CopyTo(new Span<float>(c.Cache.K(layer, slot), kvDim));
            new ReadOnlySpan<float>(v + (long)t * kvDim, kvDim).CopyTo(new Span<float>(c.Cache.V(layer, slot), kvDim));
        }
        c.Attention.Run(b, c.SeqOf, layer, q, att, pool);
        if (Captured(capture, LinearInput.O, att, T, qDim, stopAfter)) return;
        Wo.Forward(att, o, T, pool);
        Vec.Add(x, o, T * hidden);

        fixed (float* nw = FfnNorm)
            for (int t = 0; t < T; t++) Vec.RmsNorm(x + (long)t * hidden, nw, norm + (long)t * hidden, hidden, c.Eps);
        if (Captured(capture, LinearInput.Mlp, norm, T, hidden, stopAfter)) return;
        WGate.Forward(norm, gate, T, pool);
        WUp.Forward(norm, up, T, pool);
        for (int t = 0; t < T; t++) VecMath.SwiGlu(gate + (long)t * ffn, up + (long)t * ffn, ffn);
        if (Captured(capture, LinearInput.Down, gate, T, ffn, stopAfter)) return;
        WDown.Forward(gate, o, T, pool);
        Vec.Add(x, o, T * hidden);
    }

    /// <summary>Shows x [tokens, width] to the capture; whether the layer stops here.</summary>
    static bool Captured(LinearCapture? capture, LinearInput at, float* x, int tokens, int width, LinearInput? stopAfter)
    {
        capture?.Invoke(at, new ReadOnlySpan<float>(x, tokens * width));
        return stopAfter == at;
    }

    /// <summary>A norm weight as fp32.</summary>
    public static float[] Floats(TensorView t, int n)
    {
        if (t.ElementCount != n) throw new ModelLoadException($"{t.Name}: {t.ElementCount} elements, expected {n}");
        var r = new float[n];
        fixed (float* p = r) Vec.ToFloat(t.DType, (void*)t.Data, p, n);
        return r;
    }
}
