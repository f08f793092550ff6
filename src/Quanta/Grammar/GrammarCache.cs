namespace Quanta.Grammar;

/// <summary>
/// Compiled grammars of one vocabulary by their spec's content, least recently used dropped past
/// <see cref="Capacity"/>. Compiling (parse, automaton start) is thread-safe; the grammars it hands out are for one
/// engine thread.
/// </summary>
public sealed class GrammarCache(TokenVocabulary vocabulary, int capacity = 32)
{
    readonly LinkedList<TokenGrammar> _order = new();   // most recently used first
    readonly Dictionary<GrammarSpec, LinkedListNode<TokenGrammar>> _byspec = [];
    readonly Lock _lock = new();

    public int Capacity { get; } = capacity;
    public TokenVocabulary Vocabulary { get; } = vocabulary;
    public int Count { get { lock (_lock) return _byspec.Count; } }

    /// <summary>The compiled grammar for <paramref name="spec"/>; throws <see cref="GrammarException"/> when it cannot be compiled.</summary>
    public TokenGrammar Get(GrammarSpec spec)
    {
        lock (_lock)
            if (_byspec.TryGetValue(spec, out var hit))
            {
                _order.Remove(hit);
                _order.AddFirst(hit);
                return hit.Value;
            }
        var grammar = new TokenGrammar(spec, Compile(spec), Vocabulary);
        lock (_lock)
        {
            if (_byspec.TryGetValue(spec, out var raced)) return raced.Value;
            _byspec[spec] = _order.AddFirst(grammar);
            while (_byspec.Count > Capacity)
            {
                _byspec.Remove(_order.Last!.Value.Spec);
                _order.RemoveLast();
            }
        }
        return grammar;
    }

    /// <summary>The byte automaton of a spec (no vocabulary): what servers call to validate a request.</summary>
    public static Dfa Compile(GrammarSpec spec)
    {
        var node = spec.Kind switch
        {
            GrammarKind.Json => JsonSchemaCompiler.Compile(spec.Value),
            GrammarKind.Regex => RegexParser.Parse(spec.Value),
            _ => throw new GrammarException($"unknown grammar kind {spec.Kind}"),
        };
        return new Dfa(new Nfa(node));
    }
}
