namespace Quanta.Templates.Jinja;

internal delegate bool TestFn(Renderer r, object? value, CallArgs args);

/// <summary>Jinja2's built-in tests (<c>x is defined</c>, <c>x is string</c>, ...).</summary>
internal static class Tests
{
    static TestFn Cmp(string op) => (_, v, a) => Renderer.CompareOne(op, v, a.Get(0, "other"));

    public static readonly Dictionary<string, TestFn> All = new()
    {
        ["defined"] = (_, v, _) => v is not Undefined,
        ["undefined"] = (_, v, _) => v is Undefined,
        ["none"] = (_, v, _) => v is null,
        ["boolean"] = (_, v, _) => v is bool,
        ["false"] = (_, v, _) => v is false,
        ["true"] = (_, v, _) => v is true,
        ["integer"] = (_, v, _) => v is long,
        ["float"] = (_, v, _) => v is double,
        ["number"] = (_, v, _) => PyOps.IsNumber(v),
        ["string"] = (_, v, _) => v is string,
        ["mapping"] = (_, v, _) => v is PyDict,
        ["iterable"] = (_, v, _) => PyOps.IsIterable(v),
        ["sequence"] = (_, v, _) => v is string or List<object?> or PyTuple or PyDict or Undefined,
        ["callable"] = (_, v, _) => v is IPyCallable,
        ["sameas"] = (_, v, a) => a.Get(0, "other") is var o && (ReferenceEquals(v, o) || (v is null or bool && Equals(v, o))),
        ["eq"] = Cmp("=="), ["equalto"] = Cmp("=="), ["=="] = Cmp("=="),
        ["ne"] = Cmp("!="), ["!="] = Cmp("!="),
        ["lt"] = Cmp("<"), ["lessthan"] = Cmp("<"), ["<"] = Cmp("<"),
        ["le"] = Cmp("<="), ["<="] = Cmp("<="),
        ["gt"] = Cmp(">"), ["greaterthan"] = Cmp(">"), [">"] = Cmp(">"),
        ["ge"] = Cmp(">="), [">="] = Cmp(">="),
        ["in"] = (_, v, a) => PyOps.Contains(a.Get(0, "seq"), v),
        ["odd"] = (_, v, _) => PyOps.ToLong(Int(v)) % 2 != 0,
        ["even"] = (_, v, _) => PyOps.ToLong(Int(v)) % 2 == 0,
        ["divisibleby"] = (_, v, a) => PyOps.ToLong(Int(v)) % PyOps.ToLong(Int(a.Get(0, "num"))) == 0,
        ["lower"] = (_, v, _) => PyOps.Str(v) is var s && s.Any(char.IsLower) && !s.Any(char.IsUpper),
        ["upper"] = (_, v, _) => PyOps.Str(v) is var s && s.Any(char.IsUpper) && !s.Any(char.IsLower),
        ["escaped"] = (_, _, _) => false,
        ["filter"] = (_, v, _) => v is string s && Filters.All.ContainsKey(s),
        ["test"] = (_, v, _) => v is string s && All!.ContainsKey(s),
    };

    static object? Int(object? v) => v is long or bool ? v
        : v is Undefined u ? throw u.Fail() : throw PyOps.TypeError($"unsupported operand type(s) for %: '{PyOps.TypeName(v)}' and 'int'");
}
