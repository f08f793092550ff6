using Prometheus;
using Quanta.Engine;

namespace Quanta.Server;

/// <summary>TGI's Prometheus metrics (plus KV and prefix cache ones) in a registry of this server's own.</summary>
internal sealed class ServerMetrics
{
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();
    /// <summary>The last minute's TTFT, inter-token latency and token rate (for /stats).</summary>
    public Web.LatencyWindow Window { get; } = new(TimeProvider.System);

    public readonly Counter RequestCount, RequestSuccess, RequestFailure;
    public readonly Histogram Duration, ValidationDuration, QueueDuration, InferenceDuration, TimePerToken;
    public readonly Histogram GeneratedTokens, InputLength, MaxNewTokens;
    readonly Gauge _batchSize, _batchMaxTokens, _queueSize, _kvTotal, _kvUsed, _kvUsage, _inFlight;
    readonly Counter _prefixQueries, _prefixHits, _preemptions;

    public ServerMetrics(IEngine engine, Func<int> inFlight)
    {
        var f = Metrics.WithCustomRegistry(Registry);
        var seconds = new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 18) };
        var tokens = new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 14) };
        RequestCount = f.CreateCounter("tgi_request_count", "Requests received");
        RequestSuccess = f.CreateCounter("tgi_request_success", "Requests that finished successfully");
        RequestFailure = f.CreateCounter("tgi_request_failure", "Requests that failed",
            new CounterConfiguration { LabelNames = ["err"] });
        Duration = f.CreateHistogram("tgi_request_duration", "Total request time (s)", seconds);
        ValidationDuration = f.CreateHistogram("tgi_request_validation_duration", "Validation and tokenization time (s)", seconds);
        QueueDuration = f.CreateHistogram("tgi_request_queue_duration", "Time waiting for the first schedule (s)", seconds);
        InferenceDuration = f.CreateHistogram("tgi_request_inference_duration", "Time from first schedule to finish (s)", seconds);
        TimePerToken = f.CreateHistogram("tgi_request_mean_time_per_token_duration", "Inference time per generated token (s)", seconds);
        GeneratedTokens = f.CreateHistogram("tgi_request_generated_tokens", "Generated tokens per request", tokens);
        InputLength = f.CreateHistogram("tgi_request_input_length", "Prompt tokens per request", tokens);
        MaxNewTokens = f.CreateHistogram("tgi_request_max_new_tokens", "max_new_tokens per request", tokens);
        _batchSize = f.CreateGauge("tgi_batch_current_size", "Sequences in the running batch");
        _batchMaxTokens = f.CreateGauge("tgi_batch_current_max_tokens", "KV tokens the running batch may reach");
        _queueSize = f.CreateGauge("tgi_queue_size", "Requests waiting to be scheduled");
        _inFlight = f.CreateGauge("quanta_requests_in_flight", "Generation requests being served");
        _kvTotal = f.CreateGauge("quanta_kv_cache_blocks_total", "KV cache blocks");
        _kvUsed = f.CreateGauge("quanta_kv_cache_blocks_used", "KV cache blocks in use");
        _kvUsage = f.CreateGauge("quanta_kv_cache_usage_ratio", "Fraction of KV cache blocks in use");
        _prefixQueries = f.CreateCounter("quanta_prefix_cache_queries", "Prompt blocks looked up in the prefix cache");
        _prefixHits = f.CreateCounter("quanta_prefix_cache_hits", "Prompt blocks found in the prefix cache");
        _preemptions = f.CreateCounter("quanta_preemptions", "Sequences preempted for lack of KV blocks");
        Registry.AddBeforeCollectCallback(() =>
        {
            var s = engine.Stats;
            _batchSize.Set(s.Running);
            _batchMaxTokens.Set(s.BatchMaxTokens);
            _queueSize.Set(s.Waiting);
            _inFlight.Set(inFlight());
            _kvTotal.Set(s.KvBlocksTotal);
            _kvUsed.Set(s.KvBlocksUsed);
            _kvUsage.Set(s.KvBlocksTotal == 0 ? 0 : (double)s.KvBlocksUsed / s.KvBlocksTotal);
            _prefixQueries.IncTo(s.PrefixCacheQueries);
            _prefixHits.IncTo(s.PrefixCacheHits);
            _preemptions.IncTo(s.Preemptions);
        });
    }

    public void Failure(string errorType) => RequestFailure.WithLabels(errorType).Inc();
}
