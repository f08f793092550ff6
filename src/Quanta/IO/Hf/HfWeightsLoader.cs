using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.IO.Hf;

/// <summary>Maps Hugging Face Llama tensor names onto <see cref="LlamaWeights"/>, checking every shape and dtype.</summary>
internal static class HfWeightsLoader
{
    public static LlamaWeights Load(SafetensorsCheckpoint ck, LlamaConfig c)
    {
        int h = c.HiddenSize, q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim, ffn = c.IntermediateSize;
        var embedding = Float(ck, "model.embed_tokens.weight", c.VocabSize, h);
        var layers = new LayerWeights[c.NumLayers];
        for (int l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            layers[l] = new LayerWeights
            {
                AttnNorm = Float(ck, p + "input_layernorm.weight", h),
                Wq = Linear(ck, c, p + "self_attn.q_proj", q, h),
                Wk = Linear(ck, c, p + "self_attn.k_proj", kv, h),
                Wv = Linear(ck, c, p + "self_attn.v_proj", kv, h),
                Wo = Linear(ck, c, p + "self_attn.o_proj", h, q),
                FfnNorm = Float(ck, p + "post_attention_layernorm.weight", h),
                WGate = Linear(ck, c, p + "mlp.gate_proj", ffn, h),
                WUp = Linear(ck, c, p + "mlp.up_proj", ffn, h),
                WDown = Linear(ck, c, p + "mlp.down_proj", h, ffn),
            };
        }
        LinearWeights lmHead = c.TieWordEmbeddings
            ? new DenseLinear { Name = embedding.Name, InFeatures = h, OutFeatures = c.VocabSize, Weight = embedding }
            : Linear(ck, c, "lm_head", c.VocabSize, h);
        return new LlamaWeights { Embedding = embedding, Layers = layers, FinalNorm = Float(ck, "model.norm.weight", h), LmHead = lmHead };
    }

    /// <summary>A float tensor (f32/f16/bf16) of exactly <paramref name="shape"/>.</summary>
    static TensorView Float(SafetensorsCheckpoint ck, string name, params long[] shape)
    {
        var t = ck.Get(name);
        if (!DTypeInfo.IsFloat(t.DType))
            throw new ModelLoadException($"{ck.FileOf(name)}: tensor {name} has dtype {DTypes.Name(t.DType)}, expected F32, F16 or BF16");
        CheckShape(ck, t, shape);
        return t;
    }

    static void CheckShape(SafetensorsCheckpoint ck, TensorView t, long[] shape)
    {
        if (!t.Shape.AsSpan().SequenceEqual(shape))
            throw new ModelLoadException($"{ck.FileOf(t.Name)}: tensor {t.Name} has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", shape)}]");
    }

    static LinearWeights Linear(SafetensorsCheckpoint ck, LlamaConfig c, string prefix, int outF, int inF)
    {
        CheckNoBias(ck, prefix + ".bias");
        if (!ck.Contains(prefix + ".qweight"))
            return new DenseLinear { Name = prefix, InFeatures = inF, OutFeatures = outF, Weight = Float(ck, prefix + ".weight", outF, inF) };
        if (c.Quantization is not { } qc)
            throw new ModelLoadException($"{ck.FileOf(prefix + ".qweight")}: tensor {prefix}.qweight is quantized but the checkpoint has no quantization settings");
        return Gptq(ck, qc, prefix, outF, inF);
    }

    static GptqLinear Gptq(SafetensorsCheckpoint ck, QuantizationConfig qc, string prefix, int outF, int inF)
    {
        var qweight = ck.Get(prefix + ".qweight");
        var file = ck.FileOf(qweight.Name);
        if (qweight.Shape is [var r, var cols] && r == inF && cols * 8 == outF && inF % 8 == 0 && r != inF / 8)
            throw new ModelLoadException($"{file}: tensor {qweight.Name} is packed along the output dimension (AWQ layout), which is not supported (only GPTQ)");
        if (inF % 8 != 0 || outF % 8 != 0)
            throw new ModelLoadException($"{file}: tensor {qweight.Name}: GPTQ 4-bit needs in ({inF}) and out ({outF}) features divisible by 8");
        int group = qc.GroupSize == -1 ? inF : qc.GroupSize;
        if (inF % group != 0)
            throw new ModelLoadException($"{file}: tensor {qweight.Name}: group_size {group} does not divide in-features {inF}");
        int groups = inF / group;
        var qzeros = ck.Get(prefix + ".qzeros");
        var scales = ck.Get(prefix + ".scales");
        CheckDType(ck, qweight, DType.I32); CheckShape(ck, qweight, [inF / 8, outF]);
        CheckDType(ck, qzeros, DType.I32); CheckShape(ck, qzeros, [groups, outF / 8]);
        CheckDType(ck, scales, DType.F16); CheckShape(ck, scales, [groups, outF]);
        var gIdx = ReadGIdx(ck, prefix + ".g_idx", inF, group, groups);
        bool sequential = true;
        for (int i = 0; i < inF && sequential; i++) sequential = gIdx[i] == i / group;
        return new GptqLinear
        {
            Name = prefix, InFeatures = inF, OutFeatures = outF,
            QWeight = qweight, QZeros = qzeros, Scales = scales, GIdx = gIdx,
            Bits = 4, GroupSize = group, Sym = qc.Sym,
            DescAct = qc.DescAct || !sequential,     // kernels may take the i / group shortcut only when false
        };
    }

    static int[] ReadGIdx(SafetensorsCheckpoint ck, string name, int inF, int group, int groups)
    {
        var g = new int[inF];
        if (!ck.TryGet(name, out var t))
        {
            for (int i = 0; i < inF; i++) g[i] = i / group;
            return g;
        }
        CheckShape(ck, t, [inF]);
        if (t.DType == DType.I32) t.Span<int>().CopyTo(g);
        else if (t.DType == DType.I64) { var s = t.Span<long>(); for (int i = 0; i < inF; i++) g[i] = (int)Math.Clamp(s[i], -1, int.MaxValue); }
        else CheckDType(ck, t, DType.I32);
        foreach (var v in g)
            if ((uint)v >= (uint)groups)
                throw new ModelLoadException($"{ck.FileOf(name)}: tensor {name} holds group {v}, outside 0..{groups - 1}");
        return g;
    }

    static void CheckDType(SafetensorsCheckpoint ck, TensorView t, DType want)
    {
        if (t.DType != want)
            throw new ModelLoadException($"{ck.FileOf(t.Name)}: tensor {t.Name} has dtype {DTypes.Name(t.DType)}, expected {DTypes.Name(want)}");
    }

    /// <summary>AutoGPTQ may store all-zero biases; any non-zero bias is unsupported.</summary>
    static void CheckNoBias(SafetensorsCheckpoint ck, string name)
    {
        if (!ck.TryGet(name, out var t)) return;
        bool zero = t.DType switch
        {
            DType.F16 or DType.BF16 => !t.Span<ushort>().ContainsAnyExcept((ushort)0, (ushort)0x8000),
            DType.F32 => !t.Span<uint>().ContainsAnyExcept(0u, 0x80000000u),
            _ => false,
        };
        if (!zero) throw new ModelLoadException($"{ck.FileOf(name)}: tensor {name}: linear biases are not supported");
    }
}
