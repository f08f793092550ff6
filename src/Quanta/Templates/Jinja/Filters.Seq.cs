namespace Quanta.Templates.Jinja;

internal static partial class Filters
{
    /// <summary>jinja's make_attrgetter: "a.b.0" looks up each part with getitem; digit parts are indices.</summary>
    public static Func<object?, object?> AttrGetter(object? attribute, object? fallback = null)
    {
        var parts = attribute is string s
            ? s.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit) ? (object)long.Parse(p) : p).ToArray()
            : [attribute!];
        return item =>
        {
            foreach (var part in parts)
            {
                item = Access.GetItem(item, part);
                if (fallback is not null && item is Undefined) item = fallback;
            }
            return item;
        };
    }

    static PyGenerator Select(Renderer r, object? v, CallArgs a, bool byAttr, bool keep)
    {
        int off = 0;
        Func<object?, object?> trans = x => x;
        if (byAttr)
        {
            if (a.Positional.Count == 0) throw new JinjaException("FilterArgumentError", "Missing parameter for attribute name");
            trans = AttrGetter(a.Positional[0]);
            off = 1;
        }
        Func<object?, bool> test = PyOps.Truthy;
        if (a.Positional.Count > off)
        {
            string name = PyOps.Str(a.Positional[off]);
            var rest = new CallArgs(a.Positional.Skip(off + 1).ToList(), a.Keywords);
            test = x => r.ApplyTest(name, x, rest);
        }
        var items = PyOps.Iterate(v).Where(x => test(trans(x)) == keep).ToList();
        return new PyGenerator(items);
    }

    static object? Map(Renderer r, object? v, CallArgs a)
    {
        var attr = a.Get(-1, "attribute");
        if (attr is not null)
        {
            var get = AttrGetter(attr, a.Get(-1, "default"));
            return new PyGenerator(PyOps.Iterate(v).Select(get).ToList());
        }
        if (a.Positional.Count == 0) return new PyGenerator([]);
        string name = PyOps.Str(a.Positional[0]);
        var rest = new CallArgs(a.Positional.Skip(1).ToList(), a.Keywords);
        return new PyGenerator(PyOps.Iterate(v).Select(x => r.ApplyFilter(name, x, rest)).ToList());
    }

    static object? SortKey(object? x, bool caseSensitive) => !caseSensitive && x is string s ? PyStr.Lower(s) : x;

    static object? Unique(Renderer r, object? v, CallArgs a)
    {
        bool cs = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        var attr = a.Get(1, "attribute");
        var get = attr is null ? (x => x) : AttrGetter(attr);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in PyOps.Iterate(v))
        {
            var key = SortKey(get(item), cs);
            if (seen.Exists(k => PyOps.Eq(k, key))) continue;
            seen.Add(key);
            result.Add(item);
        }
        return new PyGenerator(result);
    }

    static object? Sort(Renderer r, object? v, CallArgs a)
    {
        bool reverse = PyOps.Truthy(a.Get(0, "reverse", false));
        bool cs = PyOps.Truthy(a.Get(1, "case_sensitive", false));
        var attr = a.Get(2, "attribute");
        var get = attr is null ? (x => x) : AttrGetter(attr);
        var items = PyOps.Iterate(v).ToList();
        var sorted = items.Select((x, i) => (Key: SortKey(get(x), cs), Index: i, Item: x)).ToList();
        // Python's sort is stable; reverse=True keeps equal items in their original order too.
        sorted.Sort((x, y) =>
        {
            int c = PyOps.Compare(x.Key, y.Key, "<");
            return c != 0 ? (reverse ? -c : c) : x.Index.CompareTo(y.Index);
        });
        return sorted.Select(x => x.Item).ToList();
    }

    static object? DictSort(Renderer r, object? v, CallArgs a)
    {
        if (v is not PyDict d) throw new JinjaException("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
        bool cs = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        int by = PyOps.Str(a.Get(1, "by", "key")) == "value" ? 1 : 0;
        bool reverse = PyOps.Truthy(a.Get(2, "reverse", false));
        var items = d.Select((kv, i) => (Pair: new PyTuple([kv.Key, kv.Value]), Index: i)).ToList();
        items.Sort((x, y) =>
        {
            int c = PyOps.Compare(SortKey(x.Pair.Items[by], cs), SortKey(y.Pair.Items[by], cs), "<");
            return c != 0 ? (reverse ? -c : c) : x.Index.CompareTo(y.Index);
        });
        return items.Select(x => (object?)x.Pair).ToList();
    }

    static object? Sum(Renderer r, object? v, CallArgs a)
    {
        var attr = a.Get(0, "attribute");
        var get = attr is null ? (x => x) : AttrGetter(attr);
        object? total = a.Get(1, "start", 0L);
        foreach (var item in PyOps.Iterate(v)) total = PyOps.Binary("+", total, get(item), r.Limits);
        return total;
    }

    static object? MinMax(object? v, CallArgs a, int sign)
    {
        bool cs = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        var attr = a.Get(1, "attribute");
        var get = attr is null ? (x => x) : AttrGetter(attr);
        object? best = null;
        bool any = false;
        foreach (var item in PyOps.Iterate(v))
        {
            if (!any || PyOps.Compare(SortKey(get(item), cs), SortKey(get(best), cs), sign < 0 ? "<" : ">") * sign > 0) best = item;
            any = true;
        }
        return any ? best : Undefined.WithHint($"No aggregated item, sequence was empty.");
    }

    static object? Batch(Renderer r, object? v, CallArgs a)
    {
        long n = PyOps.ToLong(a.Get(0, "linecount"));
        if (n <= 0) throw new JinjaException("ValueError", "batch size must be positive");
        var fill = a.Has(1, "fill_with") ? a.Get(1, "fill_with") : Undefined.Missing;
        var result = new List<object?>();
        var cur = new List<object?>();
        foreach (var item in PyOps.Iterate(v))
        {
            cur.Add(item);
            if (cur.Count == n) { result.Add(cur); cur = new List<object?>(); }
        }
        if (cur.Count > 0)
        {
            if (!ReferenceEquals(fill, Undefined.Missing)) while (cur.Count < n) cur.Add(fill);
            result.Add(cur);
        }
        return new PyGenerator(result);
    }
}
