namespace Quanta.Bench.Client;

/// <summary>Which API the benchmark speaks.</summary>
public enum BackendKind
{
    /// <summary>TGI <c>POST /generate_stream</c> (SSE).</summary>
    Tgi,
    /// <summary>OpenAI <c>POST /v1/completions</c> with <c>stream: true</c>.</summary>
    OpenAi,
    /// <summary>OpenAI <c>POST /v1/chat/completions</c> with <c>stream: true</c>.</summary>
    OpenAiChat,
}

/// <summary>Why a request did not complete; each kind is counted separately.</summary>
public enum FailureKind
{
    None,
    /// <summary>The TCP connection was refused or the host could not be reached.</summary>
    ConnectionRefused,
    /// <summary>The server answered with a non-2xx status before streaming.</summary>
    HttpStatus,
    /// <summary>The stream started, then carried an error event or broke off.</summary>
    MidStream,
    /// <summary>The server refused the request for lack of capacity: HTTP 429, or an event with error_type "overloaded".</summary>
    Overloaded,
    /// <summary>The request ran past <c>--timeout</c>.</summary>
    Timeout,
    /// <summary>Stopped by Ctrl-C before it finished.</summary>
    Cancelled,
    /// <summary>Anything else (bad JSON, protocol error...).</summary>
    Other,
}

/// <summary>What one request measured; times in seconds from the moment it was sent.</summary>
public sealed class RequestOutcome
{
    public int PromptLen { get; init; }
    public FailureKind Failure { get; set; }
    public int? HttpStatus { get; set; }
    public string? Error { get; set; }
    /// <summary>Send → first streamed chunk; 0 when none arrived.</summary>
    public double Ttft { get; set; }
    /// <summary>Send → last streamed chunk.</summary>
    public double Latency { get; set; }
    /// <summary>Gaps between successive streamed chunks (vLLM's ITL).</summary>
    public List<double> Itl { get; } = [];
    /// <summary>Tokens generated: the server's own count when it reports one, else the chunks received.</summary>
    public int OutputTokens { get; set; }
    public int Chunks { get; set; }
    public string GeneratedText { get; set; } = "";

    public bool Success => Failure == FailureKind.None;

    /// <summary>Key used in failure tables: <c>http_503</c> for HTTP statuses, else the kind in snake case.</summary>
    public string FailureKey => Failure switch
    {
        FailureKind.HttpStatus => $"http_{HttpStatus}",
        FailureKind.ConnectionRefused => "connection_refused",
        FailureKind.MidStream => "mid_stream",
        FailureKind.Overloaded => "overloaded",
        _ => Failure.ToString().ToLowerInvariant(),
    };
}
