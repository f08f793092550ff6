using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.Tests.IO;

/// <summary>A writable temp copy of a shared fixture folder, for bad-input tests; deleted on dispose.</summary>
internal sealed class FixtureCopy : IDisposable
{
    public string Dir { get; }
    public string Safetensors => Path.Combine(Dir, "model.safetensors");

    public FixtureCopy(string fixture)
    {
        var src = TestPaths.Fixture(fixture);
        Dir = Path.Combine(Path.GetTempPath(), "quanta-io-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Dir);
        foreach (var f in Directory.GetFiles(src))
            if (Path.GetFileName(f) != "expected.json") File.Copy(f, Path.Combine(Dir, Path.GetFileName(f)));
        foreach (var f in Directory.GetFiles(Dir)) File.SetAttributes(f, FileAttributes.Normal);
    }

    public string PathOf(string name) => Path.Combine(Dir, name);

    public void EditText(string name, Func<string, string> edit)
    {
        var p = PathOf(name);
        var before = File.ReadAllText(p);
        var after = edit(before);
        Assert.NotEqual(before, after);
        File.WriteAllText(p, after);
    }

    /// <summary>
    /// Rewrites model.safetensors; <paramref name="map"/> returns the new spec of each tensor (null drops it),
    /// <paramref name="data"/> its new bytes (default: the old bytes, so a renamed dtype must keep the element size),
    /// <paramref name="extra"/> adds tensors at the end.
    /// </summary>
    public void RewriteTensors(Func<TensorSpec, TensorSpec?> map, Func<TensorView, TensorSpec, byte[]>? data = null,
                               IReadOnlyList<(TensorSpec Spec, byte[] Bytes)>? extra = null)
    {
        var tmp = Safetensors + ".new";
        using (var src = SafetensorsFile.Open(Safetensors))
        {
            var pairs = src.Tensors.Values.OrderBy(t => t.Data)
                .Select(t => (View: t, Spec: map(new TensorSpec(t.Name, t.DType, t.Shape))))
                .Where(p => p.Spec is not null).ToList();
            var specs = pairs.Select(p => p.Spec!).Concat((extra ?? []).Select(e => e.Spec)).ToList();
            using var w = new SafetensorsWriter(tmp, specs, src.Metadata);
            foreach (var (view, spec) in pairs)
                w.Write(spec!.Name, data is null ? view.Span<byte>() : data(view, spec));
            foreach (var (spec, bytes) in extra ?? []) w.Write(spec.Name, bytes);
        }
        File.Move(tmp, Safetensors, overwrite: true);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
