namespace Quanta.Templates.Jinja;

/// <summary>A <c>{% macro %}</c> (or a call block's <c>caller</c>): renders its body with the arguments bound.</summary>
internal sealed class Macro(string name, List<(string Name, Expr? Default)> parameters, List<Node> body, Scope closure) : IPyCallable
{
    public string Name { get; } = name;
    public string TypeName => "Macro";

    public object? Call(Renderer r, CallArgs args)
    {
        r.EnterCall();
        try
        {
            var scope = new Scope(closure);
            var extraKw = new PyDict();
            for (int i = 0; i < parameters.Count; i++)
            {
                var (pname, _) = parameters[i];
                if (i < args.Positional.Count) scope.Set(pname, args.Positional[i]);
            }
            foreach (var kv in args.Keywords)
            {
                int idx = parameters.FindIndex(p => p.Name == kv.Key);
                if (idx < 0)
                {
                    if (kv.Key == "caller") { scope.Set("caller", kv.Value); continue; }
                    extraKw[kv.Key] = kv.Value;
                    continue;
                }
                if (idx < args.Positional.Count)
                    throw PyOps.TypeError($"macro '{Name}' got multiple values for argument '{kv.Key}'");
                scope.Set(kv.Key, kv.Value);
            }
            // Defaults are evaluated at call time, in order, so a default may refer to an earlier parameter.
            foreach (var (pname, def) in parameters)
            {
                if (scope.TryGetLocal(pname)) continue;
                scope.Set(pname, def is null ? Undefined.WithHint($"parameter {PyOps.Repr(pname)} was not provided") : r.Eval(def, scope));
            }
            scope.Set("varargs", args.Positional.Skip(parameters.Count).ToList());
            scope.Set("kwargs", extraKw);
            return r.Capture(body, scope);
        }
        finally { r.ExitCall(); }
    }
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopContext(ForNode node, List<object?> items, Scope scope, int depth0) : IPyCallable
{
    public int Index0 { get; set; }
    public string TypeName => "LoopContext";
    object? lastChanged = Undefined.Missing;

    public object? Attribute(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth0" => (long)depth0,
        "depth" => (long)depth0 + 1,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
        "nextitem" => Index0 < items.Count - 1 ? items[Index0 + 1] : Undefined.WithHint("there is no next item"),
        "cycle" => new BuiltinFunction("method", (_, a) =>
            a.Positional.Count == 0 ? throw PyOps.TypeError("no items for cycling given") : a.Positional[Index0 % a.Positional.Count]),
        "changed" => new BuiltinFunction("method", (_, a) =>
        {
            var value = new PyTuple([.. a.Positional]);
            if (!ReferenceEquals(lastChanged, Undefined.Missing) && PyOps.Eq(lastChanged, value)) return false;
            lastChanged = value;
            return true;
        }),
        _ => Undefined.ForAttr(this, name),
    };

    /// <summary><c>loop(children)</c> in a recursive loop renders the body for the children.</summary>
    public object? Call(Renderer renderer, CallArgs args)
    {
        if (!node.Recursive) throw PyOps.TypeError("The loop must be declared recursive to be called");
        renderer.EnterCall();
        try
        {
            return renderer.CaptureLoop(node, PyOps.Iterate(args.Get(0, "iterable")).ToList(), scope, depth0 + 1);
        }
        finally { renderer.ExitCall(); }
    }
}
