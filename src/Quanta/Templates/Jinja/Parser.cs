namespace Quanta.Templates.Jinja;

/// <summary>Parses Jinja2 tokens into statement and expression trees (jinja2.parser's grammar and precedence).</summary>
internal sealed partial class Parser
{
    const int MaxNesting = 200;
    readonly List<Token> toks;
    int pos, depth;

    Parser(List<Token> tokens) => toks = tokens;

    public static List<Node> Parse(string source)
    {
        var p = new Parser(Lexer.Tokenize(source));
        var body = p.Subparse(out var end);
        if (end is not null) throw p.Error($"Encountered unknown tag '{end}'.");
        return body;
    }

    Token Cur => toks[pos];
    Token Next() => toks[pos++];
    JinjaException Error(string message) => new("TemplateSyntaxError", message);

    Token Expect(Tok kind, string? value = null)
    {
        var t = Cur;
        if (t.Kind != kind || (value is not null && t.Value != value))
            throw Error($"expected token '{value ?? kind.ToString()}', got '{(t.Kind == Tok.Eof ? "end of template" : t.Value)}' (line {t.Line})");
        pos++;
        return t;
    }

    bool SkipOp(string op) { if (Cur.IsOp(op)) { pos++; return true; } return false; }
    bool SkipName(string name) { if (Cur.IsName(name)) { pos++; return true; } return false; }

    void Enter() { if (++depth > MaxNesting) throw Error("template nesting too deep"); }

    /// <summary>Nodes up to a block tag this level does not handle; <paramref name="endTag"/> is its name (null at end).</summary>
    List<Node> Subparse(out string? endTag, params string[] ends)
    {
        Enter();
        var body = new List<Node>();
        endTag = null;
        while (Cur.Kind != Tok.Eof)
        {
            var t = Next();
            switch (t.Kind)
            {
                case Tok.Data: body.Add(new TextNode(t.Value, t.Line)); break;
                case Tok.VarBegin:
                    body.Add(new OutputNode(ParseTuple(), t.Line));
                    Expect(Tok.VarEnd);
                    break;
                case Tok.BlockBegin:
                    var name = Cur;
                    if (name.Kind == Tok.Name && Array.IndexOf(ends, name.Value) >= 0) { pos++; endTag = name.Value; depth--; return body; }
                    if (name.Kind == Tok.Name && name.Value.StartsWith("end", StringComparison.Ordinal) || name.IsName("elif") || name.IsName("else"))
                        throw Error($"Encountered unknown tag '{name.Value}'." + (ends.Length > 0 ? $" Jinja was looking for the following tags: '{ends[0]}'." : ""));
                    body.Add(ParseStatement());
                    break;
                default: throw Error($"unexpected token '{t.Value}' (line {t.Line})");
            }
        }
        if (ends.Length > 0) throw Error($"Unexpected end of template. Jinja was looking for the following tags: '{ends[0]}'.");
        depth--;
        return body;
    }

    /// <summary>The body up to one of <paramref name="ends"/>; the tag's own block end is left for the caller.</summary>
    List<Node> Body(out string endTag, params string[] ends)
    {
        var body = Subparse(out var end, ends);
        endTag = end!;
        return body;
    }

    Node ParseStatement()
    {
        var t = Expect(Tok.Name);
        switch (t.Value)
        {
            case "if": return ParseIf(t.Line);
            case "for": return ParseFor(t.Line);
            case "set": return ParseSet(t.Line);
            case "macro": return ParseMacro(t.Line);
            case "call": return ParseCallBlock(t.Line);
            case "filter": return ParseFilterBlock(t.Line);
            case "with": return ParseWith(t.Line);
            case "generation": case "block":
            {
                string end = "end" + t.Value;
                if (t.Value == "block") Expect(Tok.Name);
                Expect(Tok.BlockEnd);
                var body = Body(out _, end);
                if (t.Value == "block" && Cur.Kind == Tok.Name) pos++;
                Expect(Tok.BlockEnd);
                return new ScopeNode(body, t.Line);
            }
            case "break": case "continue":
                Expect(Tok.BlockEnd);
                return new LoopControlNode(t.Value == "break", t.Line);
            default: throw Error($"Encountered unknown tag '{t.Value}'.");
        }
    }

    Node ParseIf(int line)
    {
        var branches = new List<(Expr, List<Node>)>();
        List<Node>? elseBody = null;
        var test = ParseTuple(withCond: false);
        while (true)
        {
            Expect(Tok.BlockEnd);
            var body = Body(out var end, "elif", "else", "endif");
            branches.Add((test, body));
            if (end == "elif") { test = ParseTuple(withCond: false); continue; }
            if (end == "else")
            {
                Expect(Tok.BlockEnd);
                elseBody = Body(out _, "endif");
            }
            Expect(Tok.BlockEnd);
            return new IfNode(branches, elseBody, line);
        }
    }

