using System.Text.Json;
using System.Text.Json.Serialization;
using Quanta.Bench.Metrics;

namespace Quanta.Bench.Report;

/// <summary>A whole <c>quanta bench serve</c> invocation: settings and one entry per run; this is results.json.</summary>
public sealed record BenchReport
{
    public string Tool { get; init; } = "quanta bench serve";
    public required string Backend { get; init; }
    public required string BaseUrl { get; init; }
    public string? Model { get; init; }
    public required string Dataset { get; init; }
    public int NumPrompts { get; init; }
    public int Seed { get; init; }
    /// <summary>--output-len when given (null: each ShareGPT reply's length).</summary>
    public int? OutputLen { get; init; }
    public bool IgnoreEos { get; init; }
    /// <summary>Length filter applied to ShareGPT prompts (vLLM's 1024 / 2048, or the server's lower limits).</summary>
    public int MaxPromptLen { get; init; }
    public int MaxTotalLen { get; init; }
    /// <summary>--fit-to-server: output lengths lowered to the limits instead of skipping prompts.</summary>
    public bool FitToServer { get; init; }
    /// <summary>What the sampling decided for the user (a default output length, prompts skipped or fitted).</summary>
    public List<string> Notes { get; init; } = [];
    public DateTime StartedUtc { get; init; }
    public required List<RunMetrics> Runs { get; init; }

    static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Reads a results.json written by <c>bench serve</c>.</summary>
    /// <exception cref="InvalidDataException">names the file and what is wrong.</exception>
    public static BenchReport Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        try
        {
            var r = JsonSerializer.Deserialize<BenchReport>(File.ReadAllText(path), Options);
            if (r?.Runs is null || r.Runs.Count == 0) throw new InvalidDataException($"{path}: no runs (is it a bench serve results.json?)");
            return r;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a bench serve results.json ({e.Message})"); }
    }

    /// <summary>Writes results.json, results.md and chart.png into <paramref name="dir"/>.</summary>
    public void WriteAll(string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "results.json"), ToJson());
        File.WriteAllText(Path.Combine(dir, "results.md"), MarkdownReport.Full(this));
        Chart.Save(this, Path.Combine(dir, "chart.png"));
    }
}
