using System.Net;
using System.Text.Json;
using Quanta.Bench.Client;
using Quanta.IO;
using Quanta.Model;
using Quanta.Tokenization;

namespace Quanta.Bench.Dataset;

/// <summary>Counts with a tokenizer loaded in this process.</summary>
public sealed class LocalTokenCounter(ITokenizer tokenizer) : ITokenCounter
{
    public Task<int> CountAsync(string text, bool addBos, CancellationToken ct) =>
        Task.FromResult(tokenizer.Encode(text, addBos).Length);

    /// <summary>
    /// Opens <c>--tokenizer PATH</c>: a folder with tokenizer.json / tokenizer.model, one of those files,
    /// a llama2.c tokenizer .bin (e.g. tok512.bin), or any checkpoint ModelLoader reads (its tokenizer is used).
    /// </summary>
    public static ITokenizer Open(string path)
    {
        if (Directory.Exists(path))
        {
            if (File.Exists(Path.Combine(path, "tokenizer.json")) || File.Exists(Path.Combine(path, "tokenizer.model")))
                return TokenizerFactory.FromModelDirectory(path);
            return TokenizerOf(path);
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"--tokenizer {path}: no such file or folder", path);
        var name = Path.GetFileName(path);
        if (name is "tokenizer.json" or "tokenizer.model")
            return TokenizerFactory.FromModelDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (name.StartsWith("tok", StringComparison.OrdinalIgnoreCase) && name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase))
            return TokenizerFactory.FromLlama2cFile(path);
        return TokenizerOf(path);
    }

    /// <summary>The tokenizer of a checkpoint; its mapped weights are released at once.</summary>
    static ITokenizer TokenizerOf(string path)
    {
        using var model = ModelLoader.Load(path);
        return model.Tokenizer;
    }
}

/// <summary>
/// Counts with the server's <c>POST /tokenize</c>: TGI's (<c>{"inputs"}</c> → array of tokens) or vLLM's
/// (<c>{"prompt"}</c> → <c>{"count"}</c>). The backend's style is tried first; when the server rejects it
/// (4xx) the other is tried once and kept. The server's count includes BOS; a count without BOS
/// subtracts what the server adds to an empty text. A text the server refuses to tokenize as longer than it
/// accepts (422 or 413 once the request style is known, as Quanta's /tokenize answers) counts as
/// <see cref="TooLong"/>, so the length filter drops it.
/// </summary>
public sealed class ServerTokenCounter(HttpClient http, Uri baseUrl, BackendKind backend) : ITokenCounter
{
    /// <summary>The count of a text the server refuses as too long.</summary>
    public const int TooLong = int.MaxValue;
    int? _bosOffset;
    bool _tgiStyle = backend == BackendKind.Tgi;
    bool _styleKnown;

    public async Task<int> CountAsync(string text, bool addBos, CancellationToken ct)
    {
        _bosOffset ??= await RawCountAsync("", ct);   // tokens the server adds to an empty text (BOS: 1)
        int n = await RawCountAsync(text, ct);
        return addBos ? n : Math.Max(0, n - _bosOffset.Value);
    }

    async Task<int> RawCountAsync(string text, CancellationToken ct)
    {
        var url = new Uri(baseUrl, "tokenize");
        using var resp = await PostAsync(url, text, ct);
        if (_styleKnown && text.Length > 0 && resp.StatusCode is HttpStatusCode.UnprocessableEntity or HttpStatusCode.RequestEntityTooLarge)
            return TooLong;
        if (!resp.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST {url} returned {(int)resp.StatusCode}; pass --tokenizer PATH to count tokens locally");
        using var doc = JsonDocument.Parse(await resp.Content.ReadAsStreamAsync(ct));
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Array) return root.GetArrayLength();
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("count", out var c) && c.TryGetInt32(out int count)) return count;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("tokens", out var t) && t.ValueKind == JsonValueKind.Array) return t.GetArrayLength();
        throw new InvalidDataException($"POST {url}: unexpected answer (expected a token array or {{\"count\"}})");
    }

    async Task<HttpResponseMessage> PostAsync(Uri url, string text, CancellationToken ct)
    {
        try
        {
            var resp = await http.PostAsync(url, Body(text), ct);
            bool shapeRejected = resp.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity;
            if (_styleKnown || !shapeRejected) { _styleKnown |= resp.IsSuccessStatusCode; return resp; }
            resp.Dispose();
            _tgiStyle = !_tgiStyle;
            _styleKnown = true;
            return await http.PostAsync(url, Body(text), ct);
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException(e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                ? $"cannot reach the server at {url} to count tokens: {e.Message}"
                : $"POST {url} failed: {e.Message} {e.InnerException?.Message}".TrimEnd());
        }
    }

    ByteArrayContent Body(string text) => RequestSender.Json(_tgiStyle ? new { inputs = text } : new { prompt = text });
}
