using System.Runtime.InteropServices;
using System.Text.Json;
using Quanta.Model;

namespace Quanta.IO.Safetensors;

/// <summary>Name, dtype and shape of a tensor to be written.</summary>
public sealed record TensorSpec(string Name, DType DType, long[] Shape)
{
    public long ByteLength => Shape.Aggregate(1L, (a, d) => checked(a * d)) * DTypeInfo.Size(DType);
}

/// <summary>
/// Streams a .safetensors file: the header is written from the declared specs, then each tensor's
/// bytes in the declared order with <see cref="Write"/>. Dispose closes the file; a file left
/// incomplete (not every tensor written, e.g. after an exception) is deleted.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    readonly FileStream _stream;
    readonly IReadOnlyList<TensorSpec> _specs;
    readonly string _path;
    int _next;
    bool _disposed;

    /// <param name="metadata">written as <c>__metadata__</c> (e.g. format = pt).</param>
    public SafetensorsWriter(string path, IReadOnlyList<TensorSpec> specs, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in specs)
            if (s.Name == "__metadata__" || !names.Add(s.Name)) throw new ArgumentException($"{path}: duplicate or reserved tensor name {s.Name}");
        _path = path;
        _specs = specs;
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var header = BuildHeader(specs, metadata);
        Span<byte> len = stackalloc byte[8];
        BitConverter.TryWriteBytes(len, (ulong)header.Length);
        _stream.Write(len);
        _stream.Write(header);
    }

    static byte[] BuildHeader(IReadOnlyList<TensorSpec> specs, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var s in specs)
            {
                w.WriteStartObject(s.Name);
                w.WriteString("dtype", DTypes.Name(s.DType));
                w.WriteStartArray("shape");
                foreach (var d in s.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += s.ByteLength;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);    // data starts 8-byte aligned
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    /// <summary>Writes the next declared tensor's bytes (the whole tensor, or use <see cref="WriteChunk"/>).</summary>
    public void Write(string name, ReadOnlySpan<byte> bytes)
    {
        var spec = Expect(name);
        if (bytes.Length != spec.ByteLength)
            throw new ArgumentException($"{_path}: tensor {name}: got {bytes.Length} bytes, declared {spec.ByteLength}");
        _stream.Write(bytes);
        _next++;
    }

    /// <summary>Writes the next declared tensor from typed elements.</summary>
    public void Write<T>(string name, ReadOnlySpan<T> values) where T : unmanaged
        => Write(name, MemoryMarshal.AsBytes(values));

    /// <summary>Writes the next declared tensor piece by piece (e.g. row blocks); <paramref name="fill"/> is called with a sink.</summary>
    public void WriteChunk(string name, Action<Action<ReadOnlySpan<byte>>> fill)
    {
        var spec = Expect(name);
        long written = 0;
        fill(chunk => { written += chunk.Length; _stream.Write(chunk); });
        if (written != spec.ByteLength)
            throw new ArgumentException($"{_path}: tensor {name}: got {written} bytes, declared {spec.ByteLength}");
        _next++;
    }

    TensorSpec Expect(string name)
    {
        if (_next >= _specs.Count || _specs[_next].Name != name)
            throw new InvalidOperationException($"{_path}: tensor {name} written out of order (expected {(_next < _specs.Count ? _specs[_next].Name : "no more tensors")})");
        return _specs[_next];
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Dispose();
        if (_next != _specs.Count) File.Delete(_path);
    }
}
