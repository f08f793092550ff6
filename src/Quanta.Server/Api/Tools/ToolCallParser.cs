using System.Security.Cryptography;
using System.Text.Json;

namespace Quanta.Server.Api.Tools;

/// <summary>One function call read from a model's output: its name and its arguments as JSON text.</summary>
internal sealed record ParsedToolCall(string Name, string Arguments);

/// <summary>
/// The calls found in an output, and where they start: the text before <see cref="ContentEnd"/> is the message's
/// content (text after the calls is dropped).
/// </summary>
internal sealed record ToolCallParse(int ContentEnd, IReadOnlyList<ParsedToolCall> Calls)
{
    /// <summary>The content of a message whose output is <paramref name="output"/>: the text before the calls, null when blank.</summary>
    public string? Content(string output) => output[..ContentEnd].Trim() is { Length: > 0 } c ? c : null;
}

/// <summary>
/// Reads one model family's function-call format. <see cref="Parse"/> reads a whole output;
/// <see cref="ContentLength"/> tells a stream how much of a partial output can no longer become a call.
/// </summary>
internal interface IToolCallParser
{
    /// <summary>The calls in <paramref name="output"/>; null when it holds none, or text that only looks like calls.</summary>
    ToolCallParse? Parse(string output);

    /// <summary>
    /// The length of the prefix of <paramref name="text"/> (a partial output) that is content whatever follows;
    /// <paramref name="from"/> is a length this returned before for a shorter prefix of the same output.
    /// </summary>
    int ContentLength(ReadOnlySpan<char> text, int from);

    /// <summary>A new call id, in the shape the family's template accepts back in the history.</summary>
    string NewCallId() => "call_" + RandomAlnum(24);

    /// <summary><paramref name="n"/> random letters and digits.</summary>
    static string RandomAlnum(int n) => RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n);
}

/// <summary>JSON helpers shared by the parsers: the end of a JSON value in text, and a call object's fields.</summary>
internal static class CallJson
{
    /// <summary>
    /// The index just past the object or array that opens at <paramref name="start"/> (brackets inside strings
    /// and escapes skipped); -1 when it is not closed.
    /// </summary>
    public static int ValueEnd(string text, int start)
    {
        int depth = 0;
        bool inString = false;
        for (int i = start; i < text.Length; i++)
        {
            char c = text[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
            }
            else if (c == '"') inString = true;
            else if (c is '{' or '[') depth++;
            else if (c is '}' or ']' && --depth == 0) return i + 1;
        }
        return -1;
    }

    /// <summary>The JSON value in <paramref name="text"/>, or null when it is not exactly one valid value.</summary>
    public static JsonElement? TryParse(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// A call from <c>{"name": "...", "arguments"|"parameters": {...}}</c> (arguments may also be a string holding
    /// a JSON object, or absent for none); null for any other shape.
    /// </summary>
    public static ParsedToolCall? Call(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty("name", out var name)
            || name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 } n)
            return null;
        bool has = obj.TryGetProperty("arguments", out var args) || obj.TryGetProperty("parameters", out args);
        if (!has || args.ValueKind == JsonValueKind.Null) return new ParsedToolCall(n, "{}");
        if (args.ValueKind == JsonValueKind.Object) return new ParsedToolCall(n, args.GetRawText());
        if (args.ValueKind == JsonValueKind.String && TryParse(args.GetString()!) is { ValueKind: JsonValueKind.Object })
            return new ParsedToolCall(n, args.GetString()!);
        return null;
    }

    /// <summary>The calls of a JSON array of call objects (or one call object); null when any element is not a call.</summary>
    public static List<ParsedToolCall>? Calls(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Object) return Call(value) is { } one ? [one] : null;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0) return null;
        var calls = new List<ParsedToolCall>();
        foreach (var e in value.EnumerateArray())
        {
            if (Call(e) is not { } c) return null;
            calls.Add(c);
        }
        return calls;
    }

    /// <summary>
    /// The length of the text before a possible start of <paramref name="marker"/> at or after
    /// <paramref name="from"/>: where it occurs whole, or where a suffix begins that is a prefix of it.
    /// </summary>
    public static int BeforeMarker(ReadOnlySpan<char> text, int from, string marker)
    {
        int at = text[from..].IndexOf(marker, StringComparison.Ordinal);
        if (at >= 0) return from + at;
        for (int k = Math.Min(marker.Length - 1, text.Length - from); k > 0; k--)
            if (text[^k..].SequenceEqual(marker.AsSpan(0, k))) return text.Length - k;
        return text.Length;
    }
}