    Node ParseFor(int line)
    {
        var target = ParseAssignTarget("in");
        Expect(Tok.Name, "in");
        var iter = ParseTuple(withCond: false, extraEnd: "recursive");
        Expr? filter = SkipName("if") ? ParseTuple(extraEnd: "recursive") : null;
        bool recursive = SkipName("recursive");
        Expect(Tok.BlockEnd);
        var body = Body(out var end, "endfor", "else");
        List<Node>? elseBody = null;
        if (end == "else") { Expect(Tok.BlockEnd); elseBody = Body(out _, "endfor"); }
        Expect(Tok.BlockEnd);
        return new ForNode(target, iter, filter, recursive, body, elseBody, line);
    }

    Node ParseSet(int line)
    {
        var target = ParseAssignTarget(null, allowAttr: true);
        if (SkipOp("="))
        {
            var value = ParseTuple();
            Expect(Tok.BlockEnd);
            return new SetNode(target, value, line);
        }
        var filters = ParseFilterChain();
        Expect(Tok.BlockEnd);
        var body = Body(out _, "endset");
        Expect(Tok.BlockEnd);
        return new SetBlockNode(target, filters, body, line);
    }

    List<FilterExpr> ParseFilterChain()
    {
        var filters = new List<FilterExpr>();
        while (SkipOp("|")) filters.Add(ParseFilter(null));
        return filters;
    }

    Node ParseMacro(int line)
    {
        string name = Expect(Tok.Name).Value;
        var ps = ParseSignature();
        Expect(Tok.BlockEnd);
        var body = Body(out _, "endmacro");
        if (Cur.Kind == Tok.Name) pos++;
        Expect(Tok.BlockEnd);
        return new MacroNode(name, ps, body, line);
    }

    List<(string, Expr?)> ParseSignature()
    {
        var ps = new List<(string, Expr?)>();
        Expect(Tok.Op, "(");
        while (!Cur.IsOp(")"))
        {
            if (ps.Count > 0) Expect(Tok.Op, ",");
            if (Cur.IsOp(")")) break;
            string p = Expect(Tok.Name).Value;
            ps.Add((p, SkipOp("=") ? ParseExpression() : null));
        }
        Expect(Tok.Op, ")");
        return ps;
    }

    Node ParseCallBlock(int line)
    {
        var ps = Cur.IsOp("(") ? ParseSignature() : [];
        var call = ParseExpression() as CallExpr ?? throw Error("expected call");
        Expect(Tok.BlockEnd);
        var body = Body(out _, "endcall");
        Expect(Tok.BlockEnd);
        return new CallBlockNode(call, ps, body, line);
    }

    Node ParseFilterBlock(int line)
    {
        var filters = new List<FilterExpr> { ParseFilter(null) };
        filters.AddRange(ParseFilterChain());
        Expect(Tok.BlockEnd);
        var body = Body(out _, "endfilter");
        Expect(Tok.BlockEnd);
        return new FilterBlockNode(filters, body, line);
    }

    Node ParseWith(int line)
    {
        var assigns = new List<(Expr, Expr)>();
        while (Cur.Kind != Tok.BlockEnd)
        {
            if (assigns.Count > 0) Expect(Tok.Op, ",");
            var target = ParseAssignTarget(null);
            Expect(Tok.Op, "=");
            assigns.Add((target, ParseExpression()));
        }
        Expect(Tok.BlockEnd);
        var body = Body(out _, "endwith");
        Expect(Tok.BlockEnd);
        return new WithNode(assigns, body, line);
    }

    /// <summary>A name, <c>ns.attr</c> (set only), or a tuple of names.</summary>
    Expr ParseAssignTarget(string? extraEnd, bool allowAttr = false)
    {
        int line = Cur.Line;
        if (allowAttr && Cur.Kind == Tok.Name && toks[pos + 1].IsOp("."))
        {
            string obj = Next().Value;
            pos++;
            return new AttrExpr(new NameExpr(obj, line), Expect(Tok.Name).Value, line);
        }
        var items = new List<Expr>();
        bool trailingComma = false;
        while (true)
        {
            items.Add(new NameExpr(Expect(Tok.Name).Value, line));
            if (!SkipOp(",")) { trailingComma = false; break; }
            trailingComma = true;
            if (Cur.Kind != Tok.Name || (extraEnd is not null && Cur.IsName(extraEnd))) break;
        }
        return items.Count == 1 && !trailingComma ? items[0] : new TupleExpr(items, line);
    }
}
