using System.Text.Json;
using Quanta.Model;

namespace Quanta.IO.Safetensors;

/// <summary>
/// All safetensors files of a checkpoint folder: the shards listed by model.safetensors.index.json,
/// else every *.safetensors in the folder. Memory-mapped; valid until disposed.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    readonly List<SafetensorsFile> _files = [];
    readonly Dictionary<string, SafetensorsFile> _byTensor = new(StringComparer.Ordinal);

    public string Directory { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IEnumerable<string> TensorNames => _byTensor.Keys;

    SafetensorsCheckpoint(string dir) => Directory = dir;

    /// <summary>Opens the safetensors files of <paramref name="dir"/>.</summary>
    /// <exception cref="ModelLoadException">no files, a shard named in the index missing, a bad file.</exception>
    public static SafetensorsCheckpoint Open(string dir)
    {
        var ck = new SafetensorsCheckpoint(dir);
        try
        {
            var index = Path.Combine(dir, "model.safetensors.index.json");
            IEnumerable<string> files = File.Exists(index)
                ? ReadIndexShards(index).Select(f => Path.Combine(dir, f))
                : System.IO.Directory.GetFiles(dir, "*.safetensors").Order(StringComparer.Ordinal);
            foreach (var f in files) ck.Add(SafetensorsFile.Open(f));
            if (ck._files.Count == 0)
                throw new ModelLoadException(System.IO.Directory.GetFiles(dir, "pytorch_model*.bin").Length > 0
                    ? $"{dir}: only PyTorch pickle weights (pytorch_model*.bin); convert them to safetensors"
                    : $"{dir}: no *.safetensors files");
            return ck;
        }
        catch { ck.Dispose(); throw; }
    }

    static List<string> ReadIndexShards(string index)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
            return doc.RootElement.GetProperty("weight_map").EnumerateObject()
                .Select(p => p.Value.GetString() ?? throw new FormatException("shard name is not a string"))
                .Distinct().Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelLoadException($"{index}: bad weight_map ({e.Message})");
        }
    }

    void Add(SafetensorsFile f)
    {
        _files.Add(f);
        foreach (var name in f.Tensors.Keys)
            if (!_byTensor.TryAdd(name, f))
                throw new ModelLoadException($"{f.Path}: tensor {name} also appears in {_byTensor[name].Path}");
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public bool TryGet(string name, out TensorView view)
    {
        if (_byTensor.TryGetValue(name, out var f)) { view = f.Tensors[name]; return true; }
        view = null!;
        return false;
    }

    /// <summary>The file that holds <paramref name="name"/>, for messages.</summary>
    public string FileOf(string name) => _byTensor.TryGetValue(name, out var f) ? f.Path : Directory;

    /// <summary>The tensor; a missing one is a <see cref="ModelLoadException"/> naming it.</summary>
    public TensorView Get(string name) => TryGet(name, out var v) ? v
        : throw new ModelLoadException($"{(_files.Count == 1 ? _files[0].Path : Directory)}: missing tensor {name}");

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
        _byTensor.Clear();
    }
}
