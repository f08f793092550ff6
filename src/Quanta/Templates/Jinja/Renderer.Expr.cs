namespace Quanta.Templates.Jinja;

internal sealed partial class Renderer
{
    public object? Eval(Expr e, Scope scope)
    {
        switch (e)
        {
            case ConstExpr c: return c.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : Undefined.ForName(n.Name);
            case TupleExpr t: return new PyTuple(t.Items.Select(x => Eval(x, scope)).ToArray());
            case ListExpr l: return l.Items.Select(x => Eval(x, scope)).ToList();
            case DictExpr d:
            {
                var dict = new PyDict();
                foreach (var (k, val) in d.Items) dict[HashableKey(Eval(k, scope))] = Eval(val, scope);
                return dict;
            }
            case AttrExpr a: return Access.GetAttr(Eval(a.Target, scope), a.Attr);
            case ItemExpr i:
            {
                var target = Eval(i.Target, scope);
                if (i.Index is SliceExpr s)
                    return Access.Slice(target, s.Start is null ? null : Eval(s.Start, scope), s.Stop is null ? null : Eval(s.Stop, scope),
                        s.Step is null ? null : Eval(s.Step, scope));
                return Access.GetItem(target, Eval(i.Index, scope));
            }
            case CallExpr c: return CallValue(Eval(c.Callee, scope), EvalArgs(c.Args, scope));
            case FilterExpr f: return ApplyFilter(f, Eval(f.Target!, scope), scope);
            case TestExpr t:
            {
                var target = Eval(t.Target, scope);
                if (!Tests.All.TryGetValue(t.Name, out var test)) throw new JinjaException("TemplateAssertionError", $"No test named {PyOps.Repr(t.Name)}.");
                bool result = test(this, target, EvalArgs(t.Args, scope));
                return t.Negated ? !result : result;
            }
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !PyOps.Truthy(operand),
                    "-" => PyOps.Negate(operand),
                    _ => PyOps.IsNumber(operand) ? (operand is bool b ? (b ? 1L : 0L) : operand)
                        : operand is Undefined und ? throw und.Fail() : throw PyOps.TypeError($"bad operand type for unary +: '{PyOps.TypeName(operand)}'"),
                };
            }
            case BinaryExpr b:
            {
                var left = Eval(b.Left, scope);
                switch (b.Op)
                {
                    case "and": return PyOps.Truthy(left) ? Eval(b.Right, scope) : left;
                    case "or": return PyOps.Truthy(left) ? left : Eval(b.Right, scope);
                    case "~":
                    {
                        string l = PyOps.Str(left), rs = PyOps.Str(Eval(b.Right, scope));
                        limits.CheckString(l.Length + (long)rs.Length);
                        return l + rs;
                    }
                    default: return PyOps.Binary(b.Op, left, Eval(b.Right, scope), limits);
                }
            }
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, operandExpr) in c.Rest)
                {
                    var right = Eval(operandExpr, scope);
                    if (!CompareOne(op, left, right)) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr c:
                if (PyOps.Truthy(Eval(c.Test, scope))) return Eval(c.Then, scope);
                return c.Else is null
                    ? Undefined.WithHint($"the inline if-expression on line {c.Line} evaluated to false and no else section was defined.")
                    : Eval(c.Else, scope);
        }
        throw new InvalidOperationException(e.GetType().Name);
    }

    static object HashableKey(object? key) => key switch
    {
        List<object?> or PyDict => throw PyOps.TypeError($"unhashable type: '{PyOps.TypeName(key)}'"),
        null => throw new JinjaException("TypeError", "None as a dict key is not supported by this renderer"),
        _ => key,
    };

    public static bool CompareOne(string op, object? left, object? right) => op switch
    {
        "==" => PyOps.Eq(left, right),
        "!=" => !PyOps.Eq(left, right),
        "in" => PyOps.Contains(right, left),
        "notin" => !PyOps.Contains(right, left),
        "<" => PyOps.Compare(left, right, op) < 0,
        "<=" => PyOps.Compare(left, right, op) <= 0,
        ">" => PyOps.Compare(left, right, op) > 0,
        ">=" => PyOps.Compare(left, right, op) >= 0,
        _ => throw new InvalidOperationException(op),
    };

    public CallArgs EvalArgs(Arguments a, Scope scope)
    {
        var positional = a.Positional.Select(x => Eval(x, scope)).ToList();
        if (a.Star is not null) positional.AddRange(PyOps.Iterate(Eval(a.Star, scope)));
        var keywords = a.Keywords.Select(k => new KeyValuePair<string, object?>(k.Name, Eval(k.Value, scope))).ToList();
        if (a.StarStar is not null)
        {
            if (Eval(a.StarStar, scope) is not PyDict d) throw PyOps.TypeError("argument after ** must be a mapping");
            foreach (var kv in d) keywords.Add(new(PyOps.Str(kv.Key), kv.Value));
        }
        return new CallArgs(positional, keywords);
    }

    public object? CallValue(object? callee, CallArgs args) => callee switch
    {
        Undefined u => throw u.Fail(),
        IPyCallable c => c.Call(this, args),
        _ => throw PyOps.TypeError($"'{PyOps.TypeName(callee)}' object is not callable"),
    };

    object? ApplyFilter(FilterExpr f, object? value, Scope scope)
    {
        if (!Filters.All.TryGetValue(f.Name, out var filter)) throw new JinjaException("TemplateAssertionError", $"No filter named {PyOps.Repr(f.Name)}.");
        return filter(this, value, EvalArgs(f.Args, scope));
    }

    /// <summary>Applies a filter by name (for <c>map('upper')</c>).</summary>
    public object? ApplyFilter(string name, object? value, CallArgs args) =>
        Filters.All.TryGetValue(name, out var filter) ? filter(this, value, args)
            : throw new JinjaException("TemplateRuntimeError", $"No filter named {PyOps.Repr(name)} found.");

    /// <summary>Applies a test by name (for <c>select('odd')</c>).</summary>
    public bool ApplyTest(string name, object? value, CallArgs args) =>
        Tests.All.TryGetValue(name, out var test) ? test(this, value, args)
            : throw new JinjaException("TemplateRuntimeError", $"No test named {PyOps.Repr(name)} found.");
}
