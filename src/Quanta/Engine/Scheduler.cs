namespace Quanta.Engine;

/// <summary>
/// Continuous batching: each step keeps every running sequence going (decodes first, unfinished chunked
/// prefills within the prefill budget) and admits waiting sequences, gated as TGI does by
/// waiting_served_ratio / max_waiting_tokens, while less than max_batch_prefill_tokens of admitted prompt
/// is still to compute. While sequences decode, the prompt tokens a step computes are what the step budget
/// (max_num_batched_tokens) leaves after one token per decoding sequence, so a long prompt arriving is
/// spread over several steps instead of stretching one step for every running request. Out of KV blocks:
/// the newest running sequence is preempted, its blocks freed, and it is recomputed later from its tokens.
/// </summary>
public sealed class Scheduler
{
    readonly BlockManager _blocks;
    readonly EngineOptions _options;
    readonly List<Sequence> _scheduled = [];
    int _stepsSinceAdmit;

    public List<Sequence> Running { get; } = [];
    /// <summary>FIFO; preempted sequences go back to the front.</summary>
    public List<Sequence> Waiting { get; } = [];
    public long Preemptions { get; private set; }

    public Scheduler(BlockManager blocks, EngineOptions options)
    {
        _blocks = blocks;
        _options = options;
    }

    public void Add(Sequence s)
    {
        s.Status = SequenceStatus.Waiting;
        Waiting.Add(s);
    }

    /// <summary>Removes a sequence (finished, cancelled or failed) and frees its blocks.</summary>
    public void Remove(Sequence s)
    {
        if (!Running.Remove(s)) Waiting.Remove(s);
        _blocks.Free(s);
        s.Status = SequenceStatus.Finished;
    }

    /// <summary>The sequences to run this step, each with its <see cref="Sequence.Chunk"/> set, running ones first.</summary>
    public IReadOnlyList<Sequence> Schedule()
    {
        _scheduled.Clear();
        int compute = PrefillBudget(), pending = 0;   // prompt tokens to compute this step / of running sequences
        for (int i = 0; i < Running.Count; i++)
        {
            var s = Running[i];
            int remaining = s.Count - s.NumComputed;
            int chunk = remaining == 1 ? 1 : Math.Min(Math.Min(remaining, compute), s.MaxChunk);
            if (chunk == 0) { s.Chunk = 0; pending += remaining; continue; }
            if (!EnsureBlocks(s, s.NumComputed + chunk)) break;   // s itself was preempted: it was the newest
            if (remaining > 1) { compute -= chunk; pending += remaining; }
            s.Chunk = chunk;
            _scheduled.Add(s);
        }
        // TGI's prefill batch: admission is measured against max_batch_prefill_tokens less the prompt tokens admitted
        // and not yet computed; the step budget only spreads their computing over steps.
        int admit = _options.MaxBatchPrefillTokens - pending;
        int admitted = admit > 0 && AdmissionOpen(admit) ? Admit(admit, ref compute) : 0;
        _stepsSinceAdmit = admitted > 0 ? 1 : _stepsSinceAdmit + 1;   // TGI's waiting_tokens
        return _scheduled;
    }

    /// <summary>
    /// Prompt tokens this step may compute: all of max_batch_prefill_tokens when nothing decodes, else what the step
    /// budget leaves after one token per decoding sequence, at least <see cref="EngineOptions.MinPrefillTokensPerStep"/>.
    /// </summary>
    int PrefillBudget()
    {
        int decoding = 0;
        foreach (var s in Running)
            if (s.Count - s.NumComputed == 1) decoding++;
        int cap = _options.MaxBatchPrefillTokens;
        if (decoding == 0) return cap;
        return Math.Min(cap, Math.Max(EngineOptions.MinPrefillTokensPerStep, _options.StepTokenBudget - decoding));
    }

    /// <summary>Grows s's block table, preempting the newest running sequences as needed; false if s was preempted.</summary>
    bool EnsureBlocks(Sequence s, int tokens)
    {
        while (!_blocks.TryAppend(s, tokens))
        {
            var victim = Running[^1];
            Preempt(victim);
            if (victim == s) return false;
        }
        return true;
    }

    void Preempt(Sequence s)
    {
        Running.Remove(s);
        _blocks.Free(s);
        s.Status = SequenceStatus.Preempted;
        Waiting.Insert(0, s);
        Preemptions++;
    }

    /// <summary>
    /// TGI: with a running batch, new prefills join only if at least floor(running * waiting_served_ratio)
    /// of them fit, unless max_waiting_tokens steps passed since the last admission.
    /// </summary>
    bool AdmissionOpen(int budget)
    {
        if (Waiting.Count == 0 || Running.Count >= _options.MaxRunningSequences) return false;
        if (Running.Count == 0 || _stepsSinceAdmit >= _options.MaxWaitingTokens) return true;
        int minSize = (int)Math.Floor(Running.Count * _options.WaitingServedRatio);
        if (minSize == 0) return true;
        int fit = 0, free = _blocks.FreeBlocks;
        foreach (var s in Waiting)
        {
            int need = _blocks.BlocksFor(s.Count);
            if (budget <= 0 || need > free || Running.Count + fit >= _options.MaxRunningSequences) break;
            free -= need;
            budget -= s.Count;
            if (++fit >= minSize) return true;
        }
        return false;
    }

    /// <summary>
    /// Admits waiting sequences in order while <paramref name="admit"/> prompt tokens are left; each computes what is left of
    /// <paramref name="compute"/> this step (none: it waits in the running batch for a later step).
    /// </summary>
    int Admit(int admit, ref int compute)
    {
        int admitted = 0;
        while (Waiting.Count > 0 && admit > 0 && Running.Count < _options.MaxRunningSequences)
        {
            var s = Waiting[0];
            if (!_blocks.TryAllocate(s)) break;
            Waiting.RemoveAt(0);
            s.Status = SequenceStatus.Running;
            Running.Add(s);
            int remaining = s.Count - s.NumComputed;
            admit -= remaining;
            s.Chunk = Math.Min(Math.Min(remaining, compute), s.MaxChunk);
            compute -= s.Chunk;
            if (s.Chunk > 0) _scheduled.Add(s);
            admitted++;
        }
        return admitted;
    }
}
