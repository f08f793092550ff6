using System.Text.Json;
using System.Text.Json.Nodes;
using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>Writes a quantized model as an AutoGPTQ "gptq" checkpoint folder (model.safetensors + configs + tokenizer).</summary>
public static class GptqCheckpointWriter
{
    static readonly string[] LinearNames =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];
    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(string dir, LoadedModel model, QuantizedModel q, QuantizeOptions opt, Action<string> log)
    {
        Directory.CreateDirectory(dir);
        var c = model.Config;
        var specs = new List<TensorSpec>();
        var fills = new List<Action<SafetensorsWriter>>();
        void Add(string name, DType dt, long[] shape, Action<SafetensorsWriter, string> fill)
        {
            specs.Add(new TensorSpec(name, dt, shape));
            fills.Add(w => fill(w, name));
        }
        void AddHalf(string name, TensorView t)
            => Add(name, DType.F16, t.Shape, (w, n) => w.Write<Half>(n, ToHalf(DenseWeights.ToFloat(t))));

        AddHalf("model.embed_tokens.weight", model.Weights.Embedding);
        for (int i = 0; i < c.NumLayers; i++)
        {
            var l = model.Weights.Layers[i];
            AddHalf($"model.layers.{i}.input_layernorm.weight", l.AttnNorm);
            foreach (var n in LinearNames)
            {
                var m = q.Linears[$"model.layers.{i}.{n}"];
                string p = $"model.layers.{i}.{n}";
                Add(p + ".qweight", DType.I32, [m.Columns / 8, m.Rows], (w, s) => w.Write<int>(s, GptqFormat.PackQWeight(InOut(m), m.Columns, m.Rows)));
                Add(p + ".qzeros", DType.I32, [m.Groups, m.Rows / 8], (w, s) => w.Write<int>(s, GptqFormat.PackQZeros(StoredZeros(m), m.Groups, m.Rows)));
                Add(p + ".scales", DType.F16, [m.Groups, m.Rows], (w, s) => w.Write<Half>(s, ToHalf(m.Scales)));
                Add(p + ".g_idx", DType.I32, [m.Columns], (w, s) => w.Write<int>(s, m.GIdx));
            }
            AddHalf($"model.layers.{i}.post_attention_layernorm.weight", l.FfnNorm);
        }
        AddHalf("model.norm.weight", model.Weights.FinalNorm);
        if (!c.TieWordEmbeddings)
        {
            if (model.Weights.LmHead is not DenseLinear head) throw new InvalidOperationException($"{model.Path}: lm_head is quantized");
            Add("lm_head.weight", DType.F16, head.Weight.Shape, (w, n) => w.Write<Half>(n, ToHalf(DenseWeights.ToFloat(head.Weight))));
        }
        using (var st = new SafetensorsWriter(Path.Combine(dir, "model.safetensors"), specs, new Dictionary<string, string> { ["format"] = "pt" }))
            foreach (var fill in fills) fill(st);

        var qc = QuantizeConfig(opt);
        File.WriteAllText(Path.Combine(dir, "quantize_config.json"), qc.ToJsonString(Indented));
        var config = ConfigJson(model, q.PaddedIntermediate);
        config["quantization_config"] = qc.DeepClone();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(Indented));
        CheckpointFiles.CopyTokenizer(model, dir, log);
    }

    /// <summary>quantize_config.json as AutoGPTQ writes it.</summary>
    public static JsonObject QuantizeConfig(QuantizeOptions opt) => new()
    {
        ["bits"] = opt.Spec.Bits,
        ["group_size"] = opt.Spec.GroupSize <= 0 ? -1 : opt.Spec.GroupSize,
        ["damp_percent"] = opt.Spec.Damp,
        ["desc_act"] = opt.Gptq && opt.Spec.ActOrder,
        ["static_groups"] = opt.Gptq && opt.Spec.StaticGroups,
        ["sym"] = opt.Spec.Sym,
        ["true_sequential"] = opt.TrueSequential,
        ["model_name_or_path"] = null,
        ["model_file_base_name"] = "model",
        ["quant_method"] = "gptq",
        ["checkpoint_format"] = "gptq",
    };

    /// <summary>config.json: the input's own (HF) or one built from the architecture (llama2.c), in HF terms.</summary>
    static JsonObject ConfigJson(LoadedModel model, int intermediate)
    {
        var c = model.Config;
        var src = Path.Combine(model.Path, "config.json");
        var o = Directory.Exists(model.Path) && File.Exists(src) ? (JsonNode.Parse(File.ReadAllText(src)) as JsonObject ?? []) : [];
        o["architectures"] ??= new JsonArray("LlamaForCausalLM");
        o["model_type"] ??= "llama";
        o["hidden_size"] = c.HiddenSize;
        o["intermediate_size"] = intermediate;
        o["num_hidden_layers"] = c.NumLayers;
        o["num_attention_heads"] = c.NumHeads;
        o["num_key_value_heads"] = c.NumKvHeads;
        if (c.HeadDim > 0 && c.HeadDim != c.HiddenSize / c.NumHeads) o["head_dim"] = c.HeadDim;
        o["vocab_size"] = c.VocabSize;
        o["max_position_embeddings"] = c.MaxPositionEmbeddings;
        o["rms_norm_eps"] = c.RmsNormEps;
        o["rope_theta"] = c.RopeTheta;
        o["hidden_act"] ??= "silu";
        o["tie_word_embeddings"] = c.TieWordEmbeddings;
        o["bos_token_id"] ??= c.BosTokenId;
        o["eos_token_id"] ??= c.EosTokenIds.Count == 1 ? c.EosTokenIds[0] : new JsonArray(c.EosTokenIds.Select(e => (JsonNode)e).ToArray());
        o["torch_dtype"] = "float16";
        o.Remove("quantization_config");
        return o;
    }

    /// <summary>Q as [in, out] (the packing order).</summary>
    static byte[] InOut(QuantizedMatrix m)
    {
        var t = new byte[m.Q.Length];
        for (int o = 0; o < m.Rows; o++)
            for (int i = 0; i < m.Columns; i++) t[i * m.Rows + o] = m.Q[o * m.Columns + i];
        return t;
    }

    static byte[] StoredZeros(QuantizedMatrix m) => Array.ConvertAll(m.Zeros, z => (byte)(z - 1));

    static Half[] ToHalf(float[] x) => Array.ConvertAll(x, v => (Half)v);
}
