using Quanta.Model;

namespace Quanta.IO.Safetensors;

/// <summary>Safetensors dtype names (element sizes: <see cref="DTypeInfo"/>).</summary>
public static class DTypes
{
    /// <summary>The name safetensors headers use ("F16", "BF16", "BOOL", ...).</summary>
    public static string Name(DType t) => t == DType.Bool ? "BOOL" : t.ToString().ToUpperInvariant();

    /// <summary>Parses a header dtype name; false for names Quanta does not read (e.g. F8_E4M3).</summary>
    public static bool TryParse(string name, out DType t)
    {
        switch (name)
        {
            case "F32": t = DType.F32; return true;
            case "F16": t = DType.F16; return true;
            case "BF16": t = DType.BF16; return true;
            case "I32": t = DType.I32; return true;
            case "I64": t = DType.I64; return true;
            case "I16": t = DType.I16; return true;
            case "I8": t = DType.I8; return true;
            case "U8": t = DType.U8; return true;
            case "F64": t = DType.F64; return true;
            case "BOOL": t = DType.Bool; return true;
            default: t = default; return false;
        }
    }
}
