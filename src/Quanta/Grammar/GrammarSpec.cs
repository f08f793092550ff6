namespace Quanta.Grammar;

/// <summary>What a <see cref="GrammarSpec"/>'s value is.</summary>
public enum GrammarKind
{
    /// <summary>A JSON Schema (its JSON text); <c>{"type":"object"}</c> means any JSON object (OpenAI's json_object).</summary>
    Json,
    /// <summary>A regular expression the whole output must match.</summary>
    Regex,
}

/// <summary>
/// A constraint on a request's output: a JSON Schema (<see cref="GrammarKind.Json"/>, <see cref="Value"/> is the
/// schema's JSON text) or a regular expression (<see cref="GrammarKind.Regex"/>, matched against the whole output).
/// </summary>
public sealed record GrammarSpec(GrammarKind Kind, string Value)
{
    /// <summary>Any JSON object (OpenAI's <c>response_format: {"type": "json_object"}</c>).</summary>
    public static GrammarSpec AnyJsonObject { get; } = new(GrammarKind.Json, """{"type":"object"}""");
}

/// <summary>
/// A schema or regex that cannot be compiled: bad syntax, or keywords and constructs not supported
/// (<see cref="Unsupported"/> names them). Servers answer it with 422.
/// </summary>
public sealed class GrammarException(string message, IReadOnlyList<string>? unsupported = null) : Exception(message)
{
    /// <summary>The unsupported keywords or regex constructs found (empty for other errors).</summary>
    public IReadOnlyList<string> Unsupported { get; } = unsupported ?? [];
}
