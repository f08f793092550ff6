using System.CommandLine;
using Quanta.Bench.Kernels;
using Quanta.Cli.Commands;

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
            KernelBenchmark.Run(new KernelBenchOptions(pr.GetValue(preset)!, ms, pr.GetValue(group), pr.GetValue(lmHead)), Console.Out, ct);
            return Task.FromResult(0);
        }));
        bench.Subcommands.Add(cmd);
    }
}
