namespace Quanta.Engine;

/// <summary>
/// Decode steps queued ahead (<see cref="EngineOptions.QueueAhead"/>): while the device runs step N, the engine queues
/// step N+1 for the same sequences one position further, each token fed on the device from N's choice, and only then
/// collects and post-processes N. The host's work of a step (collecting, detokenising, streaming, building and
/// uploading the next batch) overlaps the device's instead of leaving it idle. A sequence that ends in N wastes its
/// row of N+1, whose result is dropped; anything else (a waiting request, a prefill, a sampler the device lacks, no
/// free block) ends the run of queued steps and the next step is scheduled as usual.
/// </summary>
public sealed partial class LlmEngine
{
    List<Sequence>? _queued;       // the queued, uncollected step's sequences; logits row i is sequence i
    int[] _feed = [];              // [tokens] row of the queued step whose id each token of the continuation takes

    /// <summary>Steps queued while the step before them was still running (tests and stats).</summary>
    public long StepsQueuedAhead { get; private set; }

    /// <summary>Queues a pure decode step whose every row the device samples; false: run it the usual way.</summary>
    bool TryQueue(IReadOnlyList<Sequence> seqs)
    {
        if (!_queueAhead || _deviceSampler is not { CanQueue: true } q) return false;
        // A decode row never asks for prompt logprobs, so the device takes the step when it can sample every row.
        foreach (var s in seqs)
            if (s.Chunk != 1 || !s.SamplesThisStep || !RowSampling.IsSimple(s.Params)) return false;
        int rows = BuildBatch(seqs);
        SampleRows(seqs, rows, ahead: false);
        try { q.Queue(_batch, _rowSampling.AsSpan(0, rows), []); }
        catch (Exception) { return false; }   // the usual path runs it again and reports the error
        _queued = [.. seqs];
        return true;
    }

    /// <summary>Queues the continuation of the queued step where it can, then collects and post-processes that step.</summary>
    void Advance()
    {
        var q = _deviceSampler!;
        var step = _queued!;
        bool next = CanContinue(step);
        if (next)
        {
            int rows = BuildContinuation(step);
            SampleRows(step, rows, ahead: true);
            try
            {
                q.Queue(_batch, _rowSampling.AsSpan(0, rows), _feed.AsSpan(0, rows));
                StepsQueuedAhead++;
            }
            catch (Exception) { next = false; }
        }
        _queued = null;
        try
        {
            q.Collect(_rowIds.AsSpan(0, step.Count), _rowLogprobs.AsSpan(0, step.Count));
            CheckIds(step.Count);
        }
        catch (Exception e)
        {
            // Nothing stays queued after a failed collect: rerun the step's sequences the usual way to find the culprit.
            step.RemoveAll(s => s.Status == SequenceStatus.Finished);
            Retry(step, $"{e.GetType().Name}: {e.Message}");
            return;
        }
        _onDevice = true;
        PostprocessAll(step);
        if (!next) return;
        // The continuation's sequences are the step's; those that ended in it keep their (ignored) row.
        foreach (var s in step)
            if (s.Status == SequenceStatus.Running) s.Chunk = 1;
        _queued = step;
    }

    /// <summary>
    /// Whether the next step would be exactly the queued one moved on by a token: nothing waits to be admitted, every
    /// running sequence is in it and still running, and each gets a block for its next position without preempting.
    /// </summary>
    bool CanContinue(List<Sequence> step)
    {
        if (_scheduler.Waiting.Count > 0 || Volatile.Read(ref _pending) > 0 || _scheduler.Running.Count != step.Count) return false;
        bool anyLeft = false;
        foreach (var s in step)
        {
            if (s.Status != SequenceStatus.Running || _requests[s.Id].Request.Cancellation.IsCancellationRequested) return false;
            anyLeft |= s.NumGenerated + 1 < s.Params.MaxNewTokens;
        }
        if (!anyLeft) return false;
        foreach (var s in step)
            if (!_blocks.TryAppend(s, s.NumComputed + 2)) return false;
        return true;
    }

    /// <summary>The batch after the queued one: each sequence's next position, its token fed from the queued step's row.</summary>
    int BuildContinuation(List<Sequence> step)
    {
        var b = _batch;
        int n = step.Count, maxBlocks = 0, bs = _blocks.BlockSize;
        foreach (var s in step) maxBlocks = Math.Max(maxBlocks, s.BlockTable.Count);
        b.NumTokens = b.NumSeqs = b.NumLogits = n;
        b.MaxBlocksPerSeq = maxBlocks;
        b.TokenIds = Grow(b.TokenIds, n);
        b.Positions = Grow(b.Positions, n);
        b.SlotMapping = Grow(b.SlotMapping, n);
        b.LogitIndices = Grow(b.LogitIndices, n);
        b.QueryStart = Grow(b.QueryStart, n + 1);
        b.ContextLens = Grow(b.ContextLens, n);
        b.BlockTables = Grow(b.BlockTables, n * maxBlocks);
        _feed = Grow(_feed, n);
        for (int i = 0; i < n; i++)
        {
            var s = step[i];
            int pos = s.NumComputed + 1;   // the queued step computes NumComputed and chooses the token at pos
            b.QueryStart[i] = i;
            b.TokenIds[i] = 0;
            b.Positions[i] = pos;
            b.SlotMapping[i] = s.BlockTable[pos / bs] * bs + pos % bs;
            b.ContextLens[i] = pos + 1;
            b.LogitIndices[i] = i;
            _feed[i] = i;
            var table = b.BlockTables.AsSpan(i * maxBlocks, maxBlocks);
            table.Fill(-1);
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.BlockTable).CopyTo(table);
        }
        b.QueryStart[n] = n;
        return n;
    }
}
