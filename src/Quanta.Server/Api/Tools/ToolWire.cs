namespace Quanta.Server.Api.Tools;

// OpenAI's tool-call wire types (snake_case through the serializer options).

/// <summary>A function's name and its arguments as a JSON string.</summary>
internal sealed record FunctionCallWire(string Name, string Arguments);

/// <summary><c>message.tool_calls[]</c>: <c>{"id", "type": "function", "function": {"name", "arguments"}}</c>.</summary>
internal sealed record ToolCallWire(string Id, string Type, FunctionCallWire Function);

/// <summary><c>delta.tool_calls[]</c>: a call's index, and here its id, type, name and whole arguments at once.</summary>
internal sealed record ToolCallDelta(int Index, string Id, string Type, FunctionCallWire Function);

/// <summary>A choice's answer with tool calls read from its text, and its finish reason.</summary>
internal static class ToolAnswer
{
    /// <summary>
    /// The message for a whole <paramref name="output"/>: calls (finish "tool_calls") when the plan's parser finds
    /// some, else the text as content with <paramref name="reason"/>.
    /// </summary>
    public static (AssistantMessage Message, string Finish) Message(ToolPlan plan, string output, string reason)
    {
        if (plan.Parser?.Parse(output) is not { } parse) return (new AssistantMessage("assistant", output), reason);
        var calls = Wire(plan, parse.Calls);
        return (new AssistantMessage("assistant", parse.Content(output), calls), "tool_calls");
    }

    /// <summary>The calls to report (only the first without parallel calls), each with a new id.</summary>
    public static List<ToolCallWire> Wire(ToolPlan plan, IReadOnlyList<ParsedToolCall> calls) =>
        calls.Take(plan.Parallel ? calls.Count : 1)
            .Select(c => new ToolCallWire(plan.Parser!.NewCallId(), "function", new FunctionCallWire(c.Name, c.Arguments))).ToList();
}
