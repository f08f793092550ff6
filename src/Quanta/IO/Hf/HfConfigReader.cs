using System.Text.Json;
using Quanta.Model;

namespace Quanta.IO.Hf;

/// <summary>Reads config.json, generation_config.json and tokenizer_config.json of a Hugging Face folder.</summary>
public static class HfConfigReader
{
    static readonly string[] SupportedModelTypes = ["llama", "mistral"];

    /// <summary>The architecture (without quantization settings) and sampling defaults of <paramref name="dir"/>.</summary>
    /// <exception cref="ModelLoadException">a missing or invalid field, or a feature Quanta does not support (named).</exception>
    public static (LlamaConfig Config, GenerationDefaults Defaults) Read(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) throw new ModelLoadException($"{path}: not found (not a Hugging Face model folder)");
        var c = JsonFile.Read(path);

        var modelType = c.StringOr("model_type", null) ?? throw c.Error("model_type", "is required");
        if (!SupportedModelTypes.Contains(modelType))
            throw c.Error("model_type", $"'{modelType}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})");
        var act = c.StringOr("hidden_act", null) ?? c.StringOr("hidden_activation", "silu")!;
        if (act != "silu") throw c.Error("hidden_act", $"'{act}' is not supported (only silu)");
        if (c.BoolOr("attention_bias", false) == true) throw c.Error("attention_bias", "true is not supported");
        if (c.BoolOr("mlp_bias", false) == true) throw c.Error("mlp_bias", "true is not supported");

        int hidden = Positive(c, "hidden_size");
        int heads = Positive(c, "num_attention_heads");
        int kvHeads = c.IntOr("num_key_value_heads", heads)!.Value;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw c.Error("num_key_value_heads", $"{kvHeads} must divide num_attention_heads {heads}");
        int headDim = c.IntOr("head_dim", null) ?? (hidden % heads == 0 ? hidden / heads : throw c.Error("hidden_size", $"{hidden} is not a multiple of num_attention_heads {heads}"));
        if (headDim <= 0 || headDim % 2 != 0) throw c.Error("head_dim", $"{headDim} must be positive and even");
        int maxPos = c.IntOr("max_position_embeddings", 2048)!.Value;
        if (c.IntOr("sliding_window", null) is { } window && window < maxPos) maxPos = window;   // exact within the window

        var eos = c.IntList("eos_token_id");
        int bos = c.IntOr("bos_token_id", 1)!.Value;
        var defaults = new GenerationDefaults();
        if (JsonFile.TryRead(Path.Combine(dir, "generation_config.json")) is { } g)
        {
            foreach (var id in g.IntList("eos_token_id")) if (!eos.Contains(id)) eos.Add(id);
            bos = g.IntOr("bos_token_id", bos)!.Value;
            bool sample = g.BoolOr("do_sample", false)!.Value;   // as in transformers: without do_sample these are ignored
            defaults = new GenerationDefaults(sample ? g.FloatOr("temperature", null) : null, sample ? g.FloatOr("top_p", null) : null,
                                              sample ? g.IntOr("top_k", null) : null, g.FloatOr("repetition_penalty", null));
        }
        if (eos.Count == 0) eos.Add(2);

        var config = new LlamaConfig
        {
            HiddenSize = hidden,
            IntermediateSize = Positive(c, "intermediate_size"),
            NumLayers = Positive(c, "num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            VocabSize = Positive(c, "vocab_size"),
            HeadDim = headDim,
            MaxPositionEmbeddings = maxPos,
            RmsNormEps = c.FloatOr("rms_norm_eps", 1e-6f)!.Value,
            RopeTheta = c.FloatOr("rope_theta", 10000f)!.Value,
            RopeScaling = ReadRopeScaling(c),
            RopeStyle = RopeStyle.RotateHalf,
            TieWordEmbeddings = c.BoolOr("tie_word_embeddings", false)!.Value,
            BosTokenId = bos,
            EosTokenIds = eos,
            ChatTemplate = ReadChatTemplate(dir),
        };
        return (config, defaults);
    }

    static int Positive(JsonFile c, string key)
    {
        int v = c.Int(key);
        return v > 0 ? v : throw c.Error(key, $"must be positive, got {v}");
    }

    static RopeScaling? ReadRopeScaling(JsonFile c)
    {
        if (c.Get("rope_scaling") is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Object) throw c.Error("rope_scaling", "must be an object");
        var s = c.Sub(e);
        var type = s.StringOr("rope_type", null) ?? s.StringOr("type", null) ?? throw c.Error("rope_scaling", "has no type");
        float factor = s.FloatOr("factor", 1f)!.Value;
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling("linear", factor),
            "llama3" => new RopeScaling("llama3", factor, s.FloatOr("low_freq_factor", 1f)!.Value,
                                        s.FloatOr("high_freq_factor", 4f)!.Value,
                                        s.IntOr("original_max_position_embeddings", 8192)!.Value),
            _ => throw c.Error("rope_scaling", $"type '{type}' is not supported (supported: linear, llama3)"),
        };
    }

    /// <summary>chat_template from tokenizer_config.json (a string, or a list of named templates: "default" or the first), else chat_template.jinja.</summary>
    static string? ReadChatTemplate(string dir)
    {
        if (JsonFile.TryRead(Path.Combine(dir, "tokenizer_config.json")) is { } t && t.Get("chat_template") is not null)
        {
            try { return Templates.ChatTemplateSource.FromTokenizerConfig(t.Root, null); }
            catch (InvalidDataException) { throw t.Error("chat_template", "must be a string or a list of {name, template}"); }
        }
        var jinja = Path.Combine(dir, "chat_template.jinja");
        return File.Exists(jinja) ? File.ReadAllText(jinja) : null;
    }
}
