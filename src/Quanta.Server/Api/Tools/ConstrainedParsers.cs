namespace Quanta.Server.Api.Tools;

/// <summary>
/// <c>tool_choice</c> naming a function: the output, constrained to the function's parameters schema, is that call's
/// arguments.
/// </summary>
internal sealed class NamedCallParser(string name, IToolCallParser ids) : IToolCallParser
{
    public ToolCallParse? Parse(string output) =>
        CallJson.TryParse(output) is { ValueKind: System.Text.Json.JsonValueKind.Object }
            ? new ToolCallParse(0, [new ParsedToolCall(name, output.Trim())])
            : null;

    public int ContentLength(ReadOnlySpan<char> text, int from) => 0;

    public string NewCallId() => ids.NewCallId();
}

/// <summary>
/// <c>tool_choice: "required"</c>: the output, constrained to <c>[{"name": ..., "parameters": {...}}, ...]</c>, is
/// the list of calls.
/// </summary>
internal sealed class RequiredCallsParser(IToolCallParser ids) : IToolCallParser
{
    public ToolCallParse? Parse(string output) =>
        CallJson.TryParse(output) is { ValueKind: System.Text.Json.JsonValueKind.Array } value && CallJson.Calls(value) is { } calls
            ? new ToolCallParse(0, calls)
            : null;

    public int ContentLength(ReadOnlySpan<char> text, int from) => 0;

    public string NewCallId() => ids.NewCallId();
}
