using System.Text;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Tests.Server;

/// <summary>Byte-level tokenizer: BOS 1, EOS 2, UNK 0, byte b = id 3 + b.</summary>
internal sealed class ByteTokenizer : ITokenizer
{
    public int VocabSize => 259;
    public int BosId => 1;
    public int EosId => 2;

    public int[] Encode(string text, bool addBos)
        => [.. addBos ? [BosId] : Array.Empty<int>(), .. Encoding.UTF8.GetBytes(text).Select(b => b + 3)];

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = true)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
            if (id >= 3) bytes.Add((byte)(id - 3));
            else if (!skipSpecial) bytes.AddRange(Encoding.UTF8.GetBytes(Special(id)));
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    public ReadOnlySpan<byte> TokenBytes(int id) => id >= 3 ? new[] { (byte)(id - 3) } : Encoding.UTF8.GetBytes(Special(id));
    public string TokenText(int id) => id >= 3 ? Encoding.Latin1.GetString([(byte)(id - 3)]) : Special(id);
    public bool IsSpecial(int id) => id < 3;
    static string Special(int id) => id switch { 0 => "<unk>", 1 => "<s>", _ => "</s>" };
}

/// <summary>
/// A backend whose next token is a hash of the whole context, read back through the paged KV cache
/// (so wrong block tables, slot mappings, prefix sharing or preemption change the output). A context
/// ending in '#' predicts EOS. Output is printable ASCII, unless the context holds a scripted reply: text between
/// the bytes 0x02 and 0x03 (see <see cref="Script"/>), which the model then says, followed by EOS.
/// </summary>
internal sealed class HashRunner(int numBlocks, int blockSize = 16, int stepDelayMs = 0, int maxPositions = 512) : IModelRunner
{
    readonly int[] _kv = new int[numBlocks * blockSize];   // [blocks * block_size] token id stored in each slot

    public LlamaConfig Config { get; } = new()
    {
        HiddenSize = 8, IntermediateSize = 8, NumLayers = 1, NumHeads = 1, NumKvHeads = 1, VocabSize = 259,
        MaxPositionEmbeddings = maxPositions, EosTokenIds = [2],
    };
    public string DeviceName => "cpu (fake)";
    /// <summary>Forward throws when a batch holds this token id (-1: never).</summary>
    public int ThrowOnToken { get; init; } = -1;
    public int BlockSize => blockSize;
    public int NumBlocks => numBlocks;

    public void Forward(ForwardBatch b, Span<float> logits)
    {
        if (stepDelayMs > 0) Thread.Sleep(stepDelayMs);
        if (ThrowOnToken >= 0 && b.TokenIds.AsSpan(0, b.NumTokens).Contains(ThrowOnToken))
            throw new InvalidOperationException("hash runner failure");
        for (int t = 0; t < b.NumTokens; t++) _kv[b.SlotMapping[t]] = b.TokenIds[t];
        logits.Clear();
        for (int r = 0; r < b.NumLogits; r++)
        {
            int t = b.LogitIndices[r];
            int seq = 0;
            while (b.QueryStart[seq + 1] <= t) seq++;
            var table = b.BlockTable(seq);
            var context = new int[b.Positions[t] + 1];
            for (int p = 0; p < context.Length; p++) context[p] = _kv[table[p / blockSize] * blockSize + p % blockSize];
            logits[r * 259 + Next(context)] = 10f;
        }
    }

    /// <summary>The model's greedy choice after <paramref name="context"/>.</summary>
    public static int Next(ReadOnlySpan<int> context)
    {
        if (Scripted(context) is int scripted and >= 0) return scripted;
        if (context[^1] == '#' + 3) return 2;
        ulong h = 1469598103934665603;
        foreach (int id in context) h = (h ^ (ulong)id) * 1099511628211;
        return 3 + 32 + (int)(h % 95);
    }

    const int Stx = 2 + 3, Etx = 3 + 3;

    /// <summary>
    /// A message content that makes the model answer <paramref name="reply"/> (which must not hold 0x02 or 0x03) when
    /// decoding greedily; sampling at temperature 1 strays from it about once in 90 tokens.
    /// </summary>
    public static string Script(string reply) => $"\u0002{reply}\u0003";

    /// <summary>
    /// The next token of the scripted reply: the generated text (after the last 0x03) ends with the reply's first k
    /// bytes for the largest k; -1 when the context holds no script.
    /// </summary>
    static int Scripted(ReadOnlySpan<int> context)
    {
        int start = context.IndexOf(Stx);
        if (start < 0) return -1;
        int length = context[(start + 1)..].IndexOf(Etx);
        if (length < 0) return -1;
        var script = context.Slice(start + 1, length);
        int after = context.Length - 1 - context.LastIndexOf(Etx);
        for (int k = Math.Min(script.Length, after); k >= 0; k--)
            if (context.EndsWith(script[..k])) return k == script.Length ? 2 : script[k];
        return -1;
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/> (BOS added), as the server should return it.</summary>
    public static string Reference(string prompt, int maxNewTokens, out bool eos)
    {
        var ids = new ByteTokenizer().Encode(prompt, addBos: true).ToList();
        var sb = new StringBuilder();
        eos = false;
        for (int i = 0; i < maxNewTokens; i++)
        {
            int next = Next(ids.ToArray());
            if (next == 2) { eos = true; break; }
            ids.Add(next);
            sb.Append((char)(next - 3));
        }
        return sb.ToString();
    }

    public void Dispose() { }
}
