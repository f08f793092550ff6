namespace Quanta.Model;

/// <summary>How rotary embeddings pair the dimensions of a head.</summary>
public enum RopeStyle
{
    /// <summary>Hugging Face layout: pairs (i, i + head_dim/2).</summary>
    RotateHalf,
    /// <summary>Meta / llama2.c layout: pairs (2i, 2i+1).</summary>
    Interleaved,
}

/// <summary>RoPE frequency scaling from <c>config.json["rope_scaling"]</c>.</summary>
public sealed record RopeScaling(
    string Type,                 // "linear" | "llama3"
    float Factor,
    float LowFreqFactor = 1f,
    float HighFreqFactor = 4f,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>GPTQ settings of a quantized checkpoint.</summary>
public sealed record QuantizationConfig(
    string Method,               // "gptq"
    int Bits,                    // 4
    int GroupSize,               // -1 = per channel
    bool DescAct,                // act-order (permuted g_idx)
    bool Sym);

/// <summary>Architecture of a Llama-family model, whatever file it came from.</summary>
public sealed record LlamaConfig
{
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>0 = hidden_size / num_attention_heads; read <see cref="EffectiveHeadDim"/>.</summary>
    public int HeadDim { get; init; }
    /// <summary>The head dimension in use: <see cref="HeadDim"/>, or hidden_size / num_attention_heads when it is 0.</summary>
    public int EffectiveHeadDim => HeadDim > 0 ? HeadDim : HiddenSize / NumHeads;
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public float RmsNormEps { get; init; } = 1e-5f;
    public float RopeTheta { get; init; } = 10000f;
    public RopeScaling? RopeScaling { get; init; }
    public RopeStyle RopeStyle { get; init; } = RopeStyle.RotateHalf;
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];
    public QuantizationConfig? Quantization { get; init; }
    /// <summary>Chat template from tokenizer_config.json, if any (Jinja text).</summary>
    public string? ChatTemplate { get; init; }
}
