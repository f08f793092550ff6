using System.IO.MemoryMappedFiles;
using System.Text.RegularExpressions;
using Quanta.IO.Tokenizers;
using Quanta.Model;

namespace Quanta.IO.Llama2c;

/// <summary>llama2.c checkpoints (.bin, version-0 header of 7 int32, then f32 weights), memory-mapped.</summary>
public static partial class Llama2cLoader
{
    [GeneratedRegex(@"^(tokenizer|tok\d+)\.bin$", RegexOptions.IgnoreCase)]
    private static partial Regex TokenizerFileName();

    /// <summary>The .bin files of <paramref name="dir"/> that are not llama2.c tokenizers (tokenizer.bin, tok512.bin).</summary>
    public static List<string> CheckpointsIn(string dir) =>
        Directory.GetFiles(dir, "*.bin").Where(f => !TokenizerFileName().IsMatch(Path.GetFileName(f)))
                 .Order(StringComparer.Ordinal).ToList();

    /// <summary>Maps <paramref name="path"/>; the tokenizer is tokenizer.bin or tok&lt;vocab&gt;.bin beside it.</summary>
    /// <exception cref="ModelLoadException">bad header or truncated file (names the file).</exception>
    public static ModelCheckpoint Open(string path)
    {
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 28) throw new ModelLoadException($"{path}: truncated llama2.c checkpoint ({fileLength} bytes, header needs 28)");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var owner = new MappedFile(map);
        try
        {
            var header = Llama2cHeader.Parse(path, owner.Base, fileLength);
            var config = header.ToConfig();
            var weights = Llama2cWeights.Build(header, owner.Base + 28, fileLength - 28, path);
            var dir = Path.GetDirectoryName(path)!;
            var tok = FindTokenizer(dir, config.VocabSize);
            var ck = new ModelCheckpoint
            {
                Name = Path.GetFileNameWithoutExtension(path), Path = path, Config = config, Weights = weights,
                TokenizerSource = tok,
                TokenizerLoader = () => File.Exists(tok) ? TokenizerFactory.FromLlama2cFile(tok, config.VocabSize)
                    : throw new ModelLoadException($"{tok}: llama2.c tokenizer not found beside {Path.GetFileName(path)}"),
            };
            ck.Owned.Add(owner);
            return ck;
        }
        catch { owner.Dispose(); throw; }
    }

    static string FindTokenizer(string dir, int vocab)
    {
        var specific = Path.Combine(dir, $"tok{vocab}.bin");
        return File.Exists(specific) ? specific : Path.Combine(dir, "tokenizer.bin");
    }

    /// <summary>A read-only mapping of a whole file with its base pointer acquired.</summary>
    sealed unsafe class MappedFile : IDisposable
    {
        readonly MemoryMappedFile _map;
        readonly MemoryMappedViewAccessor _view;
        public nint Base { get; }

        public MappedFile(MemoryMappedFile map)
        {
            _map = map;
            _view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            Base = (nint)(p + _view.PointerOffset);
        }

        public void Dispose()
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map.Dispose();
        }
    }
}
