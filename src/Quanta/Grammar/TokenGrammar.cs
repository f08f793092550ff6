namespace Quanta.Grammar;

/// <summary>
/// A compiled grammar over one vocabulary: the lazy byte automaton and, per automaton state, the mask of tokens that
/// keep the output alive (cached the first time the state is met, so a steady state costs a lookup). A token is
/// allowed iff all its bytes lead to a live state; EOS iff the state is a complete match. Not thread-safe: used by one
/// engine thread.
/// </summary>
public sealed class TokenGrammar
{
    readonly Dfa _dfa;
    readonly TokenVocabulary _vocab;
    readonly List<StateMask?> _masks = [];     // [automaton states] computed on first use
    readonly int[] _walk;                      // [max token length + 1] automaton state at each trie depth
    readonly Dictionary<(int State, int Limit), uint[]> _cut = [];   // masks cut to a budget: [mask words] each
    const int MaxCutMasks = 1024;

    public TokenGrammar(GrammarSpec spec, Dfa dfa, TokenVocabulary vocab)
    {
        Spec = spec;
        _dfa = dfa;
        _vocab = vocab;
        _walk = new int[vocab.MaxDepth + 1];
    }

    public GrammarSpec Spec { get; }
    public TokenVocabulary Vocabulary => _vocab;
    public int Start => _dfa.Start;
    /// <summary>Automaton states created so far (memory).</summary>
    public int States => _dfa.Count;

    /// <summary>Whether the output so far (ending in <paramref name="state"/>) is complete.</summary>
    public bool Accepts(int state) => _dfa.Accepts(state);
    /// <summary>Fewest bytes that complete the output from <paramref name="state"/>.</summary>
    public int Distance(int state) => _dfa.Distance(state);

    /// <summary>The state after token <paramref name="id"/>, or <see cref="Dfa.Dead"/>.</summary>
    public int Next(int state, int id) => _dfa.Walk(state, _vocab.Bytes(id));

    /// <summary>
    /// The allowed tokens in <paramref name="state"/> with <paramref name="budget"/> tokens left to generate (this one
    /// included), as bits [mask words]: bit i of word i/32 set = token i allowed. A token is also ruled out when, after
    /// it, the output can no longer be completed within the budget (one byte per token at worst); where that would rule
    /// out every token, the budget is not applied.
    /// </summary>
    public ReadOnlySpan<uint> Mask(int state, int budget) => Allowed(state, budget).Span;

    /// <summary><see cref="Mask"/> as memory: a mask's words never change once handed out (a dropped cut mask is rebuilt, not reused).</summary>
    public ReadOnlyMemory<uint> Allowed(int state, int budget)
    {
        var m = StateMaskOf(state);
        int limit = budget - 1;
        if (limit >= m.MaxNextDistance) return m.Bits;
        if (_cut.TryGetValue((state, limit), out var cached)) return cached;
        var cut = new uint[_vocab.MaskWords];
        bool any = Walk(state, cut, limit, out _);
        if (_dfa.Accepts(state)) { SetEos(cut); any = true; }
        if (!any) cut = m.Bits;
        if (_cut.Count >= MaxCutMasks) _cut.Clear();   // bounded: near-the-end masks are cheap to rebuild
        _cut[(state, limit)] = cut;
        return cut;
    }

    StateMask StateMaskOf(int state)
    {
        while (_masks.Count <= state) _masks.Add(null);
        if (_masks[state] is { } cached) return cached;
        var bits = new uint[_vocab.MaskWords];
        bool any = Walk(state, bits, int.MaxValue, out int maxNext);
        // EOS where the output is complete; where no token can continue an incomplete output (a vocabulary without
        // the bytes it needs), EOS too: the request ends rather than loops.
        if (_dfa.Accepts(state) || !any) SetEos(bits);
        var m = new StateMask(bits, maxNext);
        _masks[state] = m;
        return m;
    }

    /// <summary>
    /// Sets the bits of tokens whose bytes keep the automaton alive from <paramref name="state"/> and leave at most
    /// <paramref name="maxDistance"/> bytes to complete; reports the largest such distance.
    /// </summary>
    bool Walk(int state, Span<uint> bits, int maxDistance, out int maxNext)
    {
        var v = _vocab;
        var label = v.Label;
        var depth = v.Depth;
        var skip = v.Skip;
        var tokenStart = v.TokenStart;
        var tokens = v.Tokens;
        var walk = _walk;
        walk[0] = state;
        maxNext = 0;
        bool any = false;
        int n = label.Length;
        for (int i = 0; i < n;)
        {
            int next = _dfa.Step(walk[depth[i] - 1], label[i]);
            if (next == Dfa.Dead) { i = skip[i]; continue; }
            walk[depth[i]] = next;
            int from = tokenStart[i], to = tokenStart[i + 1];
            if (from < to)
            {
                int d = _dfa.Distance(next);
                if (d <= maxDistance)
                {
                    for (int t = from; t < to; t++) bits[tokens[t] >> 5] |= 1u << (tokens[t] & 31);
                    maxNext = Math.Max(maxNext, d);
                    any = true;
                }
            }
            i++;
        }
        return any;
    }

    void SetEos(Span<uint> bits)
    {
        foreach (int id in _vocab.EosIds) bits[id >> 5] |= 1u << (id & 31);
    }

    /// <summary>A state's allowed tokens and the largest distance to completion any of them leads to.</summary>
    sealed record StateMask(uint[] Bits, int MaxNextDistance);
}
