using System.Threading.Channels;
using Quanta.Grammar;
using Quanta.Model;

namespace Quanta.Engine;

/// <summary>
/// The continuous-batching engine. One dedicated thread owns the scheduler, block manager, runner and
/// sampler; requests come in through a channel and each request's events go out on its own channel.
/// </summary>
public sealed partial class LlmEngine : IEngine
{
    const int PromptLogitsPerStep = 1 << 24;   // floats of prompt logits one request may ask for per step
    readonly IModelRunner _runner;
    readonly IDeviceSampler? _deviceSampler;   // null: every step samples on the CPU
    readonly bool _queueAhead;                 // queue decode steps ahead where the device sampler can (LlmEngine.Queue.cs)
    readonly ITokenizer _tokenizer;
    readonly BlockManager _blocks;
    readonly Scheduler _scheduler;
    readonly Sampler _sampler;
    readonly Lazy<GrammarCache> _grammars;     // compiled grammars over this vocabulary, built on first use
    readonly HashSet<int> _eos;
    readonly int _vocab;
    readonly Channel<RequestState> _incoming = Channel.CreateUnbounded<RequestState>(new() { SingleReader = true });
    readonly Dictionary<long, RequestState> _requests = [];
    readonly List<(Channel<GenerationEvent> Events, GenerationEvent Last)> _ended = [];   // requests ended this step
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Thread _thread;
    long _nextId;
    int _pending;
    volatile bool _healthy = true;
    volatile EngineStats _stats;

    public LlmEngine(IModelRunner runner, ITokenizer tokenizer, EngineOptions options)
    {
        if (options.MaxBatchPrefillTokens < 1) throw new ArgumentException($"max_batch_prefill_tokens must be at least 1, got {options.MaxBatchPrefillTokens}");
        if (options.MaxNumBatchedTokens < 0) throw new ArgumentException($"max_num_batched_tokens must be >= 0 (0: automatic), got {options.MaxNumBatchedTokens}");
        if (options.MaxRunningSequences < 1) throw new ArgumentException($"the running batch must hold at least 1 sequence, got {options.MaxRunningSequences}");
        if (options.WaitingServedRatio < 0) throw new ArgumentException($"waiting_served_ratio must be >= 0, got {options.WaitingServedRatio}");
        Options = options;
        _runner = runner;
        _deviceSampler = options.DeviceSampling ? runner as IDeviceSampler : null;
        _queueAhead = options.QueueAhead;
        _tokenizer = tokenizer;
        _vocab = runner.Config.VocabSize;
        _blocks = new BlockManager(runner.NumBlocks, runner.BlockSize, options.PrefixCaching);
        _scheduler = new Scheduler(_blocks, options);
        _sampler = new Sampler(_vocab);
        _eos = [.. runner.Config.EosTokenIds, tokenizer.EosId];
        _grammars = new(() => new GrammarCache(new TokenVocabulary(tokenizer, _vocab, _eos)));
        _stats = MakeStats();
        _thread = new Thread(Loop) { IsBackground = true, Name = "quanta-engine" };
        _thread.Start();
    }

    public int MaxBatchTotalTokens => _blocks.NumBlocks * _blocks.BlockSize;
    public EngineOptions Options { get; }
    public EngineStats Stats => _stats;
    public bool Healthy => _healthy && _thread.IsAlive;

    public ChannelReader<GenerationEvent> Submit(GenerationRequest request)
    {
        var events = Channel.CreateUnbounded<GenerationEvent>(new() { SingleReader = true, SingleWriter = true });
        if (Validate(request) is { } error) return Fail(events, error, "validation");
        var p = request.Params;
        var seq = new Sequence(Interlocked.Increment(ref _nextId), request.PromptIds, p)
        {
            NoPrefixCache = request.PromptLogprobs,
            MaxChunk = request.PromptLogprobs ? Math.Max(16, PromptLogitsPerStep / _vocab) : int.MaxValue,
        };
        // Logprobs are filled in only when asked; otherwise the tokens are made when (if ever) read.
        IReadOnlyList<TokenInfo> prefill = request.PromptLogprobs
            ? request.PromptIds.Select(id => PromptTokens.Make(id, _tokenizer)).ToArray()
            : new PromptTokens(request.PromptIds, _tokenizer);
        TokenGrammar? grammar = null;
        if (p.Grammar is { } spec)
            try { grammar = _grammars.Value.Get(spec); }
            catch (GrammarException e) { return Fail(events, e.Message, "validation"); }
        var state = new RequestState(request, seq, new SamplerState(p, request.PromptIds, grammar: grammar),
                                     new TextStreamer(_tokenizer, request.PromptIds, p.Stop), events, prefill);
        Interlocked.Increment(ref _pending);
        if (_incoming.Writer.TryWrite(state)) return events.Reader;
        Interlocked.Decrement(ref _pending);
        return Fail(events, "the engine is shutting down", "generation");
    }

