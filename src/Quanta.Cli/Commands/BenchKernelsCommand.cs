using System.CommandLine;
using Quanta.Bench.Synth;
using Quanta.Cli.Commands;
using Quanta.Cuda;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddBenchKernels(Command bench)
    {
        var cmd = new Command("kernels", "GPTQ 4-bit linear kernels on the GPU at a model's layer shapes: error against the CPU, µs per call, GB/s");
        var preset = new Option<string>("--preset") { Description = "Layer shapes of llama-2-7b | llama-2-13b | llama-3-8b", DefaultValueFactory = _ => "llama-2-7b" };
        var rows = new Option<string>("--rows") { Description = "Comma list of row counts (tokens per call)", DefaultValueFactory = _ => "1,8,32,64" };
        var group = new Option<int>("--group-size") { Description = "GPTQ group size (-1 = per channel)", DefaultValueFactory = _ => 128 }.Must(v => v == -1 || v > 0, "-1 (per channel) or a positive number of input columns");
        var lmHead = new Option<bool>("--lm-head-only") { Description = "Only the f16 lm_head of one row: cuBLAS against the lm_head kernel, with and without the greedy choice" };
        foreach (var o in new Option[] { preset, rows, group, lmHead }) cmd.Options.Add(o);
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(() =>
        {
            var ms = pr.GetValue(rows)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var b) && b > 0 ? b : throw new ArgumentException($"--rows: '{s}' is not a positive integer")).ToArray();
            if (CudaContext.Unavailable() is { } why) throw new InvalidOperationException($"bench kernels needs a CUDA GPU: {why}");
            var c = SynthModel.Preset(pr.GetValue(preset)!);
            int h = c.HiddenSize, kv = c.NumKvHeads * (h / c.NumHeads), ffn = c.IntermediateSize;
            (string, int, int)[] shapes = [("qkv_proj", h, h + 2 * kv), ("o_proj", h, h), ("gate_up_proj", h, 2 * ffn), ("down_proj", ffn, h)];
            double bw = CudaBench.CopyBandwidth();
            Console.WriteLine($"device: {CudaContext.Shared.Name}; copy bandwidth {bw / 1e9:F0} GB/s; group size {pr.GetValue(group)}");
            if (!pr.GetValue(lmHead))
            {
                Console.WriteLine("registers per thread (local bytes): " + string.Join(", ", KernelBench.GptqKernels.Select(k =>
                {
                    var (regs, local) = KernelBench.Resources("gptq", k);
                    return $"{k} {regs} ({local})";
                })));
                Console.WriteLine("layer | in x out | rows | us/call | GB/s | of copy BW | max abs err");
                foreach (var t in KernelBench.Gptq(shapes, ms, pr.GetValue(group)))
                {
                    ct.ThrowIfCancellationRequested();
                    Console.WriteLine($"{t.Name,-23} | {t.In} x {t.Out} | {t.Rows,3} | {t.Microseconds,8:F1} | {t.GBps,6:F0} | {t.GBps * 1e9 / bw,6:P0} | {t.MaxError:E1}");
                }
                Console.WriteLine("decode step, batch 1 | us/call");
                foreach (int ctxLen in new[] { 80, 2048 })
                    foreach (var (name, us) in KernelBench.DecodeOps(c, ctxLen))
                        if (ctxLen == 80 || name.StartsWith("paged")) Console.WriteLine($"{name,-48} | {us,6:F1}");
            }
            var lm = KernelBench.LmHead(c.VocabSize, h);
            Console.WriteLine($"lm_head f16 {lm.Vocab} x {lm.Hidden}, one row, us: cuBLAS {lm.Cublas:F1}, + greedy_rows {lm.CublasGreedy:F1}; " +
                $"kernel {lm.Kernel:F1} ({2.0 * lm.Vocab * lm.Hidden / lm.Kernel / 1e3:F0} GB/s), with its greedy choice {lm.KernelGreedy:F1}; max |kernel - cuBLAS| {lm.MaxDiff:E1}");
            return Task.FromResult(0);
        }));
        bench.Subcommands.Add(cmd);
    }
}
