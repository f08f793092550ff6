using System.Text.Json;
using Quanta.Model;

namespace Quanta.IO.Hf;

/// <summary>Typed reads of a JSON config file; a bad field is a <see cref="ModelLoadException"/> naming file and field.</summary>
internal sealed class JsonFile
{
    public string Path { get; }
    public JsonElement Root { get; }

    JsonFile(string path, JsonElement root) { Path = path; Root = root; }

    public static JsonFile Read(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{path}: not a JSON object");
            return new JsonFile(path, doc.RootElement.Clone());
        }
        catch (JsonException e) { throw new ModelLoadException($"{path}: invalid JSON ({e.Message})"); }
    }

    public static JsonFile? TryRead(string path) => File.Exists(path) ? Read(path) : null;

    public JsonFile Sub(JsonElement e) => new(Path, e);

    public JsonElement? Get(string key) => Root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public int Int(string key) => IntOr(key, null) ?? throw Error(key, "is required");

    public int? IntOr(string key, int? fallback)
    {
        if (Get(key) is not { } v) return fallback;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) return i;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        throw Error(key, $"must be an integer, got {v.GetRawText()}");
    }

    public float? FloatOr(string key, float? fallback)
    {
        if (Get(key) is not { } v) return fallback;
        if (v.ValueKind == JsonValueKind.Number) return (float)v.GetDouble();
        throw Error(key, $"must be a number, got {v.GetRawText()}");
    }

    public bool? BoolOr(string key, bool? fallback)
    {
        if (Get(key) is not { } v) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(key, $"must be true or false, got {v.GetRawText()}"),
        };
    }

    public string? StringOr(string key, string? fallback)
    {
        if (Get(key) is not { } v) return fallback;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(key, $"must be a string, got {v.GetRawText()}");
    }

    /// <summary>An int or a list of ints (e.g. eos_token_id); empty when absent.</summary>
    public List<int> IntList(string key)
    {
        if (Get(key) is not { } v) return [];
        if (v.ValueKind == JsonValueKind.Number) return [Int(key)];
        if (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)))
            return v.EnumerateArray().Select(x => x.GetInt32()).ToList();
        throw Error(key, $"must be an integer or a list of integers, got {v.GetRawText()}");
    }

    public ModelLoadException Error(string key, string problem) => new($"{Path}: {key} {problem}");
}
