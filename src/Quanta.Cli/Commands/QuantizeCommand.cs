using System.CommandLine;
using System.Diagnostics;
using Quanta.Cli.Commands;
using Quanta.IO;
using Quanta.Quantization;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddQuantize(RootCommand root)
    {
        root.Subcommands.Add(QuantizeCommand());
        root.Subcommands.Add(PerplexityCommand());
    }

    static Command QuantizeCommand()
    {
        var model = new Option<string>("--model-id") { Description = "Unquantized model: HF folder (fp16/bf16/fp32) or llama2.c .bin", Required = true };
        var output = new Option<string>("--output") { Description = "Output folder (AutoGPTQ checkpoint)", Required = true };
        var bits = new Option<int>("--bits") { Description = "Bits per weight (4)", DefaultValueFactory = _ => 4 }.Must(v => v == 4, "4 (only 4-bit GPTQ is supported)");
        var group = new Option<int>("--group-size") { Description = "Input columns per group; -1 = per channel", DefaultValueFactory = _ => 128 }.Must(v => v == -1 || v > 0, "-1 (per channel) or a positive number of input columns");
        var actOrder = new Option<bool>("--act-order") { Description = "Quantize columns in descending Hessian diagonal order (desc_act)" };
        var sym = new Option<bool>("--sym") { Description = "Symmetric zero points (default)" };
        var asym = new Option<bool>("--asym") { Description = "Asymmetric zero points" };
        var damp = new Option<double>("--damp") { Description = "Dampening, fraction of the mean Hessian diagonal", DefaultValueFactory = _ => 0.01 }.Must(v => v is > 0 and < 1, "in (0, 1)");
        var trueSeq = new Option<bool>("--true-sequential") { Description = "Quantize q/k/v, o, gate/up, down in turn within a layer, each on inputs after the previous ones (default; false = all from the unquantized layer)", DefaultValueFactory = _ => true };
        var staticGroups = new Option<bool>("--static-groups") { Description = "GPTQ: fix each group's scale and zero from the original weights of consecutive columns before quantizing (AutoGPTQ's static_groups; with --act-order, g_idx stays column / group)" };
        var mse = new Option<bool>("--mse") { Description = "Clip each group's range by minimising its |w - q|^2.4 error (the published quantizer's search; RTN and GPTQ alike)" };
        var method = new Option<string>("--method") { Description = "gptq or rtn (round to nearest)", DefaultValueFactory = _ => "gptq" };
        var dataset = new Option<string?>("--dataset") { Description = "Calibration text: plain text or JSONL with a \"text\" field" };
        var nsamples = new Option<int>("--nsamples") { Description = "Calibration windows", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var seqlen = new Option<int>("--seqlen") { Description = "Tokens per calibration window", DefaultValueFactory = _ => 2048 }.AtLeast(2);
        var seed = new Option<int>("--seed") { Description = "Seed of the window sampling", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "auto, cpu or cuda (auto = CUDA when a GPU is usable)", DefaultValueFactory = _ => "auto" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Write into an existing non-empty --output folder (files of the same names are replaced)" };
        var cmd = new Command("quantize", "Quantize a model to 4-bit GPTQ (AutoGPTQ format) on the CPU or a CUDA GPU")
        { model, output, bits, group, actOrder, sym, asym, damp, trueSeq, staticGroups, mse, method, dataset, nsamples, seqlen, seed, device, overwrite };
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(async () =>
        {
            await Task.Yield();
            string m = pr.GetValue(method)!;
            if (m is not ("gptq" or "rtn")) throw new ArgumentException($"--method must be gptq or rtn, not '{m}'");
            if (pr.GetValue(sym) && pr.GetValue(asym)) throw new ArgumentException("--sym and --asym exclude each other");
            var spec = new QuantSpec(pr.GetValue(bits), pr.GetValue(group), !pr.GetValue(asym), pr.GetValue(actOrder) && m == "gptq", pr.GetValue(damp),
                                     pr.GetValue(mse), pr.GetValue(staticGroups) && m == "gptq");
            string? ds = pr.GetValue(dataset);
            if (m == "gptq" && ds is null) throw new ArgumentException("--dataset is required for --method gptq");
            // Everything checkable without the model first: a bad --output or --dataset fails in a second, not after the work.
            string outDir = OutputFolder.Check(pr.GetValue(output)!, "--output", pr.GetValue(overwrite));
            DeviceChoice.Check(pr.GetValue(device)!);
            string? calibration = m == "gptq" ? CalibrationData.ReadText(ds!) : null;
            var sw = Stopwatch.StartNew();
            using var lm = ModelLoader.Load(pr.GetValue(model));
            void Log(string s) => Console.Error.WriteLine(s);
            if (pr.GetResult(group) is null or { Implicit: true } && QuantLayout.FitGroupSize(lm.Config, spec.GroupSize) is var fit && fit != spec.GroupSize)
            {
                Log($"--group-size {spec.GroupSize} (the default) does not divide the model's width {lm.Config.HiddenSize}: using {fit}");
                spec = spec with { GroupSize = fit };
            }
            var opt = new QuantizeOptions(spec, m == "gptq", pr.GetValue(trueSeq));
            QuantLayout.Check(lm, spec, _ => { });
            using var backend = QuantBackends.Create(lm.Config, pr.GetValue(device)!, Log);
            int[][] samples = [];
            if (opt.Gptq)
            {
                int len = pr.GetValue(seqlen);
                if (len > lm.Config.MaxPositionEmbeddings)
                {
                    Log($"--seqlen {len} exceeds max_position_embeddings; using {lm.Config.MaxPositionEmbeddings}");
                    len = lm.Config.MaxPositionEmbeddings;
                }
                var tokens = CalibrationData.Tokenize(lm.Tokenizer, calibration!, addBos: true);
                samples = CalibrationData.RandomWindows(tokens, pr.GetValue(nsamples), len, pr.GetValue(seed));
                Log($"calibration: {samples.Length} windows of {samples[0].Length} tokens from {ds} ({tokens.Length} tokens)");
            }
            var qsw = Stopwatch.StartNew();
            var q = ModelQuantizer.Run(lm, opt, samples, Log, (done, total) =>
            {
                double left = qsw.Elapsed.TotalSeconds / done * (total - done);
                Log($"layer {done}/{total} quantized, {qsw.Elapsed.TotalSeconds:F1} s elapsed, about {left:F1} s left");
            }, ct, backend);
            Log($"quantized on {backend.Device} in {qsw.Elapsed.TotalSeconds:F1} s");
            foreach (var r in q.Reports)
                Log($"  {r.Name,-36} [{r.Rows}x{r.Columns}]  |(W-Q)X|^2 {m} {r.Error:G4}  rtn {r.RtnError:G4}  ratio {r.Error / r.RtnError:F3}  {r.Seconds:F2} s");
            GptqCheckpointWriter.Write(outDir, lm, q, opt, Log);
            Console.WriteLine($"wrote {pr.GetValue(output)} ({m}, {spec.Bits}-bit, group {spec.GroupSize}, {(spec.Sym ? "sym" : "asym")}{(spec.ActOrder ? ", act-order" : "")}{(spec.StaticGroups ? ", static groups" : "")}{(spec.MseGrid ? ", mse grid" : "")}) in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        }));
        return cmd;
    }

    static Command PerplexityCommand()
    {
        var model = new Option<string>("--model-id") { Description = "Model folder or llama2.c .bin", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "Evaluation text: plain text or JSONL with a \"text\" field", Required = true };
        var ctxOpt = new Option<int>("--ctx") { Description = "Window length in tokens", DefaultValueFactory = _ => 2048 }.AtLeast(2);
        var stride = new Option<int>("--stride") { Description = "Tokens between window starts", DefaultValueFactory = _ => 512 }.AtLeast(1);
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Evaluate only the first N tokens of the dataset" }.AtLeast(2);
        var device = new Option<string>("--device") { Description = "auto, cpu or cuda", DefaultValueFactory = _ => "auto" };
        var perDoc = new Option<bool>("--per-document") { Description = "Score each document (JSONL record, or plain-text block between blank lines) from its own BOS instead of one concatenated stream" };
        var cmd = new Command("perplexity", "Sliding-window perplexity of a model on a text (Hugging Face's method)")
        { model, dataset, ctxOpt, stride, maxTokens, device, perDoc };
        cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(async () =>
        {
            await Task.Yield();
            int ctx = pr.GetValue(ctxOpt), max = pr.GetValue(maxTokens) ?? int.MaxValue;
            string ds = pr.GetValue(dataset)!;
            bool byDoc = pr.GetValue(perDoc);
            if (byDoc && pr.GetValue(maxTokens) is not null) throw new ArgumentException("--max-tokens and --per-document exclude each other");
            DeviceChoice.Check(pr.GetValue(device)!);
            var texts = byDoc ? CalibrationData.ReadDocuments(ds) : [CalibrationData.ReadText(ds)];
            using var lm = ModelLoader.Load(pr.GetValue(model));
            if (ctx > lm.Config.MaxPositionEmbeddings)
            {
                Console.Error.WriteLine($"--ctx {ctx} exceeds max_position_embeddings; using {lm.Config.MaxPositionEmbeddings}");
                ctx = lm.Config.MaxPositionEmbeddings;
            }
            var docs = texts.Select(t => CalibrationData.Tokenize(lm.Tokenizer, t, addBos: true, max)).ToList();
            using var runner = RunnerFactory.Create(lm, pr.GetValue(device)!, 16, ctx, Console.Error);
            var sw = Stopwatch.StartNew();
            long lastReport = 0;
            void Progress(long done, long total)
            {
                if (sw.ElapsedMilliseconds - lastReport < 2000) return;
                lastReport = sw.ElapsedMilliseconds;
                Console.Error.WriteLine($"{done}/{total} tokens, about {sw.Elapsed.TotalSeconds / done * (total - done):F0} s left");
            }
            var r = byDoc ? Perplexity.EvaluateDocuments(runner, docs, ctx, pr.GetValue(stride), Progress, ct)
                          : Perplexity.Evaluate(runner, docs[0], ctx, pr.GetValue(stride), Progress, ct);
            if (byDoc) Console.WriteLine($"documents: {docs.Count(d => d.Length >= 2)}");
            Console.WriteLine($"tokens scored: {r.TokensScored}");
            Console.WriteLine($"mean NLL: {r.MeanNll:F6}");
            Console.WriteLine($"perplexity: {r.Perplexity:F4}");
            return 0;
        }));
        return cmd;
    }
}
