namespace Quanta.Grammar;

/// <summary>
/// A Thompson automaton over UTF-8 bytes built from a <see cref="Node"/>: states with epsilon edges and byte-set
/// edges, one start and one final state, and each state's shortest distance (in bytes) to the final state.
/// </summary>
public sealed class Nfa
{
    /// <summary>Most states one grammar may build (bounds memory for huge repetition counts).</summary>
    public const int MaxStates = 400_000;
    readonly List<List<int>?> _eps = [];
    readonly List<List<(int Set, int Next)>?> _edges = [];
    readonly List<ulong[]> _sets = [];   // byte sets: 4 x 64 bits each
    readonly Dictionary<(ulong, ulong, ulong, ulong), int> _setIds = [];

    public int Start { get; }
    public int Final { get; }
    public int Count => _eps.Count;
    /// <summary>[states] fewest bytes from each state to the final state (int.MaxValue: none).</summary>
    public int[] Distance { get; }

    public Nfa(Node root)
    {
        (Start, Final) = Build(root);
        Distance = Distances();
    }

    /// <summary>Epsilon successors of a state.</summary>
    public IReadOnlyList<int> Epsilons(int state) => (IReadOnlyList<int>?)_eps[state] ?? [];
    /// <summary>Byte edges of a state: (set id, next state).</summary>
    public IReadOnlyList<(int Set, int Next)> Edges(int state) => (IReadOnlyList<(int, int)>?)_edges[state] ?? [];
    public bool HasEdges(int state) => _edges[state] is not null;
    public bool SetContains(int set, byte b) => (_sets[set][b >> 6] >> (b & 63) & 1) != 0;

    int NewState()
    {
        if (_eps.Count >= MaxStates)
            throw new GrammarException($"the grammar is too large: its automaton needs more than {MaxStates} states (lower repetition counts or lengths)");
        _eps.Add(null);
        _edges.Add(null);
        return _eps.Count - 1;
    }

    void Eps(int from, int to) => (_eps[from] ??= []).Add(to);

    void Edge(int from, byte lo, byte hi, int to)
    {
        var bits = new ulong[4];
        for (int b = lo; b <= hi; b++) bits[b >> 6] |= 1UL << (b & 63);
        Edge(from, bits, to);
    }

    void Edge(int from, ulong[] bits, int to)
    {
        var key = (bits[0], bits[1], bits[2], bits[3]);
        if (!_setIds.TryGetValue(key, out int id))
        {
            id = _sets.Count;
            _sets.Add(bits);
            _setIds[key] = id;
        }
        (_edges[from] ??= []).Add((id, to));
    }

    /// <summary>A fresh fragment for <paramref name="n"/>: its own start and end states.</summary>
    (int Start, int End) Build(Node n)
    {
        int s = NewState();
        switch (n)
        {
            case Chars c:
            {
                int e = NewState();
                AddChars(s, c.Set, e);
                return (s, e);
            }
            case Seq q:
            {
                int cur = s;
                foreach (var part in q.Parts) cur = Then(cur, part);
                return (s, cur);
            }
            case Alt a:
            {
                int e = NewState();
                foreach (var o in a.Options)
                {
                    var f = Build(o);
                    Eps(s, f.Start);
                    Eps(f.End, e);
                }
                return (s, e);
            }
            case Repeat r: return (s, Repeat(s, r.Item, r.Min, r.Max));
            case SepList l: return (s, SepList(s, l));
            case Fields f: return (s, Fields(s, f));
            default: throw new ArgumentException($"unknown node {n.GetType().Name}");
        }
    }

    /// <summary>Appends <paramref name="n"/> after state <paramref name="cur"/>; returns the state after it.</summary>
    int Then(int cur, Node n)
    {
        var f = Build(n);
        Eps(cur, f.Start);
        return f.End;
    }

    int Repeat(int cur, Node item, int min, int max)
    {
        for (int i = 0; i < min; i++) cur = Then(cur, item);
        int end = NewState();
        if (max < 0)
        {
            var f = Build(item);   // one copy, looping back to its own entry
            Eps(cur, f.Start);
            Eps(f.End, f.Start);
            Eps(f.End, end);
        }
        else
            for (int i = min; i < max; i++)
            {
                Eps(cur, end);
                cur = Then(cur, item);
            }
        Eps(cur, end);
        return end;
    }

