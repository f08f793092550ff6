using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>Token choice on the GPU: the logits rows never leave the device, only ids and logprobs do.</summary>
public sealed unsafe partial class CudaModelRunner : IDeviceSampler
{
    CudaSampler? _sampler;

    /// <summary>
    /// Forward with no rows to download (every token's final-norm output stays in the scratch), then per
    /// <see cref="CudaScratch.LogitRows"/> rows: gather, lm_head into the logits scratch, sample_rows.
    /// </summary>
    public void ForwardSample(ForwardBatch b, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs)
    {
        int n = b.NumLogits, V = _c.VocabSize;
        if (rows.Length < n || ids.Length < n || logprobs.Length < n)
            throw new ArgumentException($"ForwardSample: {n} logits rows but {rows.Length} row parameters, {ids.Length} ids, {logprobs.Length} logprobs");
        if (n == 0) { Forward(b, []); return; }
        b.Validate(BlockSize, NumBlocks, V);
        _ctx.MakeCurrent();
        var sm = _sampler ??= new CudaSampler(_mem);
        sm.Upload(rows[..n]);
        fixed (int* p = b.LogitIndices) _ctx.Upload(sm.Indices, p, 4L * n);
        b.NumLogits = 0;
        try { Forward(b, []); }
        finally { b.NumLogits = n; }
        for (int r = 0; r < n; r += CudaScratch.LogitRows)
        {
            int m = Math.Min(CudaScratch.LogitRows, n - r);
            _k.GatherRows(_s.Xn, sm.Indices + 4UL * (ulong)r, _s.Final, _hidden, m);
            _w.LmHead.Forward(_s.Final, _s.Logits, m, _s.Linear);
            sm.Launch(_s.Logits, V, r, m);
        }
        sm.Download(ids[..n], logprobs[..n]);
    }
}
