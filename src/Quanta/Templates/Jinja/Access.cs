namespace Quanta.Templates.Jinja;

/// <summary>
/// jinja2's sandboxed <c>getattr</c>/<c>getitem</c>: <c>x.name</c> tries an attribute (a method) then an item,
/// <c>x[key]</c> an item then an attribute; mutating methods and dunder attributes are unsafe (SecurityError on use).
/// </summary>
internal static class Access
{
    static readonly HashSet<string> DictMutators = ["clear", "pop", "popitem", "setdefault", "update"];
    static readonly HashSet<string> ListMutators = ["append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"];

    public static object? GetAttr(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Fail();
        if (TryAttribute(obj, name, out var value)) return value;
        if (TryItem(obj, name, out value)) return value;
        return Undefined.ForAttr(obj, name);
    }

    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Fail();
        if (TryItem(obj, key, out var value)) return value;
        if (key is string name && TryAttribute(obj, name, out value)) return value;
        return Undefined.ForAttr(obj, key);
    }

    static Undefined Unsafe(object? obj, string name) => new()
    {
        Obj = obj, Name = name, ErrorType = "SecurityError",
        Hint = $"access to attribute {PyOps.Repr(name)} of {PyOps.Repr(PyOps.TypeName(obj))} object is unsafe.",
    };

    static bool TryAttribute(object? obj, string name, out object? value)
    {
        value = null;
        if (name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal) && name.Length > 4)
        {
            value = Unsafe(obj, name);
            return true;
        }
        switch (obj)
        {
            case string s: value = StrMethods.Bind(s, name); break;
            case PyDict d:
                if (DictMutators.Contains(name)) { value = Unsafe(obj, name); return true; }
                value = DictMethod(d, name);
                break;
            case List<object?> l:
                if (ListMutators.Contains(name)) { value = Unsafe(obj, name); return true; }
                value = SeqMethod(l, name, "list");
                break;
            case PyTuple t: value = SeqMethod(t.Items, name, "tuple"); break;
            case Namespace ns: return ns.Attrs.TryGetValue(name, out value);
            case LoopContext loop:
                value = loop.Attribute(name);
                return value is not Undefined;
        }
        return value is not null;
    }

    static bool TryItem(object? obj, object? key, out object? value)
    {
        value = null;
        switch (obj)
        {
            case PyDict d:
                return key is not (null or List<object?> or PyDict) && d.TryGetValue(key, out value);
            case List<object?> l: return TryIndex(l, key, out value);
            case PyTuple t: return TryIndex(t.Items, key, out value);
            case string s:
                if (key is not (long or bool)) return false;
                var chars = PyStr.CodePoints(s);
                long i = PyOps.ToLong(key);
                if (i < 0) i += chars.Length;
                if (i < 0 || i >= chars.Length) return false;
                value = chars[i];
                return true;
        }
        return false;
    }

    static bool TryIndex(IList<object?> list, object? key, out object? value)
    {
        value = null;
        if (key is not (long or bool)) return false;
        long i = PyOps.ToLong(key);
        if (i < 0) i += list.Count;
        if (i < 0 || i >= list.Count) return false;
        value = list[(int)i];
        return true;
    }

    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        switch (obj)
        {
            case Undefined u: throw u.Fail();
            case string s:
            {
                var chars = PyStr.CodePoints(s);
                return string.Concat(PyStr.SliceIndices(chars.Length, start, stop, step).Select(i => chars[i]));
            }
            case List<object?> l: return PyStr.SliceIndices(l.Count, start, stop, step).Select(i => l[i]).ToList();
            case PyTuple t: return new PyTuple(PyStr.SliceIndices(t.Items.Length, start, stop, step).Select(i => t.Items[i]).ToArray());
        }
        // obj[slice] fails with TypeError, and a slice is not a str, so jinja returns an undefined.
        return Undefined.WithHint($"{PyOps.Repr(PyOps.ObjectTypeRepr(obj))} has no element slice({PyOps.Repr(start)}, {PyOps.Repr(stop)}, {PyOps.Repr(step)})");
    }

    static object? DictMethod(PyDict d, string name) => name switch
    {
        "get" => Method((_, a) => a.Get(0, "key") is { } k && k is not (List<object?> or PyDict) && d.TryGetValue(k, out var v) ? v : a.Get(1, "default")),
        "items" => Method((_, _) => d.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList()),
        "keys" => Method((_, _) => d.Keys.Cast<object?>().ToList()),
        "values" => Method((_, _) => d.Values.ToList()),
        "copy" => Method((_, _) =>
        {
            var c = new PyDict();
            foreach (var kv in d) c[kv.Key] = kv.Value;
            return c;
        }),
        _ => null,
    };

    static object? SeqMethod(IList<object?> l, string name, string type) => name switch
    {
        "count" => Method((_, a) => (long)l.Count(x => PyOps.Eq(x, a.Get(0, "value")))),
        "index" => Method((_, a) =>
        {
            for (int i = 0; i < l.Count; i++) if (PyOps.Eq(l[i], a.Get(0, "value"))) return (long)i;
            throw new JinjaException("ValueError", type == "list" ? $"{PyOps.Repr(a.Get(0, "value"))} is not in list" : "tuple.index(x): x not in tuple");
        }),
        "copy" when type == "list" => Method((_, _) => l.ToList()),
        _ => null,
    };

    internal static BuiltinFunction Method(Func<Renderer, CallArgs, object?> body) => new("builtin_function_or_method", body);
}
