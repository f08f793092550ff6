using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// One decoder layer on the GPU: norms [hidden] f32 (AttnNormHalf: the same values in f16, or 0 where f16 cannot hold them
/// exactly) and its linears, q/k/v and gate/up fused where possible (outputs side by side, in that order).
/// </summary>
internal sealed record CudaLayerWeights(ulong AttnNorm, ulong AttnNormHalf, ulong FfnNorm, CudaLinear[] Qkv, CudaLinear O, CudaLinear[] GateUp, CudaLinear Down)
{
    public IEnumerable<CudaLinear> All => [.. Qkv, O, .. GateUp, Down];
}

/// <summary>A model's weights on the GPU: norms f32, embedding and dense layers f16, GPTQ packed as stored.</summary>
internal sealed unsafe class CudaModelWeights
{
    public readonly ulong Embedding;              // [vocab, hidden] f16
    public readonly ulong FinalNorm;              // [hidden] f32
    public readonly CudaLayerWeights[] Layers;    // [layers]
    public readonly CudaLinear LmHead;            // [vocab, hidden]
    public readonly long Bytes;

    public CudaModelWeights(DeviceArena ctx, Kernels k, LlamaConfig c, LlamaWeights w)
    {
        int hidden = c.HiddenSize;
        if (w.Embedding.Shape.Length != 2 || w.Embedding.Shape[1] != hidden || w.Embedding.Shape[0] < c.VocabSize)
            throw new ModelLoadException($"{w.Embedding.Name}: shape [{string.Join(", ", w.Embedding.Shape)}], expected [{c.VocabSize}, {hidden}]");
        Embedding = CudaLinear.UploadHalf(ctx, w.Embedding, w.Embedding.ElementCount);
        Bytes = w.Embedding.ElementCount * 2;
        var attn = w.Layers.Select(l => (l.AttnNorm.Name, Values: Values(l.AttnNorm, hidden))).ToArray();
        FinalNorm = Floats(ctx, w.FinalNorm, hidden);
        Bytes += 4L * hidden * (2 * w.Layers.Length + 1);
        Layers = new CudaLayerWeights[w.Layers.Length];
        for (int i = 0; i < w.Layers.Length; i++)
        {
            var l = w.Layers[i];
            var (name, values) = attn[i];
            ulong half = ExactHalves(ctx, values, name);
            Layers[i] = new CudaLayerWeights(ctx.Upload<float>(values, name), half, Floats(ctx, l.FfnNorm, hidden),
                Group(ctx, k, [l.Wq, l.Wk, l.Wv]), CudaLinear.Upload(ctx, k, l.Wo),
                Group(ctx, k, [l.WGate, l.WUp], siluPairs: true), CudaLinear.Upload(ctx, k, l.WDown));
            Bytes += Layers[i].All.Sum(x => x.DeviceBytes) + (half != 0 ? 2L * hidden : 0);
        }
        if (w.LmHead is DenseLinear d && d.Weight.Data == w.Embedding.Data)
            LmHead = CudaLinear.Shared(ctx, k, hidden, c.VocabSize, Embedding);
        else
        {
            LmHead = CudaLinear.Upload(ctx, k, w.LmHead);
            Bytes += LmHead.DeviceBytes;
        }
    }

    /// <summary>Every layer's linears are GPTQ on the fused path (no cuBLAS inside a captured decode step).</summary>
    public bool AllQuantized => Layers.All(l => l.All.All(x => x.IsQuantized));

    /// <summary>Bytes the decode step reads per token for weights (all layers + lm_head; embedding rows are negligible).</summary>
    public long DecodeReadBytes => Layers.Sum(l => l.All.Sum(x => x.DeviceBytes)) + 2L * LmHead.In * LmHead.Out;

    /// <summary>
    /// One fused layer when the parts can share a matrix (gate/up first with alternating runs of 8, else side by
    /// side), else one per part.
    /// </summary>
    static CudaLinear[] Group(DeviceArena mem, Kernels k, LinearWeights[] parts, bool siluPairs = false)
        => ((siluPairs ? LinearFusion.Fuse(mem, k, parts, siluPairs: true) : null) ?? LinearFusion.Fuse(mem, k, parts)) is { } f
            ? [f] : [.. parts.Select(p => CudaLinear.Upload(mem, k, p))];

    static ulong Floats(DeviceArena ctx, TensorView t, int n) => ctx.Upload<float>(Values(t, n), t.Name);

    /// <summary>The values as f16 on the device where every one converts exactly (f16 and most bf16 checkpoints), else 0.</summary>
    static ulong ExactHalves(DeviceArena ctx, float[] f, string name)
    {
        var h = new Half[f.Length];
        for (int i = 0; i < f.Length; i++)
            if ((float)(h[i] = (Half)f[i]) != f[i]) return 0;
        return ctx.Upload<Half>(h, name + " (f16)");
    }

    static float[] Values(TensorView t, int n)
    {
        if (t.ElementCount != n) throw new ModelLoadException($"{t.Name}: {t.ElementCount} elements, expected {n}");
        var f = new float[n];
        GptqFormat.ToFloat(t, 0, f);
        return f;
    }
}
