using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Quanta.Tests;

/// <summary>An <see cref="ILoggerProvider"/> that keeps every entry: its level, category, message, cause and named values.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception, IReadOnlyDictionary<string, object?> Values);

    public ConcurrentQueue<Entry> Entries { get; } = new();

    /// <summary>Request log lines (the server's per-request entries).</summary>
    public List<Entry> Requests => Entries.Where(e => e.Category == "Quanta.Server.Requests").ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    sealed class Logger(LogCapture sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            sink.Entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception, values));
        }
    }
}
