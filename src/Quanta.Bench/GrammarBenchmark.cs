using System.Diagnostics;
using Quanta.Grammar;
using Quanta.Model;

namespace Quanta.Bench;

/// <summary>What <see cref="GrammarBenchmark"/> measures: the schema, how many outputs and how long each may be.</summary>
public sealed record GrammarBenchOptions
{
    /// <summary>JSON Schema text; null = <see cref="GrammarBenchmark.TwentyProperties"/>.</summary>
    public string? Schema { get; init; }
    /// <summary>Outputs generated side by side, each with its own seed (rows of a batch).</summary>
    public int Rows { get; init; } = 32;
    /// <summary>Most tokens per output (the request's max_new_tokens).</summary>
    public int MaxTokens { get; init; } = 256;
    public int Seed { get; init; }
}

/// <summary>
/// Timings of one grammar: compile (the process's first, with JIT, and a later one), and the mask cost per row and step,
/// cold (masks built as states are met) and warm (after four generations of the schema, as a server that has seen it).
/// </summary>
public sealed record GrammarBenchResult(
    int Vocab, double VocabularyMs, double FirstCompileMs, double CompileMs, double FirstMaskMs,
    int Steps, double ColdUsPerRowStep, double WarmUsPerRowStep, double WarmP99Us, int Completed, int States, double MeanTokens);

/// <summary>
/// The CPU cost of constrained decoding over a vocabulary: schema compilation, then per row and step what the engine
/// does for a constrained row (the mask for its state and budget, applying it to a [vocab] logits row, advancing by
/// the chosen token). Tokens come from a stand-in model: a random allowed token, or (three times in ten) of 64 random
/// allowed ones the one closest to completion, so outputs finish as a real model's do rather than fill strings.
/// </summary>
public static class GrammarBenchmark
{
    /// <summary>A 20-property object: strings, bounded numbers, enums, formats, an array and a nested object.</summary>
    public const string TwentyProperties = """
    {"type":"object","properties":{
      "id":{"type":"string","format":"uuid"},"name":{"type":"string","maxLength":40},"email":{"type":"string","format":"email"},
      "age":{"type":"integer","minimum":0,"maximum":130},"height_m":{"type":"number","minimum":0.3,"maximum":2.8},
      "member":{"type":"boolean"},"joined":{"type":"string","format":"date"},"last_seen":{"type":"string","format":"date-time"},
      "role":{"enum":["admin","editor","viewer"]},"score":{"type":"number"},"level":{"type":"integer","minimum":1,"maximum":99},
      "country":{"type":"string","pattern":"[A-Z]{2}"},"city":{"type":"string"},"zip":{"type":"string","pattern":"\\d{5}"},
      "tags":{"type":"array","items":{"type":"string","maxLength":16},"maxItems":5},"bio":{"type":["string","null"]},
      "phone":{"type":"string","pattern":"\\+?[0-9]{7,12}"},"verified":{"type":"boolean"},"referrer":{"type":"null"},
      "address":{"type":"object","properties":{"street":{"type":"string"},"number":{"type":"integer","minimum":1}},"required":["street"]}},
     "required":["id","name","email","age","member","role","country","tags","verified","address"],"additionalProperties":false}
    """;

    public static GrammarBenchResult Run(ITokenizer tokenizer, int vocabSize, GrammarBenchOptions o)
    {
        var sw = Stopwatch.StartNew();
        var vocab = new TokenVocabulary(tokenizer, vocabSize, [tokenizer.EosId]);
        double vocabMs = sw.Elapsed.TotalMilliseconds;
        var spec = new GrammarSpec(GrammarKind.Json, o.Schema ?? TwentyProperties);
        sw.Restart();
        new GrammarCache(vocab).Get(spec);
        double firstCompileMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        var grammar = new GrammarCache(vocab).Get(spec);
        double compileMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        grammar.Mask(grammar.Start, o.MaxTokens);
        double firstMaskMs = sw.Elapsed.TotalMilliseconds;

        var cold = Generate(grammar, o, o.Seed, out _, out _, out _);
        // Warm: as a server that has seen the schema before (most states' masks cached).
        for (int pass = 1; pass < 4; pass++) Generate(grammar, o, o.Seed + pass, out _, out _, out _);
        var warm = Generate(grammar, o, o.Seed + 4, out int completed, out double meanTokens, out var perStep);
        perStep.Sort();
        double p99 = perStep.Count == 0 ? 0 : perStep[(int)(0.99 * (perStep.Count - 1))];
        return new GrammarBenchResult(vocabSize, vocabMs, firstCompileMs, compileMs, firstMaskMs, perStep.Count, cold, warm, p99, completed, grammar.States, meanTokens);
    }

    /// <summary>Generates <see cref="GrammarBenchOptions.Rows"/> outputs step by step; returns µs per row and step.</summary>
    static double Generate(TokenGrammar grammar, GrammarBenchOptions o, int seed, out int completed, out double meanTokens, out List<double> perStep)
    {
        var vocab = grammar.Vocabulary;
        var rng = new Random(seed);
        var rows = Enumerable.Range(0, o.Rows).Select(_ => new GrammarMatcher(grammar, o.MaxTokens)).ToArray();
        var done = new bool[o.Rows];
        var logits = new float[vocab.Size];   // [vocab] one row, refilled per step (the model's output stands here)
        var allowed = new List<int>();
        perStep = [];
        completed = 0;
        long tokens = 0;
        double ticks = 0;
        for (int step = 0; step < o.MaxTokens; step++)
            for (int r = 0; r < rows.Length; r++)
            {
                if (done[r]) continue;
                Array.Fill(logits, 0.5f);
                long t0 = Stopwatch.GetTimestamp();
                var mask = rows[r].Mask();
                GrammarMask.Apply(logits, mask);
                long t1 = Stopwatch.GetTimestamp();
                int id = Choose(grammar, rows[r].State, mask, rng, allowed);
                long t2 = Stopwatch.GetTimestamp();
                rows[r].Accept(id);
                long t3 = Stopwatch.GetTimestamp();
                double us = (t1 - t0 + t3 - t2) * 1e6 / Stopwatch.Frequency;
                ticks += us;
                perStep.Add(us);
                tokens++;
                if (vocab.IsEos(id) || step == o.MaxTokens - 1)
                {
                    done[r] = true;
                    if (rows[r].IsComplete) completed++;
                }
            }
        meanTokens = (double)tokens / o.Rows;
        return ticks / Math.Max(1, tokens);
    }

    /// <summary>The stand-in model's choice among the allowed tokens.</summary>
    static int Choose(TokenGrammar grammar, int state, ReadOnlySpan<uint> mask, Random rng, List<int> allowed)
    {
        allowed.Clear();
        for (int w = 0; w < mask.Length; w++)
            for (uint bits = mask[w]; bits != 0; bits &= bits - 1)
                allowed.Add(w * 32 + System.Numerics.BitOperations.TrailingZeroCount(bits));
        if (rng.NextDouble() >= 0.3) return allowed[rng.Next(allowed.Count)];
        int best = allowed[rng.Next(allowed.Count)], bestDistance = int.MaxValue;
        for (int i = 0; i < 64; i++)
        {
            int id = allowed[rng.Next(allowed.Count)];
            int d = grammar.Vocabulary.IsEos(id) ? -1 : grammar.Distance(grammar.Next(state, id));
            if (d < bestDistance) (best, bestDistance) = (id, d);
        }
        return best;
    }
}
