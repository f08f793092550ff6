using System.Net;
using System.Text.Json;

namespace Quanta.Bench.Client;

/// <summary>What the server says about itself: model name and length limits (each null when unknown).</summary>
public sealed record ServerInfo(string? Model, int? MaxInputTokens, int? MaxTotalTokens)
{
    /// <summary>
    /// TGI's GET /info (model_id, max_input_tokens or max_input_length, max_total_tokens); for OpenAI backends
    /// GET /v1/models (first id; vLLM's max_model_len), then /info for the limits when that has none.
    /// Never fails: a server without them gives nulls.
    /// </summary>
    public static async Task<ServerInfo> GetAsync(HttpClient http, Uri baseUrl, BackendKind backend, CancellationToken ct)
    {
        var info = await GetAsync(http, baseUrl, backend == BackendKind.Tgi, ct);
        if (backend == BackendKind.Tgi || info.MaxTotalTokens is not null) return info;
        var tgi = await GetAsync(http, baseUrl, true, ct);    // TGI and Quanta serve /info beside the OpenAI routes
        return new(info.Model ?? tgi.Model, tgi.MaxInputTokens, tgi.MaxTotalTokens);
    }

    static async Task<ServerInfo> GetAsync(HttpClient http, Uri baseUrl, bool tgi, CancellationToken ct)
    {
        var url = new Uri(baseUrl, tgi ? "info" : "v1/models");
        try
        {
            using var resp = await http.GetAsync(url, ct);
            if (resp.StatusCode != HttpStatusCode.OK) return new(null, null, null);
            using var doc = JsonDocument.Parse(await resp.Content.ReadAsStreamAsync(ct));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return new(null, null, null);
            if (tgi)
                return new(Str(root, "model_id"), Int(root, "max_input_tokens") ?? Int(root, "max_input_length"), Int(root, "max_total_tokens"));
            if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array || data.GetArrayLength() == 0)
                return new(null, null, null);
            int? len = Int(data[0], "max_model_len");
            return new(Str(data[0], "id"), len, len);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException) { return new(null, null, null); }
    }

    static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    static int? Int(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.TryGetInt32(out int n) && n > 0 ? n : null;
}
