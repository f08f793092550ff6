using Quanta.Model;

namespace Quanta.IO.Llama2c;

/// <summary>Lays the llama2.c f32 weight blocks out as <see cref="TensorView"/>s over the mapped file.</summary>
internal static class Llama2cWeights
{
    public static LlamaWeights Build(Llama2cHeader h, nint data, long dataLength, string path)
    {
        long L = h.Layers, dim = h.Dim, kvDim = h.KvDim, hid = h.HiddenDim, vocab = h.Vocab;
        long offset = 0;
        TensorView Take(string name, params long[] shape)
        {
            long n = 1;
            foreach (var d in shape) n = checked(n * d);
            long bytes = checked(n * 4);
            if (offset + bytes > dataLength)
                throw new ModelLoadException($"{path}: truncated llama2.c checkpoint ({name} ends at byte {28 + offset + bytes}, file has {28 + dataLength})");
            var t = new TensorView { Name = name, DType = DType.F32, Shape = shape, Data = data + (nint)offset, ByteLength = bytes };
            offset += bytes;
            return t;
        }

        var embedding = Take("model.embed_tokens.weight", vocab, dim);
        var rmsAtt = Take("rms_att_weight", L, dim);        // [L, dim]
        var wq = Take("wq", L, dim, dim);                   // [L, dim, dim]
        var wk = Take("wk", L, kvDim, dim);                 // [L, kv_dim, dim]
        var wv = Take("wv", L, kvDim, dim);                 // [L, kv_dim, dim]
        var wo = Take("wo", L, dim, dim);                   // [L, dim, dim]
        var rmsFfn = Take("rms_ffn_weight", L, dim);        // [L, dim]
        var w1 = Take("w1", L, hid, dim);                   // [L, hidden, dim]
        var w2 = Take("w2", L, dim, hid);                   // [L, dim, hidden]
        var w3 = Take("w3", L, hid, dim);                   // [L, hidden, dim]
        var finalNorm = Take("model.norm.weight", dim);
        Take("freq_cis", 2, h.SeqLen, h.HeadSize / 2);       // precomputed RoPE tables: recomputed by the runners
        var wcls = h.Shared ? embedding : Take("lm_head.weight", vocab, dim);

        var layers = new LayerWeights[h.Layers];
        for (int l = 0; l < h.Layers; l++)
        {
            var p = $"model.layers.{l}.";
            layers[l] = new LayerWeights
            {
                AttnNorm = Slice(rmsAtt, l, p + "input_layernorm.weight"),
                Wq = Dense(Slice(wq, l, p + "self_attn.q_proj.weight")),
                Wk = Dense(Slice(wk, l, p + "self_attn.k_proj.weight")),
                Wv = Dense(Slice(wv, l, p + "self_attn.v_proj.weight")),
                Wo = Dense(Slice(wo, l, p + "self_attn.o_proj.weight")),
                FfnNorm = Slice(rmsFfn, l, p + "post_attention_layernorm.weight"),
                WGate = Dense(Slice(w1, l, p + "mlp.gate_proj.weight")),
                WDown = Dense(Slice(w2, l, p + "mlp.down_proj.weight")),
                WUp = Dense(Slice(w3, l, p + "mlp.up_proj.weight")),
            };
        }
        return new LlamaWeights { Embedding = embedding, Layers = layers, FinalNorm = finalNorm, LmHead = Dense(wcls) };
    }

    /// <summary>Layer <paramref name="l"/> of a [L, ...] block.</summary>
    static TensorView Slice(TensorView block, int l, string name)
    {
        long bytes = block.ByteLength / block.Shape[0];
        return new TensorView { Name = name, DType = block.DType, Shape = block.Shape[1..], Data = block.Data + (nint)(bytes * l), ByteLength = bytes };
    }

    static DenseLinear Dense(TensorView w) => new()
    {
        Name = w.Name.EndsWith(".weight", StringComparison.Ordinal) ? w.Name[..^7] : w.Name,
        OutFeatures = (int)w.Shape[0], InFeatures = (int)w.Shape[1], Weight = w,
    };
}
