using System.Text.Json;
using Json.Schema;

namespace Quanta.Tests.Grammar;

/// <summary>Validation of constrained outputs with JsonSchema.Net.</summary>
internal static class SchemaAssert
{
    static readonly EvaluationOptions Strict = new() { RequireFormatValidation = true, OutputFormat = OutputFormat.List };

    /// <summary>Fails unless <paramref name="output"/> parses as JSON and validates against <paramref name="schemaText"/> (formats asserted).</summary>
    public static void Valid(string schemaText, string output)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(output); }
        catch (JsonException e) { throw new Xunit.Sdk.XunitException($"output is not JSON ({e.Message}):\n{output}\nschema: {schemaText}"); }
        using (doc)
        {
            var schema = JsonSchema.FromText(schemaText, new BuildOptions());
            var result = schema.Evaluate(doc.RootElement, Strict);
            if (!result.IsValid)
            {
                var errors = result.Details?.Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
                throw new Xunit.Sdk.XunitException($"output does not validate:\n{output}\nschema: {schemaText}\n{string.Join("\n", errors ?? [])}");
            }
        }
    }
}
