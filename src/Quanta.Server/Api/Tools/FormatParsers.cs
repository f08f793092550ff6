namespace Quanta.Server.Api.Tools;

/// <summary>
/// Hermes-2-Pro, Qwen2.5, Falcon3, SmolLM3: <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>,
/// repeated, after optional text; the last one may be left unclosed where generation stopped.
/// </summary>
internal sealed class HermesToolParser : IToolCallParser
{
    const string Open = "<tool_call>", Close = "</tool_call>";

    public ToolCallParse? Parse(string output)
    {
        int first = output.IndexOf(Open, StringComparison.Ordinal);
        if (first < 0) return null;
        var calls = new List<ParsedToolCall>();
        for (int at = first; at >= 0;)
        {
            int body = at + Open.Length;
            int close = output.IndexOf(Close, body, StringComparison.Ordinal);
            string json = close < 0 ? output[body..] : output[body..close];
            if (CallJson.TryParse(json) is not { } value || CallJson.Call(value) is not { } call) return null;
            calls.Add(call);
            at = close < 0 ? -1 : output.IndexOf(Open, close + Close.Length, StringComparison.Ordinal);
        }
        return new ToolCallParse(first, calls);
    }

    public int ContentLength(ReadOnlySpan<char> text, int from) => CallJson.BeforeMarker(text, from, Open);
}

/// <summary>
/// Mistral v0.3 / Mixtral: <c>[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]</c>; tokenizers from v11 on
/// (Mistral Small 3.2 and later): <c>[TOOL_CALLS]name[ARGS]{...}</c>, repeated. A tokenizer that decodes
/// <c>[TOOL_CALLS]</c> as a special token leaves the bare array, which is read too when it opens the output.
/// Call ids are 9 letters and digits: the Mistral templates refuse any other id in the history.
/// </summary>
internal sealed class MistralToolParser : IToolCallParser
{
    const string Marker = "[TOOL_CALLS]", Args = "[ARGS]";

    public ToolCallParse? Parse(string output)
    {
        int at = output.IndexOf(Marker, StringComparison.Ordinal);
        int contentEnd = at >= 0 ? at : 0;
        string calls = at >= 0 ? output[(at + Marker.Length)..] : OpensArrayOfObjects(output) == true ? output : "";
        if (calls.AsSpan().TrimStart() is not [var first, ..]) return null;
        var list = first is '[' or '{'
            ? CallJson.TryParse(calls) is { } value ? CallJson.Calls(value) : null
            : NamedCalls(calls);
        return list is null ? null : new ToolCallParse(contentEnd, list);
    }

    /// <summary>The v11 form after the first marker: <c>name[ARGS]{...}</c>, further calls each after their own marker.</summary>
    static List<ParsedToolCall>? NamedCalls(string text)
    {
        var calls = new List<ParsedToolCall>();
        foreach (var part in text.Split(Marker))
        {
            int args = part.IndexOf(Args, StringComparison.Ordinal);
            if (args <= 0 || part[..args].Trim() is not { Length: > 0 } name) return null;
            if (CallJson.TryParse(part[(args + Args.Length)..]) is not { ValueKind: System.Text.Json.JsonValueKind.Object } value) return null;
            calls.Add(new ParsedToolCall(name, value.GetRawText()));
        }
        return calls;
    }

    public int ContentLength(ReadOnlySpan<char> text, int from)
    {
        int marker = CallJson.BeforeMarker(text, from, Marker);
        return from == 0 && OpensArrayOfObjects(text) != false ? 0 : marker;
    }

    public string NewCallId() => IToolCallParser.RandomAlnum(9);

    /// <summary>Whether the text opens with <c>[</c> then <c>{</c> (whitespace allowed); null while too short to tell.</summary>
    static bool? OpensArrayOfObjects(ReadOnlySpan<char> text)
    {
        var t = text.TrimStart();
        if (t.IsEmpty) return null;
        if (t[0] != '[') return false;
        var rest = t[1..].TrimStart();
        return rest.IsEmpty ? null : rest[0] == '{';
    }
}

/// <summary>
/// Llama 3.1 / 3.2: the whole output is <c>{"name": ..., "parameters": {...}}</c> (or "arguments"), optionally after
/// <c>&lt;|python_tag|&gt;</c>, several separated by <c>;</c>. Only an output that opens with a call is read.
/// </summary>
internal sealed class Llama3JsonToolParser : IToolCallParser
{
    const string Tag = "<|python_tag|>";

    public ToolCallParse? Parse(string output)
    {
        string s = output.TrimStart();
        if (s.StartsWith(Tag, StringComparison.Ordinal)) s = s[Tag.Length..];
        var calls = new List<ParsedToolCall>();
        int pos = 0;
        while (true)
        {
            pos = SkipSpace(s, pos);
            if (pos >= s.Length || s[pos] != '{') return null;
            int end = CallJson.ValueEnd(s, pos);
            if (end < 0 || CallJson.TryParse(s[pos..end]) is not { } value) return null;
            // A bare object is a call only with its arguments key: {"name": "Tom"} alone is an answer.
            if (!value.TryGetProperty("parameters", out _) && !value.TryGetProperty("arguments", out _)) return null;
            if (CallJson.Call(value) is not { } call) return null;
            calls.Add(call);
            pos = SkipSpace(s, end);
            if (pos == s.Length) return new ToolCallParse(0, calls);
            if (s[pos] != ';') return null;
            pos++;
        }
    }

    public int ContentLength(ReadOnlySpan<char> text, int from)
    {
        if (from > 0) return text.Length;
        var t = text.TrimStart();
        bool mayBeCall = t.IsEmpty || t[0] == '{' || t.StartsWith(Tag) || Tag.AsSpan().StartsWith(t);
        return mayBeCall ? 0 : text.Length;
    }

    static int SkipSpace(string s, int pos)
    {
        while (pos < s.Length && char.IsWhiteSpace(s[pos])) pos++;
        return pos;
    }
}
