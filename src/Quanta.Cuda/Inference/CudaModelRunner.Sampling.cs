using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>
/// Token choice on the GPU: the logits rows never leave the device, only ids and logprobs do. Steps can be queued two
/// deep (<see cref="Queue"/>, <see cref="Collect"/>): the engine queues a decode step, with its tokens fed on the device
/// from the step before, while that step is still running.
/// </summary>
public sealed unsafe partial class CudaModelRunner : IDeviceSampler
{
    CudaSampler? _sampler;
    int _outstanding;   // steps queued and not collected

    /// <summary>
    /// The forward of <see cref="Forward"/>, then per <see cref="CudaScratch.LogitRows"/> rows: lm_head into the logits
    /// scratch, mask_rows where a row has a mask, sample_rows.
    /// </summary>
    public void ForwardSample(ForwardBatch b, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs)
    {
        int n = b.NumLogits;
        if (rows.Length < n || ids.Length < n || logprobs.Length < n)
            throw new ArgumentException($"ForwardSample: {n} logits rows but {rows.Length} row parameters, {ids.Length} ids, {logprobs.Length} logprobs");
        if (_outstanding > 0) throw new InvalidOperationException("ForwardSample while queued steps are not collected");
        if (n == 0) { Forward(b, []); return; }
        Queue(b, rows, []);
        Collect(ids[..n], logprobs[..n]);
    }

    /// <summary>Not while profiling (<see cref="CudaRunnerOptions.Profile"/> books each step's events after it).</summary>
    public bool CanQueue => _prof is null;

    public void Queue(ForwardBatch b, ReadOnlySpan<RowSampling> rows, ReadOnlySpan<int> feed)
    {
        int n = b.NumLogits, V = _c.VocabSize;
        if (n == 0 || rows.Length < n) throw new ArgumentException($"Queue: {n} logits rows, {rows.Length} row parameters");
        if (_outstanding >= 2) throw new InvalidOperationException("two steps are already queued");
        b.Validate(BlockSize, NumBlocks, V);
        _ctx.MakeCurrent();
        var sm = _sampler ??= new CudaSampler(_mem);
        // Fed tokens read the ids of the step before where its sample wrote them: the buffers must not move.
        if (feed.Length > 0 && (_outstanding == 0 || n > sm.Capacity)) throw new InvalidOperationException("a fed step needs the step before it queued, with no more rows");
        ulong prev = sm.Ids;
        var parms = sm.Write(rows[..n], V);
        // A masked row needs its logits row (the mask is applied to it), as a sampled one does: no fused greedy choice.
        var step = Execute(b, _planner.Plan(b, _s.Capacity, sm.FusesGreedy ? SamplerRows.Greedy : SamplerRows.Sampled), feed, prev, parms, sm);
        if (step.Head is { } head)
        {
            if (head.Ids == 0) sm.Launch(_s.Logits, V, 0, n);   // the graph wrote the logits of a sampled row
        }
        else for (int r = 0; r < n; r += CudaScratch.LogitRows)
        {
            int m = Math.Min(CudaScratch.LogitRows, n - r);
            // A few greedy rows get their choice from the lm_head kernel itself.
            if (_lmHead is { } h && h.Takes(m) && sm.FusedGreedy(r, m, h.Blocks) is { } g) Head(step, r, n, g);
            else sm.Launch(_s.Logits, V, r, Head(step, r, n));
        }
        sm.MarkDone();
        _outstanding++;
    }

    public void Collect(Span<int> ids, Span<float> logprobs)
    {
        if (_outstanding == 0) throw new InvalidOperationException("no step is queued");
        try { _sampler!.Collect(ids, logprobs); }
        catch { _outstanding = 0; _sampler!.Reset(); throw; }
        _outstanding--;
        if (_outstanding == 0) BookProfile();
    }
}