    /// <summary>Stops taking requests, finishes the queued and in-flight ones, then ends the engine thread.</summary>
    public Task DrainAsync()
    {
        _incoming.Writer.TryComplete();
        return _stopped.Task;
    }

    public async ValueTask DisposeAsync() => await DrainAsync();

    string? Validate(GenerationRequest r)
    {
        var p = r.Params;
        if (r.PromptIds.Length == 0) return "the prompt is empty: at least one input token is required";
        foreach (int id in r.PromptIds)
            if ((uint)id >= (uint)_vocab) return $"input token id {id} is outside the vocabulary (size {_vocab})";
        if (p.MaxNewTokens < 1) return $"max_new_tokens must be strictly positive, got {p.MaxNewTokens}";
        long total = (long)r.PromptIds.Length + p.MaxNewTokens;
        if (total > MaxBatchTotalTokens)
            return $"input tokens ({r.PromptIds.Length}) + max_new_tokens ({p.MaxNewTokens}) = {total} exceeds the KV cache " +
                   $"capacity of {MaxBatchTotalTokens} tokens (max_batch_total_tokens)";
        return null;
    }

    static ChannelReader<GenerationEvent> Fail(Channel<GenerationEvent> events, string error, string type)
    {
        events.Writer.TryWrite(new GenerationFailed(error, type));
        events.Writer.TryComplete();
        return events.Reader;
    }

    void Loop()
    {
        try
        {
            while (true)
            {
                while (_incoming.Reader.TryRead(out var r))
                {
                    Interlocked.Decrement(ref _pending);
                    _requests[r.Seq.Id] = r;
                    _scheduler.Add(r.Seq);
                }
                DropCancelled();
                if (_requests.Count == 0 && _queued is null)
                {
                    Publish();
                    if (!_incoming.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) break;
                    continue;
                }
                Step();
                Publish();
            }
        }
        catch (Exception e)
        {
            _healthy = false;
            foreach (var r in _requests.Values.ToList()) FailRequest(r, "engine failure: " + e.Message);
        }
        finally
        {
            Publish();
            _stopped.TrySetResult();
        }
    }

    void DropCancelled()
    {
        DropCancelled(_scheduler.Running);
        DropCancelled(_scheduler.Waiting);
    }

    void DropCancelled(List<Sequence> list)
    {
        for (int i = list.Count - 1; i >= 0; i--)
        {
            if (i >= list.Count) continue;
            var r = _requests[list[i].Id];
            if (r.Request.Cancellation.IsCancellationRequested) Finish(r, FinishReason.Cancelled);
        }
    }

    void Finish(RequestState r, FinishReason reason)
    {
        var seq = r.Seq;
        _scheduler.Remove(seq);
        _requests.Remove(seq.Id);
        bool stopped = reason == FinishReason.StopSequence;
        if (!stopped) r.Streamer.Flush();
        var now = DateTime.UtcNow;
        var first = r.FirstScheduledUtc ?? now;
        string text = r.Streamer.Text;
        _ended.Add((r.Events, new GenerationFinished(reason, seq.NumGenerated, r.Sampler.Seed,
                                                    stopped ? r.Streamer.GeneratedText : text,
                                                    r.Prefill, first - r.Request.ArrivalUtc, now - first, text)));
    }

    void FailRequest(RequestState r, string error)
    {
        _scheduler.Remove(r.Seq);
        _requests.Remove(r.Seq.Id);
        _ended.Add((r.Events, new GenerationFailed(error, "generation")));
    }

    /// <summary>
    /// Publishes the stats once per step, then sends the last event of each request that ended in it: a client
    /// that sees its request end sees its blocks freed.
    /// </summary>
    void Publish()
    {
        _stats = MakeStats();
        foreach (var (events, last) in _ended)
        {
            events.Writer.TryWrite(last);
            events.Writer.TryComplete();
        }
        _ended.Clear();
    }

    EngineStats MakeStats()
    {
        int batchTokens = 0;
        foreach (var s in _scheduler.Running) batchTokens += s.Count;
        return new EngineStats(_scheduler.Running.Count, _scheduler.Waiting.Count + Volatile.Read(ref _pending), batchTokens,
                               _blocks.NumBlocks, _blocks.UsedBlocks, _blocks.BlockSize,
                               _blocks.PrefixQueries, _blocks.PrefixHits, _scheduler.Preemptions);
    }
}
