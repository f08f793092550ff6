using Quanta.Bench.Synth;
using Quanta.Cuda;

namespace Quanta.Bench.Kernels;

/// <summary>What <c>quanta bench kernels</c> runs.</summary>
/// <param name="Preset">layer shapes of a model (see <see cref="SynthModel.Preset"/>).</param>
/// <param name="Rows">row counts (tokens per call) of each GPTQ linear.</param>
/// <param name="GroupSize">GPTQ group size (-1 = per channel).</param>
/// <param name="LmHeadOnly">only the f16 lm_head of one row.</param>
public sealed record KernelBenchOptions(string Preset, int[] Rows, int GroupSize, bool LmHeadOnly);

/// <summary>The kernel report: GPTQ linears at a model's shapes, the other kernels of a decode step, and the lm_head.</summary>
public static class KernelBenchmark
{
    /// <summary>Runs the benchmarks of <paramref name="o"/> on GPU 0 and writes the tables to <paramref name="output"/>.</summary>
    public static void Run(KernelBenchOptions o, TextWriter output, CancellationToken ct)
    {
        if (CudaContext.Unavailable() is { } why) throw new InvalidOperationException($"bench kernels needs a CUDA GPU: {why}");
        var c = SynthModel.Preset(o.Preset);
        int h = c.HiddenSize, kv = c.NumKvHeads * (h / c.NumHeads), ffn = c.IntermediateSize;
        (string, int, int)[] shapes = [("qkv_proj", h, h + 2 * kv), ("o_proj", h, h), ("gate_up_proj", h, 2 * ffn), ("down_proj", ffn, h)];
        double bw = CopyBandwidth.Measure();
        var ctx = CudaContext.Shared;
        output.WriteLine($"device: {ctx.Name}; copy bandwidth {bw / 1e9:F0} GB/s; group size {o.GroupSize}");
        if (!o.LmHeadOnly)
        {
            output.WriteLine("registers per thread (local bytes): " + string.Join(", ", KernelProbe.GptqKernels.Select(k =>
            {
                var (regs, local) = ctx.KernelResources("gptq", k);
                return $"{k} {regs} ({local})";
            })));
            output.WriteLine("layer | in x out | rows | us/call | GB/s | of copy BW | max abs err");
            foreach (var t in KernelBench.Gptq(shapes, o.Rows, o.GroupSize))
            {
                ct.ThrowIfCancellationRequested();
                output.WriteLine($"{t.Name,-23} | {t.In} x {t.Out} | {t.Rows,3} | {t.Microseconds,8:F1} | {t.GBps,6:F0} | {t.GBps * 1e9 / bw,6:P0} | {t.MaxError:E1}");
            }
            output.WriteLine("decode step, batch 1 | us/call");
            foreach (int ctxLen in new[] { 80, 2048 })
                foreach (var (name, us) in KernelBench.DecodeOps(c, ctxLen))
                    if (ctxLen == 80 || name.StartsWith("paged")) output.WriteLine($"{name,-48} | {us,6:F1}");
        }
        var lm = KernelBench.LmHead(c.VocabSize, h);
        output.WriteLine($"lm_head f16 {lm.Vocab} x {lm.Hidden}, one row, us: cuBLAS {lm.Cublas:F1}, + greedy_rows {lm.CublasGreedy:F1}; " +
            $"kernel {lm.Kernel:F1} ({2.0 * lm.Vocab * lm.Hidden / lm.Kernel / 1e3:F0} GB/s), with its greedy choice {lm.KernelGreedy:F1}; max |kernel - cuBLAS| {lm.MaxDiff:E1}");
    }
}
