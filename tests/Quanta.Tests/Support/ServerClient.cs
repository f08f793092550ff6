using System.Text;
using System.Text.Json;
using Quanta.Server;

namespace Quanta.Tests;

// Shared by Quanta.Cuda.Tests (linked file).

/// <summary>An HttpClient on an in-process <see cref="QuantaServer"/>, with the reads the HTTP tests make.</summary>
internal class ServerClient : IAsyncDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public QuantaServer Server { get; }
    public HttpClient Client { get; }

    public ServerClient(QuantaServer server, TimeSpan timeout)
    {
        Server = server;
        Client = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = timeout };
    }

    public Task<HttpResponseMessage> PostAsync(string path, object body)
        => Client.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"), Ct);

    public async Task<JsonElement> PostJsonAsync(string path, object body)
    {
        using var res = await PostAsync(path, body);
        var text = await res.Content.ReadAsStringAsync(Ct);
        Assert.True(res.IsSuccessStatusCode, $"{path}: {(int)res.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>POSTs and reads the SSE body as a client would: the JSON of each "data:" line (or the raw text).</summary>
    public async Task<List<string>> PostSseAsync(string path, object body)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path)
        { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        using var res = await Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.True(res.IsSuccessStatusCode, $"{path}: {(int)res.StatusCode} {await res.Content.ReadAsStringAsync(Ct)}");
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType?.MediaType);
        return await ReadEventsAsync(await res.Content.ReadAsStreamAsync(Ct), Ct);
    }

    public static async Task<List<string>> ReadEventsAsync(Stream stream, CancellationToken ct)
    {
        using var reader = new StreamReader(stream);
        return await ReadEventsAsync(reader, ct);
    }

    public static async Task<List<string>> ReadEventsAsync(TextReader reader, CancellationToken ct)
    {
        var events = new List<string>();
        string? line;
        while ((line = await reader.ReadLineAsync(ct)) is not null)
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data:", line);
            events.Add(line["data:".Length..].TrimStart());
        }
        return events;
    }

    /// <summary>The value of an unlabelled sample in /metrics.</summary>
    public async Task<double> MetricAsync(string name)
    {
        var text = await Client.GetStringAsync("/metrics", Ct);
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
                return double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        throw new Xunit.Sdk.XunitException($"metric {name} not found in:\n{text}");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }
}
