using Quanta.Grammar;

namespace Quanta.Engine;

/// <summary>
/// What the sampler remembers about one sequence: its PRNG, the ids that penalties look at and, for a constrained
/// request, where its output stands in the grammar.
/// </summary>
public sealed class SamplerState
{
    public ulong Seed { get; }
    internal Xoshiro256 Rng;
    /// <summary>Every id of prompt + generated (repetition penalty).</summary>
    internal readonly HashSet<int> Seen = [];
    /// <summary>Generated id -> count (frequency and presence penalties).</summary>
    internal readonly Dictionary<int, int> GeneratedCounts = [];
    readonly bool _trackSeen, _trackCounts;

    /// <summary>The output's progress through its grammar (null: free text).</summary>
    public GrammarMatcher? Grammar { get; }

    /// <param name="seed">null = a random seed, reported back through <see cref="Seed"/>.</param>
    /// <param name="grammar">The compiled <see cref="SamplingParams.Grammar"/> (null: free text).</param>
    public SamplerState(SamplingParams p, ReadOnlySpan<int> promptIds, ulong? seed = null, TokenGrammar? grammar = null)
    {
        if (grammar is not null) Grammar = new GrammarMatcher(grammar, p.MaxNewTokens);
        Seed = seed ?? p.Seed ?? (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        Rng = new Xoshiro256(Seed);
        _trackSeen = p.RepetitionPenalty != 1f;
        _trackCounts = p.FrequencyPenalty != 0f || p.PresencePenalty != 0f;
        if (_trackSeen) foreach (var id in promptIds) Seen.Add(id);
    }

    /// <summary>Records a generated token.</summary>
    public void Accept(int id)
    {
        if (_trackSeen) Seen.Add(id);
        if (_trackCounts) GeneratedCounts[id] = GeneratedCounts.GetValueOrDefault(id) + 1;
        Grammar?.Accept(id);
    }
}
