using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Quanta.Cli.Commands;
using Quanta.Engine;
using Quanta.IO;

namespace Quanta.Cli
{
    internal static partial class CliCommands
    {
        static partial void AddGenerate(RootCommand root) => root.Subcommands.Add(GenerateCommand.Create());
    }
}

namespace Quanta.Cli.Commands
{
    /// <summary><c>quanta generate</c>: one request through the engine, text streamed to stdout.</summary>
    internal static class GenerateCommand
    {
        public static Command Create()
        {
            var modelId = new Option<string?>("--model-id") { Description = "Hugging Face / GPTQ folder or llama2.c .bin (default: built-in stories260K)" };
            var prompt = new Option<string?>("--prompt") { Description = "Prompt text (default: read from stdin)" };
            var maxNew = new Option<int>("--max-new-tokens") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 100 }.AtLeast(1);
            var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature; > 0 turns sampling on (default: greedy)" }.AtLeast(0f);
            var topK = new Option<int?>("--top-k") { Description = "Sample from the k most likely tokens" }.AtLeast(1);
            var topP = new Option<float?>("--top-p") { Description = "Nucleus sampling: smallest set with this probability mass, in (0, 1]" }.Must(v => v is > 0 and <= 1, "in (0, 1]");
            var typicalP = new Option<float?>("--typical-p") { Description = "Typical sampling mass, in (0, 1]" }.Must(v => v is > 0 and <= 1, "in (0, 1]");
            var repetition = new Option<float?>("--repetition-penalty") { Description = "Penalty > 0 for ids already in prompt or output (1 = off)" }.Must(v => v > 0, "> 0");
            var frequency = new Option<float?>("--frequency-penalty") { Description = "Subtracts count x penalty from generated ids' logits" }.Must(v => v is >= -2 and <= 2, "in -2..2");
            var presence = new Option<float?>("--presence-penalty") { Description = "Subtracts penalty from logits of ids generated at least once" }.Must(v => v is >= -2 and <= 2, "in -2..2");
            var seed = new Option<ulong?>("--seed") { Description = "Seed of the sampling random stream (default: random, printed with --json)" };
            var stop = new Option<string[]>("--stop") { Description = "Stop when the output contains this text (repeatable); the text is left out" };
            var doSample = new Option<bool>("--do-sample") { Description = "Sample instead of greedy decoding" };
            var json = new Option<bool>("--json") { Description = "Print one TGI /generate response object with details instead of streaming text" };
            var inputDetails = new Option<bool>("--decoder-input-details") { Description = "With --json: logprobs of the prompt tokens in details.prefill" };
            var device = new Option<string>("--device") { Description = "auto, cpu or cuda", DefaultValueFactory = _ => "auto" };
            var maxTotal = new Option<int?>("--max-batch-total-tokens") { Description = "KV cache tokens (default: prompt + max new tokens)" }.AtLeast(1);

            var cmd = new Command("generate", "Generate text from a prompt with one model (greedy unless --temperature > 0 or --do-sample)")
            {
                modelId, prompt, maxNew, temperature, topK, topP, typicalP, repetition, frequency, presence, seed, stop,
                doSample, json, inputDetails, device, maxTotal,
            };
            cmd.SetAction((ParseResult pr, CancellationToken ct) => CommandGuard.Run(async () =>
            {
                var p = SamplingFromFlags(pr.GetValue(maxNew), pr.GetValue(temperature), pr.GetValue(topK), pr.GetValue(topP),
                    pr.GetValue(typicalP), pr.GetValue(repetition), pr.GetValue(frequency), pr.GetValue(presence),
                    pr.GetValue(seed), pr.GetValue(stop) ?? [], pr.GetValue(doSample));
                var output = pr.InvocationConfiguration.Output;
                var log = pr.InvocationConfiguration.Error;
                DeviceChoice.Check(pr.GetValue(device)!);
                string text = pr.GetValue(prompt) ?? TrimFinalNewline(await Console.In.ReadToEndAsync(ct));
                using var model = ModelLoader.Load(pr.GetValue(modelId));
                int[] ids = model.Tokenizer.Encode(text, addBos: true);
                p = FitContext(p, ids.Length, model.Config.MaxPositionEmbeddings, log);
                using var runner = RunnerFactory.Create(model, pr.GetValue(device)!, 16, pr.GetValue(maxTotal) ?? ids.Length + p.MaxNewTokens, log);
                await using var engine = new LlmEngine(runner, model.Tokenizer, new EngineOptions());
                var request = new GenerationRequest { PromptIds = ids, Params = p, PromptLogprobs = pr.GetValue(inputDetails), Cancellation = ct };
                return await Run(engine, request, pr.GetValue(json), output, log);
            }));
            return cmd;
        }

