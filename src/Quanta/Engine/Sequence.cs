namespace Quanta.Engine;

public enum SequenceStatus { Waiting, Running, Preempted, Finished }

/// <summary>One request's bookkeeping inside the engine: plain data, no tensors.</summary>
public sealed class Sequence
{
    public long Id { get; }
    /// <summary>Prompt then generated ids; the last one has no KV yet while decoding.</summary>
    public List<int> Tokens { get; }
    public int PromptLength { get; }
    public SamplingParams Params { get; }
    /// <summary>Prefix-cache lookups are skipped (prompt logprobs need every prompt position computed).</summary>
    public bool NoPrefixCache { get; init; }
    /// <summary>Most prompt tokens computed in one step (bounds the logits rows of prompt-logprob requests).</summary>
    public int MaxChunk { get; init; } = int.MaxValue;
    /// <summary>Physical KV block of each logical block.</summary>
    public List<int> BlockTable { get; } = [];
    /// <summary>Chain hash of each full block whose KV is computed (prefix caching).</summary>
    public List<ulong> BlockHashes { get; } = [];
    public SequenceStatus Status { get; set; } = SequenceStatus.Waiting;
    /// <summary>Tokens whose K/V are in the cache.</summary>
    public int NumComputed { get; set; }
    /// <summary>Tokens to compute in the step being built (set by the scheduler).</summary>
    public int Chunk { get; set; }

    public Sequence(long id, ReadOnlySpan<int> promptIds, SamplingParams p)
    {
        Id = id;
        Tokens = new List<int>(promptIds.Length + Math.Min(p.MaxNewTokens, 4096));
        foreach (var t in promptIds) Tokens.Add(t);
        PromptLength = promptIds.Length;
        Params = p;
    }

    public int Count => Tokens.Count;
    public int NumGenerated => Tokens.Count - PromptLength;
    /// <summary>True when this step's chunk reaches the last token, so a new token is sampled.</summary>
    public bool SamplesThisStep => NumComputed + Chunk == Tokens.Count;
}
