using System.Diagnostics;
using Quanta.Engine;

namespace Quanta.Cuda;

public sealed unsafe partial class CudaModelRunner
{
    /// <summary>
    /// Captures the decode graph of every batch bucket from 2 rows to the planner's graph rows (<see cref="StepPlanner.Bucket"/>)
    /// before the first request: each bucket's step runs once eagerly, then once captured, on a batch of one-token sequences at
    /// position 0 (their K/V go to blocks no request holds yet). A server's first steps of each size would otherwise pay that
    /// capture while its requests wait. These graphs are the ones steps of contexts up to 1,024 tokens (and, at 64 rows or
    /// fewer, under 256) replay; one-row steps and longer contexts capture theirs on first use, as before.
    /// </summary>
    void WarmDecodeGraphs(int graphRows, TextWriter? log)
    {
        var sw = Stopwatch.StartNew();
        int buckets = 0;
        for (int n = 2; n <= graphRows; n = StepPlanner.Bucket(n + 1))
        {
            var seqs = new SeqTokens[n];
            for (int i = 0; i < n; i++) seqs[i] = new SeqTokens([i % NumBlocks], 0, [0]);
            var b = ForwardBatch.Of(BlockSize, seqs);
            var plan = _planner.Plan(b, _s.Capacity, SamplerRows.Sampled);
            if (!plan.Graph) break;
            // Each step waits for the one before, as the engine's loop does (it collects a step before writing the one after
            // next): a step's indices sit in one of two mapped host buffers until its stage kernel reads them, and a larger
            // bucket may reallocate that buffer.
            Execute(b, plan);   // eager: what a shape's first step does
            _ctx.Synchronize();
            Execute(b, plan);   // captured
            _ctx.Synchronize();
            buckets++;
        }
        log?.WriteLine($"cuda: decode graphs of {buckets} batch sizes (2 to {graphRows} rows) captured in {sw.Elapsed.TotalMilliseconds:F0} ms");
    }
}
