using System.CommandLine;
using Quanta.Bench.Synth;
using Quanta.Cli.Commands;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddModel(RootCommand root)
    {
        var model = new Command("model", "Model tools");
        var synth = new Command("synth", "Write a loadable Hugging Face checkpoint with random weights of a real model's shapes");
        var preset = new Option<string>("--preset") { Description = "llama-2-7b | llama-2-13b | llama-3-8b", Required = true };
        var quantize = new Option<string?>("--quantize") { Description = "gptq = 4-bit GPTQ linear layers (default: fp16)" };
        var bits = new Option<int>("--bits") { Description = "GPTQ bits (only 4)", DefaultValueFactory = _ => 4 }.Must(v => v == 4, "4 (only 4-bit GPTQ is supported)");
        var group = new Option<int>("--group-size") { Description = "GPTQ group size (-1 = per channel)", DefaultValueFactory = _ => 128 };
        var actOrder = new Option<bool>("--act-order") { Description = "GPTQ act-order: shuffled g_idx, desc_act = true" };
        var layers = new Option<int?>("--layers") { Description = "Override the number of layers (smaller test models)" }.AtLeast(1);
        var tokenizer = new Option<string?>("--tokenizer") { Description = "A tokenizer.model to copy into the folder (none is written otherwise)" };
        var output = new Option<string>("--output") { Description = "Folder to write", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        foreach (var o in new Option[] { preset, quantize, bits, group, actOrder, layers, tokenizer, output, seed }) synth.Options.Add(o);
        synth.SetAction((ParseResult pr, CancellationToken ct) => Commands.CommandGuard.Run(async () =>
        {
            var spec = SynthModel.Preset(pr.GetValue(preset)!);
            if (pr.GetValue(layers) is { } n) spec = spec with { NumLayers = n };
            var q = pr.GetValue(quantize);
            if (q is not (null or "gptq")) throw new ArgumentException($"--quantize must be gptq, not '{q}'");
            int gs = pr.GetValue(group);
            if (q is not null && gs != -1 && (gs <= 0 || gs % 8 != 0 || spec.HiddenSize % gs != 0 || spec.IntermediateSize % gs != 0))
                throw new ArgumentException($"--group-size {gs} must be -1 or a multiple of 8 that divides {spec.HiddenSize} and {spec.IntermediateSize}");
            var tok = pr.GetValue(tokenizer);
            if (tok is not null && !File.Exists(tok)) throw new FileNotFoundException($"--tokenizer {tok}: file not found");
            var dir = pr.GetValue(output)!;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            long bytes = await Task.Run(() => new SynthModel(spec, q is null ? null : gs, pr.GetValue(actOrder), pr.GetValue(seed)).Write(dir, tok, ct), ct);
            Console.WriteLine($"wrote {dir}: {bytes / 1e9:F2} GB in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        }));
        model.Subcommands.Add(synth);
        root.Subcommands.Add(model);
    }
}
