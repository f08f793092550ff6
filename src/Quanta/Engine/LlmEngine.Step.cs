using System.Runtime.InteropServices;

namespace Quanta.Engine;

public sealed partial class LlmEngine
{
    readonly ForwardBatch _batch = new();
    readonly List<Sequence> _single = new(1);
    float[] _logits = [];          // [logit rows, vocab] fp32
    int[] _topIds = [];            // [top_n]
    float[] _topLogprobs = [];     // [top_n]
    RowSampling[] _rowSampling = []; // [logit rows] device-sampled step: how each row is sampled
    int[] _rowIds = [];            // [logit rows] device-sampled step: chosen ids
    float[] _rowLogprobs = [];     // [logit rows] device-sampled step: their logprobs
    bool _onDevice;                // this step's tokens were chosen by the runner (no logits on the host)

    /// <summary>One engine step: schedule, build the batch, run the model, sample and post-process.</summary>
    void Step()
    {
        if (_queued is not null) { Advance(); return; }
        var seqs = _scheduler.Schedule();
        if (seqs.Count == 0) { Thread.Sleep(1); return; }
        if (TryQueue(seqs)) return;
        if (TryForward(seqs, out var error)) PostprocessAll(seqs);
        else Retry(seqs, error);
    }

    /// <summary>After a failed step: each sequence alone (same slots, same values: a batch-invariant rerun) finds the culprit.</summary>
    void Retry(IReadOnlyList<Sequence> seqs, string error)
    {
        if (seqs.Count == 1) { FailRequest(_requests[seqs[0].Id], $"forward pass failed: {error}"); return; }
        foreach (var s in seqs.ToList())
        {
            _single.Clear();
            _single.Add(s);
            if (TryForward(_single, out error)) PostprocessAll(_single);
            else FailRequest(_requests[s.Id], $"forward pass failed: {error}");
        }
    }

    bool TryForward(IReadOnlyList<Sequence> seqs, out string error)
    {
        int rows = BuildBatch(seqs);
        _onDevice = _deviceSampler is not null && AllSimple(seqs);
        if (!_onDevice && _logits.Length < rows * _vocab) _logits = new float[Math.Max(rows * _vocab, _logits.Length * 2)];
        try
        {
            if (_onDevice) ForwardSample(seqs, rows);
            else _runner.Forward(_batch, _logits.AsSpan(0, rows * _vocab));
            error = "";
            return true;
        }
        catch (Exception e)
        {
            error = $"{e.GetType().Name}: {e.Message}";
            return false;
        }
    }

    /// <summary>No prompt logprobs in the step, and every sequence that samples asks only for what a device sampler does.</summary>
    bool AllSimple(IReadOnlyList<Sequence> seqs)
    {
        foreach (var s in seqs)
        {
            var r = _requests[s.Id];
            if (r.PromptLogitRows || (s.SamplesThisStep && !RowSampling.IsSimple(s.Params))) return false;
        }
        return true;
    }

    /// <summary>
    /// The runner chooses each row's token. Uniforms come from copies of the requests' RNGs: Postprocess advances
    /// the RNGs themselves once the step has succeeded (a failed batch is retried sequence by sequence).
    /// </summary>
    void ForwardSample(IReadOnlyList<Sequence> seqs, int rows)
    {
        SampleRows(seqs, rows, ahead: false);
        _deviceSampler!.ForwardSample(_batch, _rowSampling.AsSpan(0, rows), _rowIds.AsSpan(0, rows), _rowLogprobs.AsSpan(0, rows));
        CheckIds(rows);
    }

