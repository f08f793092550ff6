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
/// ending in '#' predicts EOS. Output is printable ASCII.
/// </summary>
internal sealed class HashRunner(int numBlocks, int blockSize = 16, int stepDelayMs = 0) : IModelRunner
{
    readonly int[] _kv = new int[numBlocks * blockSize];   // [blocks * block_size] token id stored in each slot

    public LlamaConfig Config { get; } = new()
    {
        HiddenSize = 8, IntermediateSize = 8, NumLayers = 1, NumHeads = 1, NumKvHeads = 1, VocabSize = 259,
        MaxPositionEmbeddings = 512, EosTokenIds = [2],
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
        if (context[^1] == '#' + 3) return 2;
        ulong h = 1469598103934665603;
        foreach (int id in context) h = (h ^ (ulong)id) * 1099511628211;
        return 3 + 32 + (int)(h % 95);
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
