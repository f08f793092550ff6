using static Quanta.Tests.Server.TestCt;
using System.Text.Json;
using Quanta.Engine;
using Quanta.Server;

namespace Quanta.Tests.Server;

/// <summary>A real Kestrel server on 127.0.0.1:ephemeral over LlmEngine + <see cref="HashRunner"/>, and a client.</summary>
internal sealed class TestServer : ServerClient
{
    TestServer(QuantaServer server) : base(server, TimeSpan.FromSeconds(30)) { }

    /// <summary>The request log of a server started with no <c>logs</c> of its own.</summary>
    public LogCapture Logs { get; private init; } = new();

    /// <param name="throwOnToken">The runner fails a batch holding this token id (-1: never).</param>
    /// <param name="maxPositions">The model's context length in tokens (bytes).</param>
    public static async Task<TestServer> StartAsync(ServerOptions? options = null, int numBlocks = 256, int stepDelayMs = 0,
                                                    EngineOptions? engine = null, int throwOnToken = -1, int maxPositions = 512)
    {
        var runner = new HashRunner(numBlocks, 16, stepDelayMs, maxPositions) { ThrowOnToken = throwOnToken };
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
        var logs = new LogCapture();
        return new TestServer(await QuantaServer.StartAsync((options ?? new ServerOptions()) with { Port = 0 }, served, Ct, logs)) { Logs = logs };
    }

    public static TestServer Wrap(QuantaServer server) => new(server);
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
