namespace Quanta.Tests.Server;

/// <summary>One default server shared by the route tests of a class.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    internal TestServer S { get; private set; } = null!;
    public async ValueTask InitializeAsync() => S = await TestServer.StartAsync();
    public ValueTask DisposeAsync() => S.DisposeAsync();
}
