namespace Quanta.Engine;

/// <summary>
/// Decode steps queued ahead (<see cref="EngineOptions.QueueAhead"/>): while the device runs step N, the engine queues
/// step N+1 for the same sequences one position further, each token fed on the device from N's choice, and only then
/// collects and post-processes N. The host's work of a step (collecting, detokenising, streaming, building and
/// uploading the next batch) overlaps the device's instead of leaving it idle. A sequence that ends in N wastes its
/// row of N+1, whose result is dropped, and the run goes on without it from N+2; anything else (a waiting request, a
/// prefill, a sampler the device lacks, a constrained row, no free block) ends the run of queued steps and the next step is scheduled as usual.
/// </summary>
public sealed partial class LlmEngine
{
    List<Sequence>? _queued;       // the queued, uncollected step's sequences; logits row i is sequence i
    readonly List<Sequence>[] _runLists = [[], []];   // a run's queued step and its continuation alternate between these
    int[] _feed = [];              // [tokens] row of the queued step whose id each token of the continuation takes

    /// <summary>Steps queued while the step before them was still running (tests and stats).</summary>
    public long StepsQueuedAhead { get; private set; }

    /// <summary>Queues a pure decode step whose every row the device samples; false: run it the usual way.</summary>
    bool TryQueue(IReadOnlyList<Sequence> seqs)
    {
        if (!_queueAhead || _deviceSampler is not { CanQueue: true } q) return false;
        // A decode row never asks for prompt logprobs, so the device takes the step when it can sample every row. A
        // constrained row's next mask depends on the token this step chooses: its steps are not queued ahead.
        foreach (var s in seqs)
            if (s.Chunk != 1 || !s.SamplesThisStep || !RowSampling.IsSimple(s.Params) || _requests[s.Id].Sampler.Grammar is not null) return false;
        int rows = BuildBatch(seqs);
        SampleRows(seqs, rows, ahead: false);
        try { q.Queue(_batch, _rowSampling.AsSpan(0, rows), []); }
        catch (Exception) { return false; }   // the usual path runs it again and reports the error
        var list = _runLists[0];
        list.Clear();
        list.AddRange(seqs);
        _queued = list;
        return true;
    }

    /// <summary>Queues the continuation of the queued step where it can, then collects and post-processes that step.</summary>
    void Advance()
    {
        var q = _deviceSampler!;
        var step = _queued!;
        var next = Continuation(step);
        if (next is not null)
        {
            int rows = BuildContinuation(step, next);
            SampleRows(next, rows, ahead: true, rowIsIndex: true);
            try
            {
                q.Queue(_batch, _rowSampling.AsSpan(0, rows), _feed.AsSpan(0, rows));
                StepsQueuedAhead++;
            }
            catch (Exception) { next = null; }
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
        if (next is null) return;
        // The continuation's row i is next[i]; those that ended in the step keep their (ignored) row.
        for (int i = 0; i < next.Count; i++)
        {
            if (next[i].Status == SequenceStatus.Running) next[i].Chunk = 1;
            if (_requests.TryGetValue(next[i].Id, out var r)) r.LogitRow = i;
        }
        _queued = next;
    }

    /// <summary>
    /// The sequences of the step after the queued one, if it is the queued step moved on by a token for those still
    /// running (sequences that ended in the step before drop out): nothing waits to be admitted, every running sequence
    /// is in it, and each gets a block for its next position without preempting; else null.
    /// </summary>
    List<Sequence>? Continuation(List<Sequence> step)
    {
        if (_scheduler.Waiting.Count > 0 || Volatile.Read(ref _pending) > 0) return null;
        var next = _runLists[ReferenceEquals(step, _runLists[0]) ? 1 : 0];   // the other list: no allocation per step
        next.Clear();
        bool anyLeft = false;
        foreach (var s in step)
        {
            if (s.Status != SequenceStatus.Running) continue;
            if (_requests[s.Id].Request.Cancellation.IsCancellationRequested) return null;
            anyLeft |= s.NumGenerated + 1 < s.Params.MaxNewTokens;
            next.Add(s);
        }
        if (!anyLeft || _scheduler.Running.Count != next.Count) return null;
        foreach (var s in next)
            if (!_blocks.TryAppend(s, s.NumComputed + 2)) return null;
        return next;
    }

    /// <summary>
    /// The batch after the queued one: each of <paramref name="next"/>'s sequences at its next position, its token fed from
    /// its row of the queued step.
    /// </summary>
    int BuildContinuation(List<Sequence> step, List<Sequence> next)
    {
        var b = _batch;
        int n = next.Count, maxBlocks = 0, bs = _blocks.BlockSize;
        foreach (var s in next) maxBlocks = Math.Max(maxBlocks, s.BlockTable.Count);
        Size(n, n, maxBlocks);
        b.NumLogits = n;
        _feed = Grow(_feed, n);
        for (int i = 0, row = 0; i < n; i++, row++)
        {
            var s = next[i];
            while (step[row] != s) row++;   // next keeps step's order
            int pos = s.NumComputed + 1;   // the queued step computes NumComputed and chooses the token at pos
            b.QueryStart[i] = i;
            b.TokenIds[i] = 0;
            b.Positions[i] = pos;
            b.SlotMapping[i] = s.BlockTable[pos / bs] * bs + pos % bs;
            b.ContextLens[i] = pos + 1;
            b.LogitIndices[i] = i;
            _feed[i] = row;
            var table = b.BlockTables.AsSpan(i * maxBlocks, maxBlocks);
            table.Fill(-1);
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.BlockTable).CopyTo(table);
        }
        b.QueryStart[n] = n;
        return n;
    }
}
