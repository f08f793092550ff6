using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace Quanta.Server;

/// <summary>What one request did, filled in by its handler and read once by <see cref="RequestGuard"/> for the log and the metrics.</summary>
internal sealed class RequestRecord
{
    readonly long _start = Stopwatch.GetTimestamp();

    /// <summary>Since the request arrived.</summary>
    public TimeSpan Total => Stopwatch.GetElapsedTime(_start);
    /// <summary>Arrival to the end of validation and tokenization.</summary>
    public TimeSpan Validation { get; private set; }
    public void Validated(int promptTokens)
    {
        Validation = Total;
        PromptTokens = promptTokens;
    }

    public int? PromptTokens { get; set; }
    public int? GeneratedTokens { get; set; }
    public TimeSpan? QueueTime { get; set; }
    /// <summary>Set when the request failed, also after a 200 (an error event in a stream).</summary>
    public string? ErrorType { get; set; }
    /// <summary>The cause of a server-side failure (logged with its stack).</summary>
    public Exception? Exception { get; set; }
    public string? ErrorMessage { get; set; }
    /// <summary>The generation finished and its result is being sent.</summary>
    public bool Succeeded { get; set; }

    public void Fail(string errorType, string message, Exception? cause = null)
    {
        ErrorType ??= errorType;
        ErrorMessage ??= message;
        Exception ??= cause;
    }

    /// <summary>The record of <paramref name="ctx"/> (one is attached to every request by the guard).</summary>
    public static RequestRecord Of(HttpContext ctx) => ctx.Features.Get<RequestRecord>() ?? new RequestRecord();
}

/// <summary>Endpoint metadata of the routes that generate (counted in tgi_request_count and its outcomes).</summary>
internal sealed class GenerationRoute
{
    public static readonly GenerationRoute Marker = new();
}
