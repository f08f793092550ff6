namespace Quanta.Model;

/// <summary>Element type of a stored tensor.</summary>
public enum DType { F32, F16, BF16, I32, I64, I16, I8, U8, F64, Bool }

/// <summary>Element sizes and kinds of <see cref="DType"/>.</summary>
public static class DTypeInfo
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this DType t) => t switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        _ => 1,
    };

    /// <summary>True for F32, F16 and BF16: the types dense weights may use.</summary>
    public static bool IsFloat(this DType t) => t is DType.F32 or DType.F16 or DType.BF16;
}

/// <summary>
/// A tensor that lives in a memory-mapped checkpoint (or in native memory owned by the model).
/// Never copied into managed memory; valid while the owning <see cref="LoadedModel"/> lives.
/// </summary>
public sealed unsafe class TensorView
{
    public required string Name { get; init; }
    public required DType DType { get; init; }
    public required long[] Shape { get; init; }
    /// <summary>Address of the first element (row-major, contiguous).</summary>
    public required nint Data { get; init; }
    public required long ByteLength { get; init; }

    public long ElementCount { get { long n = 1; foreach (var d in Shape) n *= d; return n; } }
    public ReadOnlySpan<T> Span<T>() where T : unmanaged
        => new((void*)Data, checked((int)(ByteLength / sizeof(T))));
    public override string ToString() => $"{Name} {DType}[{string.Join(", ", Shape)}]";
}

/// <summary>A linear layer y = W x, W is [out, in].</summary>
public abstract class LinearWeights
{
    public required string Name { get; init; }
    public required int InFeatures { get; init; }
    public required int OutFeatures { get; init; }
}

/// <summary>Unquantized linear layer.</summary>
public sealed class DenseLinear : LinearWeights
{
    public required TensorView Weight { get; init; }    // [out, in] f32 | f16 | bf16
}

/// <summary>GPTQ linear layer in AutoGPTQ's "gptq" checkpoint format (see shared/fixtures/README.md).</summary>
public sealed class GptqLinear : LinearWeights
{
    public required TensorView QWeight { get; init; }   // [in/8, out] i32: row 8r+j in bits 4j..4j+3
    public required TensorView QZeros { get; init; }    // [groups, out/8] i32: stored value = zero - 1
    public required TensorView Scales { get; init; }    // [groups, out] f16
    public required int[] GIdx { get; init; }           // [in] group of each input row
    public required int Bits { get; init; }             // 4
    public required int GroupSize { get; init; }        // input rows per group (in when per-channel)
    public required bool Sym { get; init; }
    public required bool DescAct { get; init; }
    public int Groups => (int)Scales.Shape[0];
}

/// <summary>One decoder layer's tensors as the checkpoint stores them.</summary>
public sealed class LayerWeights
{
    public required TensorView AttnNorm { get; init; }  // [hidden]
    public required LinearWeights Wq { get; init; }     // [heads*head_dim, hidden]
    public required LinearWeights Wk { get; init; }     // [kv_heads*head_dim, hidden]
    public required LinearWeights Wv { get; init; }     // [kv_heads*head_dim, hidden]
    public required LinearWeights Wo { get; init; }     // [hidden, heads*head_dim]
    public required TensorView FfnNorm { get; init; }   // [hidden]
    public required LinearWeights WGate { get; init; }  // [ffn, hidden]
    public required LinearWeights WUp { get; init; }    // [ffn, hidden]
    public required LinearWeights WDown { get; init; }  // [hidden, ffn]
}

/// <summary>
/// The four distinct inputs of a decoder layer's linears (q/k/v read one, gate/up read one), where a calibration
/// forward shows them to GPTQ.
/// </summary>
public enum LinearInput { Attn, O, Mlp, Down }

/// <summary>Every tensor of a Llama checkpoint.</summary>
public sealed class LlamaWeights
{
    public required TensorView Embedding { get; init; } // [vocab, hidden]
    public required LayerWeights[] Layers { get; init; }
    public required TensorView FinalNorm { get; init; } // [hidden]
    public required LinearWeights LmHead { get; init; } // [vocab, hidden]; wraps Embedding when tied
}
