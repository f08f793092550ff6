namespace Quanta.Grammar;

/// <summary>
/// The deterministic automaton of an <see cref="Nfa"/>, built lazily: a state is the set of NFA states reachable after
/// the bytes read so far, and each byte transition is computed the first time it is asked for. Not thread-safe: one
/// engine thread drives it.
/// </summary>
public sealed class Dfa
{
    /// <summary>No state: the bytes read cannot continue to a match.</summary>
    public const int Dead = -1;
    const int Unknown = -2;
    /// <summary>Most states one grammar may create (bounds memory for pathological automata).</summary>
    public const int MaxStates = 200_000;

    readonly Nfa _nfa;
    readonly List<int[]> _sets = [];          // [states] sorted NFA states with byte edges (plus the final state)
    readonly List<int[]> _next = [];          // [states][256] next state per byte, Unknown until computed
    readonly List<bool> _accepts = [];
    readonly List<int> _distance = [];
    readonly Dictionary<int[], int> _ids = new(IntArrayComparer.Instance);
    readonly Stack<int> _stack = new();
    readonly HashSet<int> _seen = [];
    readonly List<int> _gather = [];

    public Dfa(Nfa nfa)
    {
        _nfa = nfa;
        _gather.Add(nfa.Start);
        Start = Intern(Closure(_gather));
        if (Start == Dead) throw new GrammarException("the grammar matches no text at all");
    }

    public int Start { get; }
    public int Count => _sets.Count;
    public bool Accepts(int state) => _accepts[state];
    /// <summary>Fewest bytes from <paramref name="state"/> to a complete match.</summary>
    public int Distance(int state) => _distance[state];

    /// <summary>The state after reading <paramref name="b"/> in <paramref name="state"/>, or <see cref="Dead"/>.</summary>
    public int Step(int state, byte b)
    {
        var row = _next[state];
        int n = row[b];
        if (n != Unknown) return n;
        _gather.Clear();
        foreach (int q in _sets[state])
            foreach (var (set, next) in _nfa.Edges(q))
                if (_nfa.SetContains(set, b)) _gather.Add(next);
        n = _gather.Count == 0 ? Dead : Intern(Closure(_gather));
        _next[state][b] = n;
        return n;
    }

    /// <summary>The state after reading all of <paramref name="bytes"/>, or <see cref="Dead"/>.</summary>
    public int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            state = Step(state, b);
            if (state == Dead) return Dead;
        }
        return state;
    }

    /// <summary>Whether the whole of <paramref name="text"/> (UTF-8) is in the language.</summary>
    public bool Matches(string text)
    {
        int s = Walk(Start, System.Text.Encoding.UTF8.GetBytes(text));
        return s != Dead && Accepts(s);
    }

    /// <summary>The epsilon closure of the gathered states, kept to those that read bytes or are final; sorted.</summary>
    int[] Closure(List<int> from)
    {
        _seen.Clear();
        _stack.Clear();
        var kept = new List<int>();
        foreach (int q in from)
            if (_seen.Add(q)) _stack.Push(q);
        while (_stack.Count > 0)
        {
            int q = _stack.Pop();
            if (_nfa.HasEdges(q) || q == _nfa.Final) kept.Add(q);
            foreach (int t in _nfa.Epsilons(q))
                if (_seen.Add(t)) _stack.Push(t);
        }
        kept.Sort();
        return [.. kept];
    }

    int Intern(int[] set)
    {
        int dist = int.MaxValue;
        foreach (int q in set) dist = Math.Min(dist, _nfa.Distance[q]);
        if (dist == int.MaxValue) return Dead;   // nothing here can still reach a match
        if (_ids.TryGetValue(set, out int id)) return id;
        if (_sets.Count >= MaxStates)
            throw new GrammarException($"the grammar is too complex: its automaton needs more than {MaxStates} states");
        id = _sets.Count;
        _sets.Add(set);
        var row = new int[256];
        Array.Fill(row, Unknown);
        _next.Add(row);
        _accepts.Add(Array.BinarySearch(set, _nfa.Final) >= 0);
        _distance.Add(dist);
        _ids[set] = id;
        return id;
    }

    sealed class IntArrayComparer : IEqualityComparer<int[]>
    {
        public static readonly IntArrayComparer Instance = new();
        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(int[] a)
        {
            var h = new HashCode();
            h.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()));
            return h.ToHashCode();
        }
    }
}