        /// <summary>
        /// Positions past the model's context have no trained rotary embedding, so the output there is noise:
        /// --max-new-tokens is lowered to what the context leaves after the prompt, with a note.
        /// </summary>
        internal static SamplingParams FitContext(SamplingParams p, int promptTokens, int context, TextWriter log)
        {
            int room = context - promptTokens;
            if (room < 1)
                throw new ArgumentException($"the prompt has {promptTokens} tokens and the model's context is {context}: no room to generate");
            if (p.MaxNewTokens <= room) return p;
            log.WriteLine($"note: --max-new-tokens {p.MaxNewTokens} lowered to {room}: the model's context is {context} tokens and the prompt has {promptTokens}");
            return p with { MaxNewTokens = room };
        }

        /// <summary>`echo text | quanta generate`: the newline that ends the piped line is not part of the prompt.</summary>
        static string TrimFinalNewline(string s) => s.EndsWith("\r\n", StringComparison.Ordinal) ? s[..^2] : s.EndsWith('\n') ? s[..^1] : s;

        internal static SamplingParams SamplingFromFlags(int maxNew, float? temperature, int? topK, float? topP, float? typicalP,
            float? repetition, float? frequency, float? presence, ulong? seed, string[] stop, bool doSample)
        {
            if (stop.Any(string.IsNullOrEmpty)) throw new ArgumentException("--stop: a stop sequence cannot be empty");
            bool sample = doSample || temperature > 0;
            return new SamplingParams
            {
                DoSample = sample,
                Temperature = temperature > 0 ? temperature.Value : 1f,
                TopK = topK ?? 0,
                TopP = topP ?? 1f,
                TypicalP = typicalP ?? 1f,
                RepetitionPenalty = repetition ?? 1f,
                FrequencyPenalty = frequency ?? 0f,
                PresencePenalty = presence ?? 0f,
                Seed = seed,
                MaxNewTokens = maxNew,
                Stop = stop,
            };
        }

        static async Task<int> Run(IEngine engine, GenerationRequest request, bool json, TextWriter output, TextWriter log)
        {
            var tokens = new List<TokenInfo>();
            GenerationFinished? finished = null;
            long startTick = Stopwatch.GetTimestamp(), firstTick = 0, lastTick = 0;
            var text = new StringBuilder();
            int printed = 0;
            await foreach (var e in engine.Submit(request).ReadAllAsync())
            {
                switch (e)
                {
                    case TokenGenerated t:
                        lastTick = Stopwatch.GetTimestamp();
                        if (tokens.Count == 0) firstTick = lastTick;
                        tokens.Add(t.Token);
                        text.Append(t.TextDelta);
                        if (!json && t.SafeTextLength > printed)   // text no stop sequence can still claim
                        {
                            output.Write(text.ToString(printed, t.SafeTextLength - printed));
                            printed = t.SafeTextLength;
                        }
                        break;
                    case GenerationFinished f: finished = f; break;
                    case GenerationFailed f: throw new InvalidOperationException(f.Error);
                }
            }
            if (finished is null || finished.Reason == FinishReason.Cancelled) throw new OperationCanceledException();
            if (json) output.WriteLine(GenerateJson.Response(finished, tokens, request.Params.DoSample));
            else output.WriteLine(finished.GeneratedText.Length > printed ? finished.GeneratedText[printed..] : "");
            output.Flush();

            double decodeSeconds = Stopwatch.GetElapsedTime(firstTick, lastTick).TotalSeconds;
            string rate = tokens.Count > 1 && decodeSeconds > 0 ? $"{(tokens.Count - 1) / decodeSeconds:F1} tok/s" : "n/a";
            log.WriteLine($"prompt tokens: {request.PromptIds.Length}, generated tokens: {tokens.Count}, decode: {rate}, " +
                          $"first token: {Stopwatch.GetElapsedTime(startTick, firstTick).TotalMilliseconds:F1} ms, " +
                          $"inference: {finished.InferenceTime.TotalMilliseconds:F1} ms, finish: {finished.Reason.TgiName()}");
            return 0;
        }
    }
}