    /// <summary>
    /// Each sequence's row parameters with its request's next uniform (drawn from a copy: Postprocess advances the RNG),
    /// or with <paramref name="ahead"/> the one after it (the step before is queued and not yet post-processed).
    /// </summary>
    /// <remarks>Row of a sequence: its request's LogitRow, or with <paramref name="rowIsIndex"/> its index in <paramref name="seqs"/>.</remarks>
    void SampleRows(IReadOnlyList<Sequence> seqs, int rows, bool ahead, bool rowIsIndex = false)
    {
        if (_rowIds.Length < rows)
        {
            int n = Math.Max(rows, 2 * _rowIds.Length);
            _rowSampling = new RowSampling[n]; _rowIds = new int[n]; _rowLogprobs = new float[n];
        }
        for (int i = 0; i < seqs.Count; i++)
        {
            var s = seqs[i];
            var r = _requests[s.Id];
            if (r.LogitRows == 0) continue;
            var rng = r.Sampler.Rng;
            if (ahead && s.Params.DoSample) rng.NextDouble();
            var row = RowSampling.For(s.Params, _vocab, s.Params.DoSample ? rng.NextDouble() : 0);
            // A constrained row's mask is its grammar's for the state after the last accepted token (a cached lookup once
            // the state has been met), so a step queued ahead never holds one (TryQueue).
            if (r.Sampler.Grammar is { } g)
                row = ahead ? throw new InvalidOperationException("a constrained row in a step queued ahead") : row with { Mask = g.Allowed() };
            _rowSampling[rowIsIndex ? i : r.LogitRow] = row;
        }
    }

    void CheckIds(int rows)
    {
        for (int i = 0; i < rows; i++)
            if ((uint)_rowIds[i] >= (uint)_vocab) throw new InvalidOperationException($"device sampler chose id {_rowIds[i]} for row {i}, outside vocab {_vocab}");
    }

    void PostprocessAll(IReadOnlyList<Sequence> seqs)
    {
        foreach (var s in seqs)
        {
            if (!_requests.TryGetValue(s.Id, out var r)) continue;   // ended while its step was queued (cancelled)
            try { Postprocess(r); }
            catch (Exception e) { FailRequest(r, $"{e.GetType().Name}: {e.Message}"); }
        }
    }

    /// <summary>Fills the reusable ForwardBatch (arrays only grow); returns the number of logits rows.</summary>
    int BuildBatch(IReadOnlyList<Sequence> seqs)
    {
        var b = _batch;
        int nTok = 0, maxBlocks = 0, rows = 0;
        foreach (var s in seqs) { nTok += s.Chunk; maxBlocks = Math.Max(maxBlocks, s.BlockTable.Count); }
        Size(nTok, seqs.Count, maxBlocks);
        var now = DateTime.UtcNow;
        int t = 0, bs = _blocks.BlockSize;
        for (int i = 0; i < seqs.Count; i++)
        {
            var s = seqs[i];
            var r = _requests[s.Id];
            r.FirstScheduledUtc ??= now;
            b.QueryStart[i] = t;
            b.ContextLens[i] = s.NumComputed + s.Chunk;
            var table = b.BlockTables.AsSpan(i * maxBlocks, maxBlocks);
            table.Fill(-1);
            CollectionsMarshal.AsSpan(s.BlockTable).CopyTo(table);
            bool allRows = r.PromptLogitRows = NeedsPromptLogprobs(r);
            r.LogitRow = rows;
            r.LogitRows = allRows ? s.Chunk : s.SamplesThisStep ? 1 : 0;
            for (int j = 0; j < s.Chunk; j++, t++)
            {
                int pos = s.NumComputed + j;
                b.TokenIds[t] = s.Tokens[pos];
                b.Positions[t] = pos;
                b.SlotMapping[t] = s.BlockTable[pos / bs] * bs + pos % bs;
                if (allRows || (j == s.Chunk - 1 && s.SamplesThisStep)) b.LogitIndices[rows++] = t;
            }
        }
        b.QueryStart[seqs.Count] = t;
        b.NumLogits = rows;
        return rows;
    }

    static bool NeedsPromptLogprobs(RequestState r) =>
        r.Request.PromptLogprobs && r.Seq.NumComputed < r.Seq.PromptLength - 1 && float.IsNaN(r.PrefillLogprobs[^1].Logprob);