    int SepList(int cur, SepList l)
    {
        if (l.Max == 0) return cur;
        if (l.Min <= 1 && l.Max < 0)
        {
            int end = NewState();
            var item = Build(l.Item);
            Eps(cur, item.Start);
            if (l.Min == 0) Eps(cur, end);
            Eps(item.End, end);
            var sep = Build(l.Separator);
            Eps(item.End, sep.Start);
            Eps(sep.End, item.Start);
            return end;
        }
        var rest = new Repeat(Node.Concat(l.Separator, l.Item), Math.Max(l.Min - 1, 0), l.Max < 0 ? -1 : l.Max - 1);
        var list = Node.Concat(l.Item, rest);
        return Then(cur, l.Min == 0 ? Node.Optional(list) : list);
    }

    /// <summary>
    /// Two states before each member: none written yet (no separator before the next) and some written. The states after
    /// the last member lead to the extra members (a list, its first one unseparated when nothing came before).
    /// </summary>
    int Fields(int cur, Fields f)
    {
        int none = cur, some = cur;   // some == cur: nothing can have been written before the first member
        foreach (var m in f.Members)
        {
            int nextSome = NewState(), nextNone = m.Required || none < 0 ? -1 : NewState();
            if (none >= 0) Eps(Then(none, m.Member), nextSome);
            if (some != cur) Eps(Then(Then(some, f.Separator), m.Member), nextSome);
            if (!m.Required)
            {
                if (nextNone >= 0) Eps(none, nextNone);
                if (some != cur) Eps(some, nextSome);
            }
            (none, some) = (nextNone, nextSome);
        }
        int end = NewState();
        if (some != cur) Eps(some, end);
        if (f.Extra is { } extra)
        {
            if (some != cur) Eps(Then(some, new Repeat(Node.Concat(f.Separator, extra), 0, -1)), end);
            if (none >= 0) Eps(Then(none, new SepList(extra, f.Separator, 0, -1)), end);
        }
        else if (none >= 0) Eps(none, end);
        return end;
    }

    /// <summary>Edges from <paramref name="from"/> to <paramref name="to"/> for each character's UTF-8 bytes.</summary>
    void AddChars(int from, CharSet set, int to)
    {
        var ascii = new ulong[4];
        bool anyAscii = false;
        foreach (var (lo, hi) in set.Ranges)
            foreach (var seq in Utf8Ranges.Split(lo, hi))
            {
                if (seq.Length == 1)
                {
                    for (int b = seq[0].Lo; b <= seq[0].Hi; b++) ascii[b >> 6] |= 1UL << (b & 63);
                    anyAscii = true;
                    continue;
                }
                int cur = from;
                for (int k = 0; k < seq.Length; k++)
                {
                    int next = k == seq.Length - 1 ? to : NewState();
                    Edge(cur, seq[k].Lo, seq[k].Hi, next);
                    cur = next;
                }
            }
        if (anyAscii) Edge(from, ascii, to);
    }

    /// <summary>0-1 breadth-first search from the final state over reversed edges (epsilon 0, byte 1).</summary>
    int[] Distances()
    {
        int n = Count;
        var rev = new List<(int From, int W)>[n];
        for (int q = 0; q < n; q++)
        {
            foreach (int t in Epsilons(q)) (rev[t] ??= []).Add((q, 0));
            foreach (var (_, t) in Edges(q)) (rev[t] ??= []).Add((q, 1));
        }
        var dist = new int[n];
        Array.Fill(dist, int.MaxValue);
        var deque = new LinkedList<int>();
        dist[Final] = 0;
        deque.AddFirst(Final);
        while (deque.Count > 0)
        {
            int q = deque.First!.Value;
            deque.RemoveFirst();
            if (rev[q] is null) continue;
            foreach (var (p, w) in rev[q])
            {
                int d = dist[q] + w;
                if (d >= dist[p]) continue;
                dist[p] = d;
                if (w == 0) deque.AddFirst(p); else deque.AddLast(p);
            }
        }
        return dist;
    }
}
