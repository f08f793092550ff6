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
        => ForwardBatch.Of(blockSize, [.. steps.Select(s => new SeqTokens(s.Blocks, s.Start, s.Tokens, s.AllLogits))]);

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
