using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>Token choice on the GPU: the logits rows never leave the device, only ids and logprobs do.</summary>
public sealed unsafe partial class CudaModelRunner : IDeviceSampler
{
    CudaSampler? _sampler;

    /// <summary>The forward of <see cref="Forward"/>, then per <see cref="CudaScratch.LogitRows"/> rows: lm_head into the logits scratch, sample_rows.</summary>
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
        var step = Run(b);
        for (int r = 0; r < n; r += CudaScratch.LogitRows)
            sm.Launch(_s.Logits, V, r, Head(step, r, n));
        sm.Download(ids[..n], logprobs[..n]);
        BookProfile();
    }
}
