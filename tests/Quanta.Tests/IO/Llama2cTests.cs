using Quanta.IO;
using Quanta.IO.Llama2c;
using Quanta.Model;

namespace Quanta.Tests.IO;

public class Llama2cTests
{
    static void AssertStories260K(ModelCheckpoint ck)
    {
        var c = ck.Config;
        Assert.Equal((64, 172, 5, 8, 4, 512, 512), (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.VocabSize, c.MaxPositionEmbeddings));
        Assert.Equal(8, c.HeadDim);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(RopeStyle.Interleaved, c.RopeStyle);
        Assert.Equal((1, 10000f, 1e-5f), (c.BosTokenId, c.RopeTheta, c.RmsNormEps));
        Assert.Equal([2, 1], c.EosTokenIds);   // run.c stops at BOS too
        Assert.Null(c.Quantization);
        var w = ck.Weights;
        Assert.Equal([512L, 64], w.Embedding.Shape);
        Assert.Equal(w.Embedding.Data, Assert.IsType<DenseLinear>(w.LmHead).Weight.Data);
        var l4 = w.Layers[4];
        Assert.Equal([32L, 64], Assert.IsType<DenseLinear>(l4.Wk).Weight.Shape);
        Assert.Equal([64L, 172], Assert.IsType<DenseLinear>(l4.WDown).Weight.Shape);
        Assert.Equal([172L, 64], Assert.IsType<DenseLinear>(l4.WUp).Weight.Shape);
        Assert.Equal(DType.F32, l4.AttnNorm.DType);
        // the final norm follows the last w3 block; its data ends where the freq_cis tables begin
        long end = w.FinalNorm.Data + w.FinalNorm.ByteLength - w.Embedding.Data + 28;
        Assert.Equal(new FileInfo(ck.Path).Length, end + 2L * 512 * 4 * 4);
        Assert.All(w.FinalNorm.Span<float>().ToArray(), x => Assert.True(float.IsFinite(x) && x != 0));
    }

    [Fact]
    public void RepoDefaultModelFolderLoads()
    {
        using var ck = ModelLoader.Open(TestPaths.DefaultModel);
        AssertStories260K(ck);
        Assert.Equal("stories260K", ck.Name);
        Assert.EndsWith("tok512.bin", ck.TokenizerSource);
    }

    [Fact]
    public void NullLoadsTheModelShippedBesideTheProgram()
    {
        using var ck = ModelLoader.Open(null);
        AssertStories260K(ck);
        Assert.StartsWith(AppContext.BaseDirectory, ck.Path);
    }

    [Fact]
    public void SharedBinFileLoads()
    {
        using var ck = ModelLoader.Open(TestPaths.SharedPath("models", "stories260K", "stories260K.bin"));
        AssertStories260K(ck);
    }

    [Fact]
    public void TokenizerFilesAreNotCheckpoints()
        => Assert.Equal(["stories260K.bin"], Llama2cLoader.CheckpointsIn(TestPaths.DefaultModel).Select(Path.GetFileName));

    [Fact]
    public void TruncatedBinNamesTheFile()
    {
        var dir = Directory.CreateTempSubdirectory("quanta-l2c-").FullName;
        try
        {
            var path = Path.Combine(dir, "m.bin");
            var bytes = File.ReadAllBytes(Path.Combine(TestPaths.DefaultModel, "stories260K.bin"));
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
            var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Open(dir).Dispose());
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated llama2.c checkpoint", e.Message);

            bytes[12] = 7;   // n_heads 7 does not divide dim 64
            File.WriteAllBytes(path, bytes);
            e = Assert.Throws<ModelLoadException>(() => ModelLoader.Open(path).Dispose());
            Assert.Contains("n_heads = 7 is invalid", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LoadWithoutTheTokenizerFileNamesIt()
    {
        var dir = Directory.CreateTempSubdirectory("quanta-l2c-").FullName;
        try
        {
            File.Copy(Path.Combine(TestPaths.DefaultModel, "stories260K.bin"), Path.Combine(dir, "stories260K.bin"));
            var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(dir).Dispose());
            Assert.Contains(Path.Combine(dir, "stories260K.bin"), e.Message);
            Assert.Contains("llama2.c tokenizer not found beside it (tok512.bin or tokenizer.bin)", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LoadOpensTok512()
    {
        using var model = ModelLoader.Load(null);
        Assert.Equal(512, model.Tokenizer.VocabSize);
        Assert.Equal("stories260K", model.Name);
        Assert.Equal(1, model.Tokenizer.BosId);
    }
}
