using Quanta.Engine;

namespace Quanta.Quantization;

/// <summary>Tokens scored and their mean negative log-likelihood (nats).</summary>
public sealed record PerplexityResult(long TokensScored, double MeanNll)
{
    public double Perplexity => Math.Exp(MeanNll);
}

/// <summary>
/// Sliding-window perplexity as Hugging Face computes it: windows of up to <c>ctx</c> tokens start every
/// <c>stride</c> tokens; each token is scored once, in the first window that ends
/// after it, so it sees up to ctx − stride tokens of context (more in the first window). A window's first token
/// has no context and is not scored, which only matters when stride = ctx.
/// </summary>
public static class Perplexity
{
    /// <param name="progress">(tokens scored so far, tokens to score).</param>
    public static PerplexityResult Evaluate(IModelRunner runner, int[] tokens, int ctx, int stride,
                                            Action<long, long>? progress = null, CancellationToken ct = default)
    {
        if (ctx < 2) throw new ArgumentException($"--ctx {ctx}: must be at least 2");
        if (stride < 1 || stride > ctx) throw new ArgumentException($"--stride {stride}: must be in 1..--ctx ({ctx})");
        if (tokens.Length < 2) throw new ArgumentException($"the dataset gives {tokens.Length} token(s); at least 2 are needed");
        int bs = runner.BlockSize, blocks = (ctx + bs - 1) / bs, vocab = runner.Config.VocabSize;
        if (blocks > runner.NumBlocks) throw new ArgumentException($"--ctx {ctx} needs {blocks} KV blocks; the runner has {runner.NumBlocks}");
        double nll = 0;
        long scored = 0, total = tokens.Length - 1;
        int prevEnd = 0;
        for (int begin = 0; begin < tokens.Length; begin += stride)
        {
            ct.ThrowIfCancellationRequested();
            int end = Math.Min(begin + ctx, tokens.Length), len = end - begin;
            int first = Math.Max(prevEnd, begin + 1);                        // first target position
            var batch = Batch(tokens.AsSpan(begin, len), bs, blocks);
            batch.LogitIndices = Enumerable.Range(first - 1 - begin, end - first).ToArray();
            batch.NumLogits = end - first;
            var logits = new float[batch.NumLogits * vocab];                  // [scored, vocab]
            runner.Forward(batch, logits);
            for (int r = 0; r < batch.NumLogits; r++)
                nll -= LogProb(logits.AsSpan(r * vocab, vocab), tokens[first + r]);
            scored += batch.NumLogits;
            progress?.Invoke(scored, total);
            prevEnd = end;
            if (end == tokens.Length) break;
        }
        return new PerplexityResult(scored, nll / scored);
    }

    /// <summary>
    /// Each document scored on its own (<see cref="Evaluate"/>; give each its BOS), the
    /// token NLLs pooled: text sampled one sample at a time is then scored in the context it was generated in.
    /// Documents of fewer than 2 tokens are skipped.
    /// </summary>
    public static PerplexityResult EvaluateDocuments(IModelRunner runner, IReadOnlyList<int[]> documents, int ctx, int stride,
                                                     Action<long, long>? progress = null, CancellationToken ct = default)
    {
        var docs = documents.Where(d => d.Length >= 2).ToList();
        if (docs.Count == 0) throw new ArgumentException("no document gives at least 2 tokens");
        long total = docs.Sum(d => (long)d.Length - 1), scored = 0;
        double nll = 0;
        foreach (var d in docs)
        {
            var r = Evaluate(runner, d, ctx, stride, null, ct);
            nll += r.MeanNll * r.TokensScored;
            scored += r.TokensScored;
            progress?.Invoke(scored, total);
        }
        return new PerplexityResult(scored, nll / scored);
    }

    /// <summary>log softmax(logits)[target] in fp64.</summary>
    public static double LogProb(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return logits[target] - max - Math.Log(sum);
    }

    /// <summary>One fresh sequence holding <paramref name="ids"/> at positions 0.., KV blocks 0.. in order.</summary>
    static ForwardBatch Batch(ReadOnlySpan<int> ids, int blockSize, int maxBlocks)
    {
        int used = (ids.Length + blockSize - 1) / blockSize;
        return ForwardBatch.Of(blockSize, new SeqTokens([.. Enumerable.Range(0, maxBlocks).Select(b => b < used ? b : -1)], 0, ids.ToArray()));
    }
}
