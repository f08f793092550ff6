namespace Quanta.Templates.Jinja;

/// <summary>
/// Template values follow Python's data model: <c>null</c> is None, <see cref="bool"/>, <see cref="long"/> (int),
/// <see cref="double"/> (float), <see cref="string"/>, <see cref="List{T}"/> (list), <see cref="PyTuple"/>,
/// <see cref="PyDict"/> (insertion-ordered dict), <see cref="Undefined"/>, <see cref="Namespace"/> and callables.
/// Templates see only these; no .NET object is ever reachable from a template.
/// </summary>
public sealed class PyDict : OrderedDictionary<object, object?>
{
    /// <summary>An empty dict whose keys compare as Python keys do (1 == 1.0 == True).</summary>
    public PyDict() : base(PyKeyComparer.Instance) { }
}

/// <summary>An immutable Python tuple.</summary>
public sealed class PyTuple(object?[] items)
{
    /// <summary>The elements.</summary>
    public object?[] Items { get; } = items;
}

/// <summary>Jinja's <c>Undefined</c>: prints as "", iterates as empty, fails on any other use.</summary>
public sealed class Undefined
{
    internal static readonly object Missing = new();
    internal string? Name { get; init; }
    internal object? Obj { get; init; } = Missing;
    internal string? Hint { get; init; }
    /// <summary>The Python exception type raised on use (UndefinedError, or SecurityError for a blocked attribute).</summary>
    internal string ErrorType { get; init; } = "UndefinedError";

    internal static Undefined ForName(string name) => new() { Name = name };
    internal static Undefined ForAttr(object? obj, object? name) => new() { Obj = obj, Name = name as string, Hint = name is string ? null : $"{PyOps.ObjectTypeRepr(obj)} has no element {PyOps.Repr(name)}" };
    internal static Undefined WithHint(string hint) => new() { Hint = hint };

    internal string Message
    {
        get
        {
            if (Hint is not null) return Hint;
            if (ReferenceEquals(Obj, Missing)) return $"{PyOps.Repr(Name)} is undefined";
            return $"{PyOps.Repr(PyOps.ObjectTypeRepr(Obj))} has no attribute {PyOps.Repr(Name)}";
        }
    }

    internal JinjaException Fail() => new(ErrorType, Message);
}

/// <summary>Jinja's <c>namespace()</c>: the one object whose attributes a template may assign.</summary>
public sealed class Namespace
{
    internal Dictionary<string, object?> Attrs { get; } = new();
}

/// <summary>Arguments of a call: positional then keyword, in source order.</summary>
public sealed record CallArgs(List<object?> Positional, List<KeyValuePair<string, object?>> Keywords)
{
    internal static readonly CallArgs Empty = new([], []);

    /// <summary>Argument <paramref name="index"/> by position or <paramref name="name"/> by keyword, else the default.</summary>
    internal object? Get(int index, string name, object? fallback = null)
    {
        if (index >= 0 && index < Positional.Count) return Positional[index];
        foreach (var kv in Keywords) if (kv.Key == name) return kv.Value;
        return fallback;
    }

    internal bool Has(int index, string name) =>
        (index >= 0 && index < Positional.Count) || Keywords.Exists(kv => kv.Key == name);
}

/// <summary>Anything a template can call: globals, bound methods, macros, <c>loop</c>.</summary>
public interface IPyCallable
{
    /// <summary>The Python type name shown in error messages.</summary>
    string TypeName { get; }
    internal object? Call(Renderer r, CallArgs args);
}

/// <summary>A built-in function or bound method.</summary>
internal sealed class BuiltinFunction(string typeName, Func<Renderer, CallArgs, object?> body) : IPyCallable
{
    public string TypeName { get; } = typeName;
    public object? Call(Renderer r, CallArgs args) => body(r, args);
}

/// <summary>An error the template raised; <see cref="PyType"/> is the Python exception's class name.</summary>
public sealed class JinjaException(string pyType, string message) : Exception(message)
{
    /// <summary>TemplateError, TypeError, UndefinedError, TemplateSyntaxError, SecurityError, ...</summary>
    public string PyType { get; } = pyType;
}

sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();
    public new bool Equals(object? a, object? b) => PyOps.Eq(a, b);
    public int GetHashCode(object o) => o switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        string s => s.GetHashCode(StringComparison.Ordinal),
        PyTuple t => t.Items.Length,
        _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(o),
    };
}

/// <summary>A Python generator (what <c>select</c>, <c>map</c>, <c>items</c>... return): always true, no len(), iterates once.</summary>
public sealed class PyGenerator(IEnumerable<object?> source, string name = "generator")
{
    IEnumerable<object?>? source = source;
    internal string Name { get; } = name;

    /// <summary>The remaining items; a generator is exhausted after one pass.</summary>
    internal IEnumerable<object?> Consume()
    {
        var s = source ?? [];
        source = null;
        return s;
    }
}
