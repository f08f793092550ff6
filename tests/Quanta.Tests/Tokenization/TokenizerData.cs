using System.Text;
using System.Text.Json;
using Quanta.Model;
using Quanta.Tokenization;

namespace Quanta.Tests.Tokenization;

/// <summary>Shared inputs: llama.cpp's SentencePiece test vectors and the Llama-2 tokenizer files.</summary>
internal static class TokenizerData
{
    public const int VectorCount = 46;

    public static IEnumerable<TheoryDataRow<int>> VectorIndices() => Enumerable.Range(0, VectorCount).Select(i => new TheoryDataRow<int>(i));

    static (string Text, int[] Ids)[]? _vectors;

    /// <summary>llama.cpp's test-tokenizer-0 format: inputs split on "\n__ggml_vocab_test__\n", one id line per input.</summary>
    public static (string Text, int[] Ids) Vector(int i)
    {
        var inp = TestPaths.SharedPath("tokenizers", "llama2", "ggml-vocab-llama-spm.gguf.inp");
        var outp = TestPaths.SharedPath("tokenizers", "llama2", "ggml-vocab-llama-spm.gguf.out");
        _vectors ??= Load(inp, outp);
        return _vectors[i];
    }

    static (string, int[])[] Load(string inp, string outp)
    {
        string raw = Encoding.UTF8.GetString(File.ReadAllBytes(inp));
        var texts = new List<string>();
        const string sep = "\n__ggml_vocab_test__\n";
        for (int pos = 0; pos < raw.Length;)
        {
            int next = raw.IndexOf(sep, pos, StringComparison.Ordinal);
            if (next < 0) { texts.Add(raw[pos..]); break; }
            texts.Add(raw[pos..next]);
            pos = next + sep.Length;
        }
        var lines = File.ReadAllLines(outp);
        Assert.Equal(VectorCount, texts.Count);
        Assert.Equal(VectorCount, lines.Length);
        return texts.Select((t, i) => (t, lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToArray();
    }

    public static string Llama2Dir => TestPaths.SharedPath("tokenizers", "llama2");
    public static ITokenizer Llama2Model => TokenizerFactory.FromSentencePieceFile(Path.Combine(Llama2Dir, "tokenizer.model"));
    public static ITokenizer Llama2cBin => TokenizerFactory.FromLlama2cFile(Path.Combine(Llama2Dir, "tokenizer.bin"), 32000);
    public static ITokenizer Tok512 => TokenizerFactory.FromLlama2cFile(TestPaths.SharedPath("models", "stories260K", "tok512.bin"), 512);

    /// <summary>The prompts and BOS-prefixed input_ids of a fixture's expected.json.</summary>
    public static (string Prompt, int[] Ids)[] FixtureCases(string fixture)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixture(fixture), "expected.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("prompt").GetString()!, c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToArray();
    }

    public static readonly string[] Fixtures = ["tiny-llama-f16", "tiny-llama-gptq-g32-act", "tiny-llama-gptq-g128", "tiny-llama-gptq-chan"];
}
