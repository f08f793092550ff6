using System.Globalization;

namespace Quanta.Grammar;

/// <summary>
/// Parses a regular expression into a <see cref="Node"/> matched against the whole text (anchors implicit; a leading
/// <c>^</c> and trailing <c>$</c> are accepted and mean nothing more). Supported: literals, escapes (<c>\d \w \s</c>,
/// their negations, <c>\n \t \r \f \v \xHH \uHHHH</c>, escaped metacharacters), <c>.</c> (any character but a newline),
/// classes with ranges and negation, groups (capturing, <c>(?:)</c>, named), alternation, <c>? * + {m} {m,} {m,n}</c>
/// (lazy forms match the same language). Backreferences, lookarounds, word boundaries and inline flags are rejected.
/// </summary>
public sealed class RegexParser
{
    /// <summary>Largest count a bounded repetition may name.</summary>
    public const int MaxCount = 10_000;
    readonly string _p;
    int _i;
    readonly List<string> _unsupported = [];

    RegexParser(string pattern) => _p = pattern;

    /// <summary>The language of <paramref name="pattern"/>; throws <see cref="GrammarException"/> naming what is unsupported.</summary>
    public static Node Parse(string pattern)
    {
        var parser = new RegexParser(pattern);
        if (parser.Peek('^')) parser._i++;
        var node = parser.Alternation();
        if (parser._i < pattern.Length) parser.Error($"unexpected '{pattern[parser._i]}' at position {parser._i}");
        if (parser._unsupported.Count > 0)
            throw new GrammarException($"unsupported regex constructs: {string.Join(", ", parser._unsupported.Distinct())}",
                                       [.. parser._unsupported.Distinct()]);
        return node;
    }

    bool Peek(char c) => _i < _p.Length && _p[_i] == c;
    bool AtEnd => _i >= _p.Length;

    void Error(string message) => throw new GrammarException($"invalid regex /{_p}/: {message}");
    void Unsupported(string what) => _unsupported.Add(what);

    Node Alternation()
    {
        var options = new List<Node> { Concatenation() };
        while (Peek('|'))
        {
            _i++;
            options.Add(Concatenation());
        }
        return options.Count == 1 ? options[0] : new Alt(options);
    }

    Node Concatenation()
    {
        var parts = new List<Node>();
        while (!AtEnd && !Peek('|') && !Peek(')'))
        {
            if (Peek('$') && (_i == _p.Length - 1))
            {
                _i++;
                continue;
            }
            var atom = Atom();
            parts.Add(Quantified(atom));
        }
        return Node.Concat(parts);
    }

    Node Quantified(Node atom)
    {
        while (!AtEnd)
        {
            int min, max;
            char c = _p[_i];
            if (c == '?') (min, max) = (0, 1);
            else if (c == '*') (min, max) = (0, -1);
            else if (c == '+') (min, max) = (1, -1);
            else if (c == '{' && TryCounts(out min, out max)) { }
            else return atom;
            if (c != '{') _i++;
            if (Peek('?')) _i++;                      // lazy: same language
            else if (Peek('+')) { Unsupported("possessive quantifiers"); _i++; }
            atom = new Repeat(atom, min, max);
        }
        return atom;
    }

