using Quanta.IO;
using Quanta.Tests.Engine;

namespace Quanta.Tests.Quantization;

/// <summary>`quantize` checks --output before any work, and its default group size works on models narrower than 128.</summary>
[Collection("Console")]
public sealed class QuantizeOutputTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "quanta-quant-out-" + Guid.NewGuid().ToString("N"));

    public QuantizeOutputTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    static Task<(int Code, string Out, string Err)> Rtn(string output, params string[] more) =>
        CliRunner.Run(["quantize", "--model-id", TestPaths.DefaultModel, "--output", output, "--method", "rtn", "--device", "cpu", .. more]);

    static string OneErrorLine((int Code, string Out, string Err) r)
    {
        Assert.Equal(1, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "stderr: " + r.Err);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        return lines[0];
    }

    [Fact]
    public async Task An_output_that_is_a_file_is_refused_before_the_group_size_is_looked_at()
    {
        var file = Path.Combine(_dir, "passwd");
        File.WriteAllText(file, "root:x:0:0");
        // --group-size 128 cannot fit stories260K's width 64 either: the cheaper --output problem is the one reported.
        var line = OneErrorLine(await Rtn(file, "--group-size", "128"));
        Assert.Contains($"--output {file}: is a file", line);
        Assert.Equal("root:x:0:0", File.ReadAllText(file));
    }

    [Fact]
    public async Task A_non_empty_folder_is_written_only_with_overwrite()
    {
        var target = Path.Combine(_dir, "ckpt");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "notes.txt"), "mine");
        var line = OneErrorLine(await Rtn(target));
        Assert.Contains("the folder is not empty (pass --overwrite to write into it)", line);
        Assert.Single(Directory.GetFileSystemEntries(target));

        var (code, _, err) = await Rtn(target, "--overwrite");
        Assert.True(code == 0, err);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(target, "notes.txt")));
        Assert.True(File.Exists(Path.Combine(target, "model.safetensors")));
    }

    [Fact]
    public async Task The_default_group_size_falls_back_to_one_that_fits_a_narrow_model()
    {
        var target = Path.Combine(_dir, "new", "stories260K-gptq");   // parents are created
        var (code, _, err) = await Rtn(target);
        Assert.True(code == 0, err);
        Assert.Contains("--group-size 128 (the default) does not divide the model's width 64: using 64", err);
        using var m = ModelLoader.Load(target);
        Assert.Equal(64, m.Config.Quantization?.GroupSize);
        var (genCode, text, genErr) = await CliRunner.Run("generate", "--model-id", target, "--prompt", "Once upon a time", "--max-new-tokens", "8");
        Assert.True(genCode == 0, genErr);
        Assert.NotEqual("", text.Trim());
    }

    [Fact]
    public async Task An_explicit_group_size_that_cannot_fit_names_one_that_does()
    {
        var line = OneErrorLine(await Rtn(Path.Combine(_dir, "out"), "--group-size", "128"));
        Assert.Contains("--group-size 128 does not divide hidden_size", line);
        Assert.Contains("the largest group size up to 128 that fits is 64", line);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }

    [Fact]
    public async Task An_unwritable_parent_is_refused_first()
    {
        // /proc takes no new files, not even from root.
        var line = OneErrorLine(await Rtn("/proc/quanta-out"));
        Assert.Contains("--output /proc/quanta-out: cannot write in /proc", line);
    }
}
