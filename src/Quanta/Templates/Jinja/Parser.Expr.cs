using System.Globalization;

namespace Quanta.Templates.Jinja;

internal sealed partial class Parser
{
    static readonly HashSet<string> CompareOps = ["==", "!=", ">", ">=", "<", "<="];

    /// <summary>An expression, or an implicit tuple <c>a, b</c> (as in <c>{{ a, b }}</c> or <c>set x = 1, 2</c>).</summary>
    Expr ParseTuple(bool withCond = true, string? extraEnd = null)
    {
        int line = Cur.Line;
        var items = new List<Expr>();
        bool comma = false;
        while (true)
        {
            if (items.Count > 0 && !(comma = SkipOp(","))) break;
            if (items.Count > 0 && IsTupleEnd(extraEnd)) break;
            items.Add(withCond ? ParseExpression() : ParseOr());
        }
        return items.Count == 1 && !comma ? items[0] : new TupleExpr(items, line);
    }

    bool IsTupleEnd(string? extraEnd) =>
        Cur.Kind is Tok.VarEnd or Tok.BlockEnd or Tok.Eof || Cur.IsOp(")") || Cur.IsOp("]") || Cur.IsOp("}")
        || (extraEnd is not null && Cur.IsName(extraEnd)) || Cur.IsName("if") && extraEnd == "recursive";

    Expr ParseExpression()
    {
        Enter();
        var e = ParseOr();
        while (SkipName("if"))
        {
            var test = ParseOr();
            Expr? other = SkipName("else") ? ParseExpression() : null;
            e = new CondExpr(test, e, other, e.Line);
        }
        depth--;
        return e;
    }

    Expr ParseOr()
    {
        var e = ParseAnd();
        while (SkipName("or")) e = new BinaryExpr("or", e, ParseAnd(), e.Line);
        return e;
    }

    Expr ParseAnd()
    {
        var e = ParseNot();
        while (SkipName("and")) e = new BinaryExpr("and", e, ParseNot(), e.Line);
        return e;
    }

    Expr ParseNot()
    {
        if (Cur.IsName("not")) { int line = Next().Line; return new UnaryExpr("not", ParseNot(), line); }
        return ParseCompare();
    }