    /// <summary>Reads {m}, {m,} or {m,n} at the cursor; false (cursor unmoved) when '{' is a literal.</summary>
    bool TryCounts(out int min, out int max)
    {
        min = max = 0;
        int close = _p.IndexOf('}', _i);
        if (close < 0) return false;
        var body = _p.AsSpan(_i + 1, close - _i - 1);
        int comma = body.IndexOf(',');
        var first = comma < 0 ? body : body[..comma];
        if (!int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out min)) return false;
        if (comma < 0) max = min;
        else if (comma == body.Length - 1) max = -1;
        else if (!int.TryParse(body[(comma + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out max)) return false;
        if (max >= 0 && max < min) Error($"repetition {{{body}}} has its maximum below its minimum");
        if (min > MaxCount || max > MaxCount) Error($"repetition counts above {MaxCount} are not supported");
        _i = close + 1;
        return true;
    }

    Node Atom()
    {
        char c = _p[_i++];
        switch (c)
        {
            case '(':
                Group();
                var inner = Alternation();
                if (!Peek(')')) Error("missing ')'");
                _i++;
                return inner;
            case '[': return new Chars(Class());
            case '.': return new Chars(CharSet.Single('\n').Complement());
            case '\\': return Escape(inClass: false) is { } set ? new Chars(set) : Node.Empty;
            case '^': Unsupported("'^' anywhere but the start"); return Node.Empty;
            case '$': Unsupported("'$' anywhere but the end"); return Node.Empty;
            case '*' or '+' or '?': Error($"nothing to repeat at position {_i - 1}"); return Node.Empty;
            default:
                if (char.IsHighSurrogate(c) && !AtEnd && char.IsLowSurrogate(_p[_i]))
                    return new Chars(CharSet.Single(char.ConvertToUtf32(c, _p[_i++])));
                return new Chars(CharSet.Single(c));
        }
    }

    /// <summary>Consumes a group's prefix after '(': nothing, ?: or a name; flags every other (?...) form.</summary>
    void Group()
    {
        if (!Peek('?')) return;
        _i++;
        if (Peek(':')) { _i++; return; }
        if (Peek('=') || Peek('!')) { Unsupported("lookahead"); _i++; return; }
        if (Peek('P') && _i + 1 < _p.Length && _p[_i + 1] == '<') _i++;
        if (Peek('<'))
        {
            if (_i + 1 < _p.Length && (_p[_i + 1] == '=' || _p[_i + 1] == '!')) { Unsupported("lookbehind"); _i += 2; return; }
            int close = _p.IndexOf('>', _i);
            if (close < 0) Error("unterminated group name");
            _i = close + 1;
            return;
        }
        Unsupported("inline flags and other (?...) groups");
        while (!AtEnd && _p[_i] != ':' && _p[_i] != ')') _i++;
        if (Peek(':')) _i++;
    }

    CharSet Class()
    {
        bool negate = Peek('^');
        if (negate) _i++;
        var set = CharSet.Empty;
        bool first = true;
        while (true)
        {
            if (AtEnd) Error("missing ']'");
            if (Peek(']') && !first) { _i++; break; }
            first = false;
            if (_p[_i] == '[' && _i + 1 < _p.Length && _p[_i + 1] == ':') { Unsupported("POSIX classes"); _i = _p.IndexOf(']', _i) + 1; continue; }
            var lo = ClassAtom();
            if (Peek('-') && _i + 1 < _p.Length && _p[_i + 1] != ']' && lo.Count == 1)
            {
                _i++;
                var hi = ClassAtom();
                if (hi.Count != 1) Error("a class range ends in a class escape");
                int a = lo.Single, b = hi.Single;
                if (b < a) Error($"class range out of order at position {_i}");
                set = set.Union(CharSet.Range(a, b));
            }
            else set = set.Union(lo.Set);
        }
        return negate ? set.Complement() : set;
    }

    (CharSet Set, int Count, int Single) ClassAtom()
    {
        char c = _p[_i++];
        if (c == '\\')
        {
            var set = Escape(inClass: true) ?? CharSet.Empty;
            return set.Ranges.Length == 1 && set.Ranges[0].Lo == set.Ranges[0].Hi ? (set, 1, set.Ranges[0].Lo) : (set, 2, -1);
        }
        int cp = c;
        if (char.IsHighSurrogate(c) && !AtEnd && char.IsLowSurrogate(_p[_i])) cp = char.ConvertToUtf32(c, _p[_i++]);
        return (CharSet.Single(cp), 1, cp);
    }

    /// <summary>The set an escape (after '\') stands for; null for constructs flagged unsupported.</summary>
    CharSet? Escape(bool inClass)
    {
        if (AtEnd) Error("trailing backslash");
        char c = _p[_i++];
        switch (c)
        {
            case 'd': return CharSet.Digits;
            case 'D': return CharSet.Digits.Complement();
            case 'w': return CharSet.Word;
            case 'W': return CharSet.Word.Complement();
            case 's': return CharSet.Space;
            case 'S': return CharSet.Space.Complement();
            case 'n': return CharSet.Single('\n');
            case 't': return CharSet.Single('\t');
            case 'r': return CharSet.Single('\r');
            case 'f': return CharSet.Single('\f');
            case 'v': return CharSet.Single('\v');
            case '0': return CharSet.Single(0);
            case 'x': return CharSet.Single(Hex(2));
            case 'u': return CharSet.Single(Hex(4));
            case 'b' when inClass: return CharSet.Single('\b');
            case 'b' or 'B': Unsupported("word boundaries (\\b, \\B)"); return null;
            case 'A' or 'z' or 'Z' or 'G': Unsupported($"anchor \\{c}"); return null;
            case 'k': Unsupported("backreferences"); return null;
            case 'p' or 'P': Unsupported("Unicode categories (\\p, \\P)"); return null;
            default:
                if (c is >= '1' and <= '9') { Unsupported("backreferences"); return null; }
                if (char.IsAsciiLetterOrDigit(c)) Error($"unknown escape \\{c}");
                return CharSet.Single(c);
        }
    }

    int Hex(int digits)
    {
        int v = 0;
        if (_i + digits > _p.Length || !int.TryParse(_p.AsSpan(_i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v))
            Error($"bad hexadecimal escape at position {_i}");
        _i += digits;
        return v;
    }
}