    void Postprocess(RequestState r)
    {
        var s = r.Seq;
        var logits = _onDevice ? [] : _logits.AsSpan(r.LogitRow * _vocab, r.LogitRows * _vocab);
        if (r.PromptLogitRows) FillPromptLogprobs(r, logits);
        bool samples = s.SamplesThisStep;
        s.NumComputed += s.Chunk;
        s.Chunk = 0;
        _blocks.CommitComputed(s);
        if (!samples) return;

        var p = s.Params;
        int n = Math.Min(p.TopNTokens, _vocab);
        if (_topIds.Length < n) { _topIds = new int[n]; _topLogprobs = new float[n]; }
        int id;
        float logprob;
        if (_onDevice)
        {
            (id, logprob) = (_rowIds[r.LogitRow], _rowLogprobs[r.LogitRow]);
            if (p.DoSample) r.Sampler.Rng.NextDouble();   // the uniform the row was drawn at
        }
        else id = _sampler.Sample(logits[^_vocab..], p, r.Sampler, out logprob, _topIds.AsSpan(0, n), _topLogprobs.AsSpan(0, n));
        s.Tokens.Add(id);
        r.Sampler.Accept(id);
        var top = n == 0 ? [] : new TokenInfo[n];
        for (int i = 0; i < n; i++) top[i] = Info(_topIds[i], _topLogprobs[i]);
        // TGI's order: length, then EOS, then stop sequences. The last token carries the rest of the text.
        string delta = r.Streamer.Next(id);
        FinishReason? end = s.NumGenerated >= p.MaxNewTokens ? FinishReason.Length
            : !p.IgnoreEos && _eos.Contains(id) ? FinishReason.EosToken
            : r.Streamer.StopAt >= 0 ? FinishReason.StopSequence
            : null;
        if (end is not null and not FinishReason.StopSequence) delta += r.Streamer.Flush();
        int safe = end is null ? r.Streamer.SafeLength : r.Streamer.FinalLength;
        r.Events.Writer.TryWrite(new TokenGenerated(Info(id, logprob), top, delta) { SafeTextLength = safe, FinishReason = end });
        if (end is { } reason) Finish(r, reason);
    }

    /// <summary>Row j holds the logits at position NumComputed + j, which score the prompt token after it.</summary>
    void FillPromptLogprobs(RequestState r, ReadOnlySpan<float> logits)
    {
        var s = r.Seq;
        var prefill = r.PrefillLogprobs;
        for (int j = 0; j < r.LogitRows; j++)
        {
            int target = s.NumComputed + j + 1;
            if (target >= s.PromptLength || !float.IsNaN(prefill[target].Logprob)) continue;
            prefill[target] = prefill[target] with { Logprob = _sampler.LogProb(logits.Slice(j * _vocab, _vocab), s.Tokens[target]) };
        }
    }

    TokenInfo Info(int id, float logprob) =>
        id < 0 ? new TokenInfo(id, "", logprob, false) : new TokenInfo(id, _tokenizer.TokenText(id), logprob, _tokenizer.IsSpecial(id) || _eos.Contains(id));

    /// <summary>Sets the reusable batch's counts and grows its arrays (never shrinks) for these tokens, sequences and table width.</summary>
    void Size(int tokens, int seqs, int maxBlocks)
    {
        var b = _batch;
        b.NumTokens = tokens;
        b.NumSeqs = seqs;
        b.MaxBlocksPerSeq = maxBlocks;
        b.TokenIds = Grow(b.TokenIds, tokens);
        b.Positions = Grow(b.Positions, tokens);
        b.SlotMapping = Grow(b.SlotMapping, tokens);
        b.LogitIndices = Grow(b.LogitIndices, tokens);
        b.QueryStart = Grow(b.QueryStart, seqs + 1);
        b.ContextLens = Grow(b.ContextLens, seqs);
        b.BlockTables = Grow(b.BlockTables, seqs * maxBlocks);
    }

    static int[] Grow(int[] a, int n) => a.Length >= n ? a : new int[Math.Max(n, a.Length * 2)];
}
