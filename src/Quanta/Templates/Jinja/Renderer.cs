using System.Text;

namespace Quanta.Templates.Jinja;

/// <summary>Bounds that keep a hostile template from using unbounded time or memory.</summary>
public sealed record RenderLimits
{
    /// <summary>Longest output, and longest string or list a template may build (characters / items).</summary>
    public int MaxOutputChars { get; init; } = 4 << 20;
    /// <summary>Loop iterations plus macro calls per render.</summary>
    public long MaxSteps { get; init; } = 1_000_000;
    /// <summary>Deepest nesting of macro calls and recursive loops.</summary>
    public int MaxCallDepth { get; init; } = 100;

    internal bool CheckString(long length) =>
        length <= MaxOutputChars ? true : throw new JinjaException("SecurityError", $"the template built a string longer than {MaxOutputChars} characters");

    internal void CheckItems(long count)
    {
        if (count > MaxOutputChars) throw new JinjaException("SecurityError", $"the template built a list longer than {MaxOutputChars} items");
    }
}

/// <summary>Variable scope: for-loop iterations, macros and with-blocks open a child scope; if-blocks do not.</summary>
internal sealed class Scope(Scope? parent)
{
    readonly Dictionary<string, object?> vars = new();
    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s.vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => vars[name] = value;

    public bool TryGetLocal(string name) => vars.ContainsKey(name);
}

internal enum Flow { Normal, Break, Continue }

/// <summary>Evaluates a parsed template: statements here, expressions in Renderer.Expr.cs.</summary>
internal sealed partial class Renderer
{
    readonly RenderLimits limits;
    StringBuilder output = new();
    long steps;
    int callDepth;

    public Renderer(RenderLimits limits) => this.limits = limits;
    public RenderLimits Limits => limits;

    public string Render(List<Node> body, Scope scope)
    {
        Exec(body, scope);
        return output.ToString();
    }

    public void Step()
    {
        if (++steps > limits.MaxSteps) throw new JinjaException("SecurityError", $"the template ran more than {limits.MaxSteps} loop iterations and calls");
    }

    void Write(string s)
    {
        output.Append(s);
        if (output.Length > limits.MaxOutputChars) throw new JinjaException("SecurityError", $"the template's output exceeds {limits.MaxOutputChars} characters");
    }

    /// <summary>Renders <paramref name="body"/> into a fresh buffer (macros, set blocks, filter blocks, call blocks).</summary>
    public string Capture(List<Node> body, Scope scope)
    {
        var saved = output;
        output = new StringBuilder();
        try
        {
            Exec(body, scope);
            return output.ToString();
        }
        finally { output = saved; }
    }

    public void EnterCall()
    {
        Step();
        if (++callDepth > limits.MaxCallDepth) throw new JinjaException("RecursionError", "maximum recursion depth exceeded");
    }

    public void ExitCall() => callDepth--;

    Flow Exec(List<Node> body, Scope scope)
    {
        foreach (var node in body)
        {
            var flow = ExecNode(node, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    Flow ExecNode(Node node, Scope scope)
    {
        switch (node)
        {
            case TextNode t: Write(t.Text); return Flow.Normal;
            case OutputNode o: Write(PyOps.Str(Eval(o.Value, scope))); return Flow.Normal;
            case IfNode i:
                foreach (var (test, branch) in i.Branches)
                    if (PyOps.Truthy(Eval(test, scope))) return Exec(branch, scope);
                return i.Else is null ? Flow.Normal : Exec(i.Else, scope);
            case ForNode f: return ExecFor(f, scope);
            case SetNode s: Assign(s.Target, Eval(s.Value, scope), scope); return Flow.Normal;
            case SetBlockNode sb:
            {
                object? value = Capture(sb.Body, scope);
                foreach (var filter in sb.Filters) value = ApplyFilter(filter, value, scope);
                Assign(sb.Target, value, scope);
                return Flow.Normal;
            }
            case MacroNode m: scope.Set(m.Name, new Macro(m.Name, m.Params, m.Body, scope)); return Flow.Normal;
            case CallBlockNode c:
            {
                var caller = new Macro("caller", c.Params, c.Body, scope);
                var callee = Eval(c.Call.Callee, scope);
                var args = EvalArgs(c.Call.Args, scope);
                args.Keywords.Add(new("caller", caller));
                Write(PyOps.Str(CallValue(callee, args)));
                return Flow.Normal;
            }
            case FilterBlockNode fb:
            {
                object? value = Capture(fb.Body, new Scope(scope));
                foreach (var filter in fb.Filters) value = ApplyFilter(filter, value, scope);
                Write(PyOps.Str(value));
                return Flow.Normal;
            }
            case WithNode w:
            {
                var inner = new Scope(scope);
                foreach (var (target, value) in w.Assignments) Assign(target, Eval(value, scope), inner);
                return Exec(w.Body, inner);
            }
            case ScopeNode sc: return Exec(sc.Body, scope);
            case LoopControlNode lc: return lc.IsBreak ? Flow.Break : Flow.Continue;
        }
        throw new InvalidOperationException(node.GetType().Name);
    }

    Flow ExecFor(ForNode f, Scope scope)
    {
        var items = PyOps.Iterate(Eval(f.Iter, scope)).ToList();
        return RunLoop(f, items, scope, 0);
    }

    /// <summary>One (possibly recursive) loop over <paramref name="source"/>; the filter runs before <c>loop</c> counts.</summary>
    internal Flow RunLoop(ForNode f, List<object?> source, Scope scope, int depth0)
    {
        var items = source;
        if (f.Filter is not null)
        {
            items = new List<object?>();
            foreach (var item in source)
            {
                Step();
                var probe = new Scope(scope);
                Assign(f.Target, item, probe);
                if (PyOps.Truthy(Eval(f.Filter, probe))) items.Add(item);
            }
        }
        if (items.Count == 0) return f.Else is null ? Flow.Normal : Exec(f.Else, scope);
        var loop = new LoopContext(f, items, scope, depth0);
        for (int i = 0; i < items.Count; i++)
        {
            Step();
            loop.Index0 = i;
            var iter = new Scope(scope);
            iter.Set("loop", loop);
            Assign(f.Target, items[i], iter);
            if (Exec(f.Body, iter) == Flow.Break) break;
        }
        return Flow.Normal;
    }

    /// <summary>A recursive loop's <c>loop(children)</c>: the body's output for the children.</summary>
    internal string CaptureLoop(ForNode f, List<object?> items, Scope scope, int depth0)
    {
        var saved = output;
        output = new StringBuilder();
        try
        {
            RunLoop(f, items, scope, depth0);
            return output.ToString();
        }
        finally { output = saved; }
    }

    void Assign(Expr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr n: scope.Set(n.Name, value); return;
            case AttrExpr { Target: NameExpr ns } a:
                if (!scope.TryGet(ns.Name, out var obj) || obj is not Namespace space)
                    throw new JinjaException("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
                space.Attrs[a.Attr] = value;
                return;
            case TupleExpr t:
            {
                var values = PyOps.Iterate(value).ToList();
                if (values.Count != t.Items.Count)
                    throw new JinjaException("ValueError", values.Count > t.Items.Count
                        ? $"too many values to unpack (expected {t.Items.Count})"
                        : $"not enough values to unpack (expected {t.Items.Count}, got {values.Count})");
                for (int i = 0; i < values.Count; i++) Assign(t.Items[i], values[i], scope);
                return;
            }
        }
        throw new JinjaException("TemplateSyntaxError", "cannot assign to this expression");
    }
}
