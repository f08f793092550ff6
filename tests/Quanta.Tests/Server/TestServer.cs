using static Quanta.Tests.Server.TestCt;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Quanta.Engine;
using Quanta.Server;

namespace Quanta.Tests.Server;

/// <summary>A real Kestrel server on 127.0.0.1:ephemeral over LlmEngine + <see cref="HashRunner"/>, and a client.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public QuantaServer Server { get; }
    public HttpClient Client { get; }

    TestServer(QuantaServer server)
    {
        Server = server;
        Client = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromSeconds(30) };
    }

    public static async Task<TestServer> StartAsync(ServerOptions? options = null, int numBlocks = 256, int stepDelayMs = 0,
                                                    EngineOptions? engine = null)
    {
        var runner = new HashRunner(numBlocks, 16, stepDelayMs);
        var tokenizer = new ByteTokenizer();
        var served = new ServedModel
        {
            Engine = new LlmEngine(runner, tokenizer, engine ?? new EngineOptions()),
            Tokenizer = tokenizer,
            Config = runner.Config,
            ModelId = "hash-model",
            DeviceName = runner.DeviceName,
        };
        served.Owned.Add(runner);
        return new TestServer(await QuantaServer.StartAsync((options ?? new ServerOptions()) with { Port = 0 }, served));
    }

    public static TestServer Wrap(QuantaServer server) => new(server);

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

internal static class JsonExt
{
    public static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage res) => Parse(await res.Content.ReadAsStringAsync(Ct));
}

internal static class TestCt
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;
}
