namespace Quanta.Templates.Jinja;

/// <summary>Expression nodes.</summary>
internal abstract record Expr(int Line);
internal sealed record ConstExpr(object? Value, int Line) : Expr(Line);
internal sealed record NameExpr(string Name, int Line) : Expr(Line);
internal sealed record TupleExpr(List<Expr> Items, int Line) : Expr(Line);
internal sealed record ListExpr(List<Expr> Items, int Line) : Expr(Line);
internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);
internal sealed record AttrExpr(Expr Target, string Attr, int Line) : Expr(Line);
internal sealed record ItemExpr(Expr Target, Expr Index, int Line) : Expr(Line);
internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
internal sealed record CallExpr(Expr Callee, Arguments Args, int Line) : Expr(Line);
internal sealed record FilterExpr(Expr? Target, string Name, Arguments Args, int Line) : Expr(Line);
internal sealed record TestExpr(Expr Target, string Name, Arguments Args, bool Negated, int Line) : Expr(Line);
internal sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record CompareExpr(Expr First, List<(string Op, Expr Operand)> Rest, int Line) : Expr(Line);
internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line) : Expr(Line);

/// <summary>Call arguments: positional, keyword, and <c>*args</c>/<c>**kwargs</c> spreads.</summary>
internal sealed record Arguments(List<Expr> Positional, List<(string Name, Expr Value)> Keywords, Expr? Star, Expr? StarStar)
{
    public static readonly Arguments None = new([], [], null, null);
}

/// <summary>Statement nodes.</summary>
internal abstract record Node(int Line);
internal sealed record TextNode(string Text, int Line) : Node(Line);
internal sealed record OutputNode(Expr Value, int Line) : Node(Line);
internal sealed record IfNode(List<(Expr Test, List<Node> Body)> Branches, List<Node>? Else, int Line) : Node(Line);
internal sealed record ForNode(Expr Target, Expr Iter, Expr? Filter, bool Recursive, List<Node> Body, List<Node>? Else, int Line) : Node(Line);
internal sealed record SetNode(Expr Target, Expr Value, int Line) : Node(Line);
internal sealed record SetBlockNode(Expr Target, List<FilterExpr> Filters, List<Node> Body, int Line) : Node(Line);
internal sealed record MacroNode(string Name, List<(string Name, Expr? Default)> Params, List<Node> Body, int Line) : Node(Line);
internal sealed record CallBlockNode(CallExpr Call, List<(string Name, Expr? Default)> Params, List<Node> Body, int Line) : Node(Line);
internal sealed record FilterBlockNode(List<FilterExpr> Filters, List<Node> Body, int Line) : Node(Line);
internal sealed record WithNode(List<(Expr Target, Expr Value)> Assignments, List<Node> Body, int Line) : Node(Line);
internal sealed record ScopeNode(List<Node> Body, int Line) : Node(Line);
internal sealed record LoopControlNode(bool IsBreak, int Line) : Node(Line);
