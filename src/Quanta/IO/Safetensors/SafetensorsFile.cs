using System.Text.Json;
using Quanta.Model;

namespace Quanta.IO.Safetensors;

/// <summary>
/// One memory-mapped .safetensors file. Tensors are <see cref="TensorView"/>s pointing into the map;
/// nothing is copied. Valid until disposed.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    readonly MappedFile _file;
    readonly Dictionary<string, TensorView> _tensors;

    public string Path { get; }
    /// <summary>The header's <c>__metadata__</c> (string to string), empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, TensorView> Tensors => _tensors;

    SafetensorsFile(string path, MappedFile file, Dictionary<string, TensorView> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _file = file; _tensors = tensors; Metadata = metadata;
    }

    /// <summary>Maps <paramref name="path"/> and validates its header.</summary>
    /// <exception cref="ModelLoadException">truncated file, bad header, unknown dtype (message names the file).</exception>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{path}: file not found");
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 8) throw new ModelLoadException($"{path}: truncated safetensors file ({fileLength} bytes, no header)");

        var file = new MappedFile(path);
        try
        {
            byte* basePtr = (byte*)file.Base;
            ulong headerLength = *(ulong*)basePtr;
            if (headerLength > (ulong)(fileLength - 8))
                throw new ModelLoadException($"{path}: truncated safetensors file (header says {headerLength} bytes, file has {fileLength - 8} after the length)");
            if (headerLength > 100_000_000)
                throw new ModelLoadException($"{path}: safetensors header of {headerLength} bytes exceeds the 100 MB limit (corrupt file?)");
            long dataStart = 8 + (long)headerLength;
            var header = new ReadOnlySpan<byte>(basePtr + 8, (int)headerLength);
            var (tensors, metadata) = ParseHeader(path, header, (nint)(basePtr + dataStart), fileLength - dataStart);
            return new SafetensorsFile(path, file, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static (Dictionary<string, TensorView>, Dictionary<string, string>) ParseHeader(
        string path, ReadOnlySpan<byte> header, nint data, long dataLength)
    {
        var tensors = new Dictionary<string, TensorView>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header.ToArray()); }
        catch (JsonException e) { throw new ModelLoadException($"{path}: header is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{path}: header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in prop.Value.EnumerateObject()) metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                tensors[prop.Name] = ParseEntry(path, prop.Name, prop.Value, data, dataLength);
            }
        }
        return (tensors, metadata);
    }

    static TensorView ParseEntry(string path, string name, JsonElement e, nint data, long dataLength)
    {
        try
        {
            var dtypeName = e.GetProperty("dtype").GetString() ?? "";
            if (!DTypes.TryParse(dtypeName, out var dtype))
                throw new ModelLoadException($"{path}: tensor {name}: unsupported dtype {dtypeName}");
            var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var offsets = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || shape.Any(d => d < 0))
                throw new ModelLoadException($"{path}: tensor {name}: bad shape or data_offsets");
            long elements = 1;
            foreach (var d in shape) elements = checked(elements * d);
            long bytes = offsets[1] - offsets[0];
            if (bytes != elements * DTypeInfo.Size(dtype))
                throw new ModelLoadException($"{path}: tensor {name}: data_offsets span {bytes} bytes but {dtypeName}[{string.Join(", ", shape)}] needs {elements * DTypeInfo.Size(dtype)}");
            if (offsets[1] > dataLength)
                throw new ModelLoadException($"{path}: truncated safetensors file (tensor {name} ends at byte {offsets[1]} of the data, file holds {dataLength})");
            return new TensorView { Name = name, DType = dtype, Shape = shape, Data = data + (nint)offsets[0], ByteLength = bytes };
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new ModelLoadException($"{path}: tensor {name}: malformed header entry ({ex.Message})");
        }
    }

    public void Dispose() => _file.Dispose();
}
