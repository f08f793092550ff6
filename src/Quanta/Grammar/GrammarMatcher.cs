namespace Quanta.Grammar;

/// <summary>
/// One sequence's progress through a <see cref="TokenGrammar"/>: the automaton state after the tokens generated so far,
/// and how many more it may generate (masks make sure the output can be completed within them).
/// </summary>
public sealed class GrammarMatcher(TokenGrammar grammar, int maxNewTokens)
{
    int _generated;

    public TokenGrammar Grammar { get; } = grammar;
    /// <summary>The automaton state after the accepted tokens.</summary>
    public int State { get; private set; } = grammar.Start;
    /// <summary>An end-of-sequence token was accepted: only EOS may follow.</summary>
    public bool Ended { get; private set; }
    /// <summary>The output so far is a complete match.</summary>
    public bool IsComplete => Grammar.Accepts(State);

    /// <summary>Allowed tokens for the next position [mask words] (see <see cref="TokenGrammar.Mask"/>).</summary>
    public ReadOnlySpan<uint> Mask() => Allowed().Span;

    /// <summary>
    /// <see cref="Mask"/> as memory a device sampler can hold until its step is collected: the grammar never changes the
    /// words of a mask it has handed out.
    /// </summary>
    public ReadOnlyMemory<uint> Allowed() => Grammar.Allowed(State, Ended ? 1 : Math.Max(1, maxNewTokens - _generated));

    /// <summary>Moves on by a generated token; a token the mask did not allow is an error (the state stays as it was).</summary>
    public void Accept(int id)
    {
        _generated++;
        if (Grammar.Vocabulary.IsEos(id)) { Ended = true; return; }
        if (Ended) throw new InvalidOperationException($"token {id} after the end of a constrained output");
        int next = Grammar.Next(State, id);
        if (next == Dfa.Dead) throw new InvalidOperationException($"token {id} does not continue the constrained output");
        State = next;
    }
}