    Expr ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Cur.Kind == Tok.Op && CompareOps.Contains(Cur.Value)) { string op = Next().Value; rest.Add((op, ParseMath1())); }
            else if (SkipName("in")) rest.Add(("in", ParseMath1()));
            else if (Cur.IsName("not") && toks[pos + 1].IsName("in")) { pos += 2; rest.Add(("notin", ParseMath1())); }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, first.Line);
    }

    Expr ParseMath1()
    {
        var e = ParseConcat();
        while (Cur.IsOp("+") || Cur.IsOp("-")) { string op = Next().Value; e = new BinaryExpr(op, e, ParseConcat(), e.Line); }
        return e;
    }

    Expr ParseConcat()
    {
        var e = ParseMath2();
        while (SkipOp("~")) e = new BinaryExpr("~", e, ParseMath2(), e.Line);
        return e;
    }

    Expr ParseMath2()
    {
        var e = ParsePow();
        while (Cur.IsOp("*") || Cur.IsOp("/") || Cur.IsOp("//") || Cur.IsOp("%")) { string op = Next().Value; e = new BinaryExpr(op, e, ParsePow(), e.Line); }
        return e;
    }

    Expr ParsePow()
    {
        var e = ParseUnary(true);
        while (SkipOp("**")) e = new BinaryExpr("**", e, ParseUnary(true), e.Line);
        return e;
    }

    Expr ParseUnary(bool withFilter)
    {
        Enter();
        Expr e;
        int line = Cur.Line;
        if (SkipOp("-")) e = new UnaryExpr("-", ParseUnary(false), line);
        else if (SkipOp("+")) e = new UnaryExpr("+", ParseUnary(false), line);
        else e = ParsePostfix(ParsePrimary());
        if (withFilter) e = ParseFilterExpr(e);
        depth--;
        return e;
    }

    Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case Tok.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(true, t.Line),
                    "false" or "False" => new ConstExpr(false, t.Line),
                    "none" or "None" => new ConstExpr(null, t.Line),
                    _ => new NameExpr(t.Value, t.Line),
                };
            case Tok.String:
                string s = t.Value;
                while (Cur.Kind == Tok.String) s += Next().Value;
                return new ConstExpr(s, t.Line);
            case Tok.Int:
                return long.TryParse(t.Value, CultureInfo.InvariantCulture, out long l) ? new ConstExpr(l, t.Line)
                    : new ConstExpr(double.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case Tok.Float: return new ConstExpr(double.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case Tok.Op when t.Value == "(":
            {
                if (SkipOp(")")) return new TupleExpr([], t.Line);
                var e = ParseTuple();
                Expect(Tok.Op, ")");
                return e;
            }
            case Tok.Op when t.Value == "[":
            {
                var items = new List<Expr>();
                while (!Cur.IsOp("]"))
                {
                    if (items.Count > 0) Expect(Tok.Op, ",");
                    if (Cur.IsOp("]")) break;
                    items.Add(ParseExpression());
                }
                Expect(Tok.Op, "]");
                return new ListExpr(items, t.Line);
            }
            case Tok.Op when t.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!Cur.IsOp("}"))
                {
                    if (items.Count > 0) Expect(Tok.Op, ",");
                    if (Cur.IsOp("}")) break;
                    var k = ParseExpression();
                    Expect(Tok.Op, ":");
                    items.Add((k, ParseExpression()));
                }
                Expect(Tok.Op, "}");
                return new DictExpr(items, t.Line);
            }
        }
        throw Error($"unexpected '{(t.Kind == Tok.Eof ? "end of template" : t.Kind is Tok.VarEnd ? "}}" : t.Kind is Tok.BlockEnd ? "%}" : t.Value)}' (line {t.Line})");
    }

    Expr ParsePostfix(Expr e)
    {
        while (true)
        {
            if (SkipOp("."))
            {
                var t = Next();
                if (t.Kind == Tok.Name) e = new AttrExpr(e, t.Value, t.Line);
                else if (t.Kind == Tok.Int) e = new ItemExpr(e, new ConstExpr(long.Parse(t.Value, CultureInfo.InvariantCulture), t.Line), t.Line);
                else throw Error($"expected name or number (line {t.Line})");
            }
            else if (SkipOp("["))
            {
                var items = new List<Expr>();
                while (!Cur.IsOp("]"))
                {
                    if (items.Count > 0) Expect(Tok.Op, ",");
                    items.Add(ParseSubscript());
                }
                Expect(Tok.Op, "]");
                e = new ItemExpr(e, items.Count == 1 ? items[0] : new TupleExpr(items, e.Line), e.Line);
            }
            else if (Cur.IsOp("(")) e = new CallExpr(e, ParseCallArgs(), e.Line);
            else return e;
        }
    }

    Expr ParseSubscript()
    {
        int line = Cur.Line;
        Expr? start = null, stop = null, step = null;
        if (!Cur.IsOp(":")) { start = ParseExpression(); if (!Cur.IsOp(":")) return start; }
        Expect(Tok.Op, ":");
        if (!Cur.IsOp("]") && !Cur.IsOp(",") && !Cur.IsOp(":")) stop = ParseExpression();
        if (SkipOp(":") && !Cur.IsOp("]") && !Cur.IsOp(",")) step = ParseExpression();
        return new SliceExpr(start, stop, step, line);
    }

    Arguments ParseCallArgs()
    {
        Expect(Tok.Op, "(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        Expr? star = null, starStar = null;
        bool first = true;
        while (!Cur.IsOp(")"))
        {
            if (!first) { Expect(Tok.Op, ","); if (Cur.IsOp(")")) break; }
            first = false;
            if (SkipOp("*")) star = ParseExpression();
            else if (SkipOp("**")) starStar = ParseExpression();
            else if (Cur.Kind == Tok.Name && toks[pos + 1].IsOp("=")) { string k = Next().Value; pos++; keywords.Add((k, ParseExpression())); }
            else positional.Add(ParseExpression());
        }
        Expect(Tok.Op, ")");
        return new Arguments(positional, keywords, star, starStar);
    }

    Expr ParseFilterExpr(Expr e)
    {
        while (true)
        {
            if (SkipOp("|")) e = ParseFilter(e);
            else if (SkipName("is")) e = ParseTest(e);
            else if (Cur.IsOp("(")) e = new CallExpr(e, ParseCallArgs(), e.Line);
            else return e;
        }
    }

    FilterExpr ParseFilter(Expr? target)
    {
        var t = Expect(Tok.Name);
        string name = t.Value;
        while (SkipOp(".")) name += "." + Expect(Tok.Name).Value;
        return new FilterExpr(target, name, Cur.IsOp("(") ? ParseCallArgs() : Arguments.None, t.Line);
    }

    Expr ParseTest(Expr target)
    {
        bool negated = SkipName("not");
        var t = Expect(Tok.Name);
        string name = t.Value;
        while (SkipOp(".")) name += "." + Expect(Tok.Name).Value;
        Arguments args = Arguments.None;
        if (Cur.IsOp("(")) args = ParseCallArgs();
        else if ((Cur.Kind is Tok.Name or Tok.String or Tok.Int or Tok.Float || Cur.IsOp("(") || Cur.IsOp("[") || Cur.IsOp("{"))
                 && !Cur.IsName("else") && !Cur.IsName("or") && !Cur.IsName("and"))
        {
            if (Cur.IsName("is")) throw Error("You cannot chain multiple tests with is");
            args = new Arguments([ParsePostfix(ParsePrimary())], [], null, null);
        }
        return new TestExpr(target, name, args, negated, t.Line);
    }
}
