using System.Runtime.InteropServices;
using Quanta.Engine;

namespace Quanta.Server.Api.Tools;

/// <summary>
/// One streamed choice's tool-call detector. Text that can no longer start a call goes out as content at once; the
/// rest is held back until generation ends, then read whole: calls go out as <c>delta.tool_calls</c> (each call in
/// one chunk: index, id, type, name and its whole arguments) followed by an empty delta with finish reason
/// "tool_calls"; held text that is no call goes out as content.
/// </summary>
internal sealed class ToolStream(ToolPlan plan, Reply reply, int choice)
{
    readonly IToolCallParser _parser = plan.Parser ?? throw new ArgumentException("a tool stream needs a parser", nameof(plan));
    readonly List<char> _text = [];   // the output so far: appended per token, not copied (the parsers read it as a span)
    int _released;

    /// <summary>
    /// Writes the chunks for one generated token: <paramref name="delta"/> is the text it adds (what no stop sequence
    /// can claim), <paramref name="finish"/> the finish reason on the last token.
    /// </summary>
    public async Task WriteAsync(Sse sse, string delta, TokenGenerated token, string? finish, CancellationToken ct)
    {
        _text.AddRange(delta.AsSpan());
        if (finish is null)
        {
            int safe = Math.Max(_released, _parser.ContentLength(CollectionsMarshal.AsSpan(_text), _released));
            await sse.WriteAsync(reply.Chunk(choice, Release(safe), role: false, [token], null), ct);
            return;
        }
        var parse = _parser.Parse(new string(CollectionsMarshal.AsSpan(_text)));
        string? content = Release(parse is null ? _text.Count : Math.Max(_released, parse.ContentEnd));
        if (parse is null)
        {
            await sse.WriteAsync(reply.Chunk(choice, content, role: false, [token], finish), ct);
            return;
        }
        if (content is not null) await sse.WriteAsync(reply.Chunk(choice, content, role: false, [token], null), ct);
        var calls = ToolAnswer.Wire(plan, parse.Calls).Select((c, i) => new ToolCallDelta(i, c.Id, c.Type, c.Function)).ToList();
        await sse.WriteAsync(reply.ToolChunk(choice, calls, content is null ? [token] : null), ct);
        await sse.WriteAsync(reply.Chunk(choice, null, role: false, null, "tool_calls"), ct);
    }

    /// <summary>The text up to <paramref name="end"/> not sent yet (null when none), now counted as sent.</summary>
    string? Release(int end)
    {
        if (end <= _released) return null;
        string s = new(CollectionsMarshal.AsSpan(_text)[_released..end]);
        _released = end;
        return s;
    }
}
