using System.Text;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Tests.Engine;

/// <summary>
/// A model-free runner with a real paged "KV cache": it stores each token id in its slot and scores the
/// next token from the whole context read back through the block table, so a wrong slot, block table,
/// prefix-cache hit or recompute changes the output.
/// </summary>
internal sealed class FakeRunner : IModelRunner
{
    public const int Vocab = 64;
    readonly int[] _kvToken;   // [blocks * block_size] token id stored in each slot
    readonly int[] _kvPos;     // [blocks * block_size] its position (-1 = never written)
    public List<(int Tokens, int Seqs)> Steps { get; } = [];
    /// <summary>Forward throws when a batch contains this token id.</summary>
    public int ThrowOnToken { get; set; } = -1;
    public bool AllowEos { get; set; }
    /// <summary>Forward waits for this (to line requests up in one batch); set by default.</summary>
    public ManualResetEventSlim Gate { get; } = new(true);
    /// <summary>Forward calls before this many have run pass without waiting for <see cref="Gate"/>.</summary>
    public int GateFromStep { get; set; }
    /// <summary>Set when a Forward call has started.</summary>
    public ManualResetEventSlim Entered { get; } = new(false);
    /// <summary>Largest batch (sequences) in which Forward threw.</summary>
    public int ThrewInBatchOf { get; private set; }

    public FakeRunner(int numBlocks, int blockSize = 16)
    {
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        _kvToken = new int[numBlocks * blockSize];
        _kvPos = new int[numBlocks * blockSize];
        Array.Fill(_kvPos, -1);
    }

    public LlamaConfig Config { get; } = new()
    {
        HiddenSize = 8, IntermediateSize = 8, NumLayers = 1, NumHeads = 1, NumKvHeads = 1, VocabSize = Vocab,
        BosTokenId = 1, EosTokenIds = [2],
    };
    public string DeviceName => "fake";
    public int BlockSize { get; }
    public int NumBlocks { get; }

    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        Entered.Set();
        int done;
        lock (Steps) done = Steps.Count;
        if (done >= GateFromStep) Gate.Wait();
        lock (Steps) Steps.Add((batch.NumTokens, batch.NumSeqs));
        for (int t = 0; t < batch.NumTokens; t++)
        {
            if (batch.TokenIds[t] == ThrowOnToken)
            {
                ThrewInBatchOf = Math.Max(ThrewInBatchOf, batch.NumSeqs);
                throw new InvalidOperationException("fake runner failure");
            }
            _kvToken[batch.SlotMapping[t]] = batch.TokenIds[t];
            _kvPos[batch.SlotMapping[t]] = batch.Positions[t];
        }
        for (int row = 0; row < batch.NumLogits; row++)
        {
            int t = batch.LogitIndices[row];
            int seq = 0;
            while (batch.QueryStart[seq + 1] <= t) seq++;
            var table = batch.BlockTable(seq);
            ulong h = 1469598103934665603UL;
            for (int pos = 0; pos <= batch.Positions[t]; pos++)
            {
                int slot = table[pos / BlockSize] * BlockSize + pos % BlockSize;
                if (_kvPos[slot] != pos) throw new InvalidOperationException($"slot {slot} holds position {_kvPos[slot]}, wanted {pos}");
                h = (h ^ (ulong)_kvToken[slot]) * 1099511628211UL;
            }
            var row_ = logits.Slice(row * Vocab, Vocab);
            for (int v = 0; v < Vocab; v++)
            {
                ulong x = (h + (ulong)v * 0x9E3779B97F4A7C15UL) * 0xBF58476D1CE4E5B9UL;
                row_[v] = (float)((x >> 40) % 1000) / 100f;
            }
            row_[0] = row_[1] = -50f;
            if (!AllowEos) row_[2] = -50f;
        }
    }

    public void Dispose() { Gate.Dispose(); Entered.Dispose(); }
}

/// <summary>Ids 0-2 are specials; 3-28 'a'-'z'; 29 ' '; 30 '\n'; 31/32 the two bytes of 'é'; the rest letters again.</summary>
internal sealed class FakeTokenizer : ITokenizer
{
    public int VocabSize => FakeRunner.Vocab;
    public int BosId => 1;
    public int EosId => 2;

    public static byte[] Bytes(int id) => id switch
    {
        0 => "<unk>"u8.ToArray(), 1 => "<s>"u8.ToArray(), 2 => "</s>"u8.ToArray(),
        29 => " "u8.ToArray(), 30 => "\n"u8.ToArray(), 31 => [0xC3], 32 => [0xA9],
        _ => [(byte)('a' + (id - 3) % 26)],
    };

    public int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(1);
        foreach (char c in text) ids.Add(c == ' ' ? 29 : c == '\n' ? 30 : 3 + (c - 'a'));
        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = true)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
            if (!(skipSpecial && id <= 2)) bytes.AddRange(Bytes(id));
        return Encoding.UTF8.GetString([.. bytes]);
    }

    public ReadOnlySpan<byte> TokenBytes(int id) => Bytes(id);
    public string TokenText(int id) => Encoding.UTF8.GetString(Bytes(id));
    public bool IsSpecial(int id) => id <= 2;
}
