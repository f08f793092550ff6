using Quanta.Cpu;
using Quanta.Engine;
using Quanta.IO;

namespace Quanta.Tests.Cpu;

/// <summary>A checkpoint opened without its tokenizer plus a CPU runner over it.</summary>
internal sealed class CpuTestModel : IDisposable
{
    public ModelCheckpoint Checkpoint { get; }
    public CpuModelRunner Runner { get; }
    public int Vocab => Checkpoint.Config.VocabSize;

    public CpuTestModel(string path, int blockSize = 16, int numBlocks = 256, int threads = 1)
    {
        Checkpoint = ModelLoader.Open(path);
        Runner = new CpuModelRunner(Checkpoint.Config, Checkpoint.Weights, new KvCacheOptions(blockSize, numBlocks), threads);
    }

    public void Dispose() { Runner.Dispose(); Checkpoint.Dispose(); }
}

/// <summary>One sequence's step in a hand-built batch: new tokens from <see cref="Start"/> on, through its block table.</summary>
internal sealed record SeqStep(int[] Blocks, int Start, int[] Tokens, bool AllLogits = false);

internal static class Batches
{
    /// <summary>A ForwardBatch for the steps, logits for each step's last token (or all its tokens).</summary>
    public static ForwardBatch Build(int blockSize, params SeqStep[] steps)
    {
        var b = new ForwardBatch { NumSeqs = steps.Length, MaxBlocksPerSeq = steps.Max(s => s.Blocks.Length) };
        var ids = new List<int>(); var pos = new List<int>(); var slots = new List<int>(); var logits = new List<int>();
        b.QueryStart = new int[steps.Length + 1];
        b.ContextLens = new int[steps.Length];
        b.BlockTables = Enumerable.Repeat(-1, steps.Length * b.MaxBlocksPerSeq).ToArray();
        for (int s = 0; s < steps.Length; s++)
        {
            var st = steps[s];
            st.Blocks.CopyTo(b.BlockTables, s * b.MaxBlocksPerSeq);
            for (int i = 0; i < st.Tokens.Length; i++)
            {
                int p = st.Start + i;
                if (st.AllLogits || i == st.Tokens.Length - 1) logits.Add(ids.Count);
                ids.Add(st.Tokens[i]); pos.Add(p); slots.Add(st.Blocks[p / blockSize] * blockSize + p % blockSize);
            }
            b.QueryStart[s + 1] = ids.Count;
            b.ContextLens[s] = st.Start + st.Tokens.Length;
        }
        b.NumTokens = ids.Count; b.TokenIds = [.. ids]; b.Positions = [.. pos]; b.SlotMapping = [.. slots];
        b.LogitIndices = [.. logits]; b.NumLogits = logits.Count;
        return b;
    }

    /// <summary>Runs the batch and returns its logits [num_logits, vocab].</summary>
    public static float[] Run(IModelRunner r, ForwardBatch b)
    {
        var logits = new float[b.NumLogits * r.Config.VocabSize];
        r.Forward(b, logits);
        return logits;
    }

    public static int Argmax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    /// <summary>Prefills the prompt in one step, then decodes greedily; returns the new ids.</summary>
    public static int[] Greedy(IModelRunner r, int[] blocks, int[] prompt, int steps)
    {
        int bs = r.BlockSize, v = r.Config.VocabSize;
        var logits = Run(r, Build(bs, new SeqStep(blocks, 0, prompt)));
        var output = new List<int>();
        int pos = prompt.Length;
        for (int i = 0; i < steps; i++)
        {
            int next = Argmax(logits.AsSpan(0, v));
            output.Add(next);
            if (i + 1 < steps) logits = Run(r, Build(bs, new SeqStep(blocks, pos++, [next])));
        }
        return [.. output];
    }
}
