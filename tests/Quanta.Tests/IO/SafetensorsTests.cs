using System.Text;
using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.Tests.IO;

public sealed class SafetensorsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("quanta-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string WriteSample(string name = "model.safetensors")
    {
        var path = Path.Combine(_dir, name);
        using var w = new SafetensorsWriter(path,
            [new("a", DType.F32, [2, 3]), new("b", DType.I32, [4]), new("c", DType.BF16, [1])],
            new Dictionary<string, string> { ["format"] = "pt" });
        w.Write<float>("a", [1, 2, 3, 4, 5, 6]);
        w.Write<int>("b", [7, -8, 9, int.MaxValue]);
        w.Write<ushort>("c", [0x3F80]);
        return path;
    }

    [Fact]
    public void WriterOutputReadsBackThroughTheMap()
    {
        var path = WriteSample();
        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(3, f.Tensors.Count);
        Assert.Equal([2L, 3], f.Tensors["a"].Shape);
        Assert.Equal([1f, 2, 3, 4, 5, 6], f.Tensors["a"].Span<float>().ToArray());
        Assert.Equal([7, -8, 9, int.MaxValue], f.Tensors["b"].Span<int>().ToArray());
        Assert.Equal(DType.BF16, f.Tensors["c"].DType);
        Assert.Equal(0, f.Tensors["a"].Data % 8);
        var headerLength = BitConverter.ToUInt64(File.ReadAllBytes(path), 0);
        Assert.Equal(0UL, headerLength % 8);
    }

    [Fact]
    public void WriterRejectsOutOfOrderOrWrongSizeAndDeletesIncompleteFile()
    {
        var path = Path.Combine(_dir, "x.safetensors");
        using (var w = new SafetensorsWriter(path, [new("a", DType.F16, [2]), new("b", DType.F16, [2])]))
        {
            Assert.Throws<InvalidOperationException>(() => w.Write<ushort>("b", [1, 2]));
            Assert.Throws<ArgumentException>(() => w.Write<ushort>("a", [1, 2, 3]));
            w.Write<ushort>("a", [1, 2]);
        }
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void TruncatedFileIsOneLineErrorNamingTheFile()
    {
        var path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        File.WriteAllBytes(path, bytes[..20]);
        e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void UnknownDtypeIsNamed()
    {
        var path = Path.Combine(_dir, "f8.safetensors");
        var header = Encoding.UTF8.GetBytes("""{"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0]);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path));
        Assert.Contains("tensor t: unsupported dtype F8_E4M3", e.Message);
    }

    [Fact]
    public void ShardedCheckpointFollowsTheIndex()
    {
        var a = Path.Combine(_dir, "model-00001-of-00002.safetensors");
        var b = Path.Combine(_dir, "model-00002-of-00002.safetensors");
        using (var w = new SafetensorsWriter(a, [new("x", DType.F32, [1])])) w.Write<float>("x", [1.5f]);
        using (var w = new SafetensorsWriter(b, [new("y", DType.F32, [1])])) w.Write<float>("y", [2.5f]);
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"),
            """{"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}""");
        using var ck = SafetensorsCheckpoint.Open(_dir);
        Assert.Equal(2, ck.Files.Count);
        Assert.Equal(2.5f, ck.Get("y").Span<float>()[0]);
        Assert.Equal(b, ck.FileOf("y"));
        var e = Assert.Throws<ModelLoadException>(() => ck.Get("z"));
        Assert.Contains("missing tensor z", e.Message);

        File.Delete(b);
        e = Assert.Throws<ModelLoadException>(() => SafetensorsCheckpoint.Open(_dir));
        Assert.Contains(b, e.Message);
    }
}
