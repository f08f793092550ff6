using Quanta.Engine;

namespace Quanta.Tests.Engine;

/// <summary>A FakeRunner that can also sample "on the device", with the CPU Sampler's reference for one row.</summary>
internal sealed class FakeDeviceRunner(int numBlocks) : IModelRunner, IDeviceSampler
{
    readonly FakeRunner _inner = new(numBlocks);
    readonly Sampler _sampler = new(FakeRunner.Vocab);
    public int ForwardCalls, ForwardSampleCalls;
    /// <summary>Every row the engine asked to sample, in order.</summary>
    public List<RowSampling> Rows { get; } = [];
    /// <summary>Per call: whether it sampled on the "device", and whether a token at position >= <see cref="MarkerPosition"/> was in it.</summary>
    public List<(bool Device, bool Marked, int Seqs)> Calls { get; } = [];
    public int MarkerPosition { get; init; } = int.MaxValue;
    /// <summary>Milliseconds each step takes, so a test can act while a request is still generating.</summary>
    public int StepDelayMs { get; init; }
    public FakeRunner Inner => _inner;

    void Record(ForwardBatch b, bool device)
    {
        bool marked = false;
        for (int t = 0; t < b.NumTokens; t++) marked |= b.Positions[t] >= MarkerPosition;
        Calls.Add((device, marked, b.NumSeqs));
    }

    public Quanta.Model.LlamaConfig Config => _inner.Config;
    public string DeviceName => "fake device";
    public int BlockSize => _inner.BlockSize;
    public int NumBlocks => _inner.NumBlocks;

    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        ForwardCalls++;
        Record(batch, false);
        _inner.Forward(batch, logits);
    }

    public void ForwardSample(ForwardBatch batch, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs)
    {
        if (_queue.Count > 0) throw new InvalidOperationException("ForwardSample with steps queued");
        ForwardSampleCalls++;
        Record(batch, true);
        Run(batch, rows, ids, logprobs);
    }

    void Run(ForwardBatch batch, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs)
    {
        int v = FakeRunner.Vocab;
        if (StepDelayMs > 0) Thread.Sleep(StepDelayMs);
        var logits = new float[batch.NumLogits * v];
        _inner.Forward(batch, logits);
        for (int r = 0; r < batch.NumLogits; r++)
        {
            Rows.Add(rows[r]);
            ids[r] = _sampler.Sample(logits.AsSpan(r * v, v), rows[r], out logprobs[r]);
        }
    }

    readonly Queue<(int[] Ids, float[] Logprobs)> _queue = new();
    int[] _lastIds = [];
    /// <summary>Whether the engine may queue steps; steps queued while another was outstanding; tokens fed from the step before.</summary>
    public bool Queues { get; init; } = true;
    public int Fed;
    /// <summary>Per Queue call: the step's sequences, and whether another step was still outstanding.</summary>
    public List<(int Seqs, bool Behind)> QueueCalls { get; } = [];
    public int QueuedBehind => QueueCalls.Count(c => c.Behind);
    /// <summary>Rows with an allowed-token mask in steps queued while another was outstanding.</summary>
    public int MaskedBehind;
    public bool CanQueue => Queues;

    /// <summary>Runs the step at once (fed tokens take the previous queued step's ids) and keeps its result until collected.</summary>
    public void Queue(ForwardBatch batch, ReadOnlySpan<RowSampling> rows, ReadOnlySpan<int> feed)
    {
        if (_queue.Count >= 2) throw new InvalidOperationException("a third step queued");
        if (feed.Length > 0 && feed.Length != batch.NumTokens) throw new ArgumentException("feed length");
        QueueCalls.Add((batch.NumSeqs, _queue.Count > 0));
        if (_queue.Count > 0)
            for (int r = 0; r < batch.NumLogits; r++) MaskedBehind += rows[r].Mask.IsEmpty ? 0 : 1;
        for (int t = 0; t < feed.Length; t++)
            if (feed[t] >= 0) { batch.TokenIds[t] = _lastIds[feed[t]]; Fed++; }
        ForwardSampleCalls++;
        Record(batch, true);
        var ids = new int[batch.NumLogits];
        var lps = new float[batch.NumLogits];
        Run(batch, rows, ids, lps);
        _queue.Enqueue((ids, lps));
        _lastIds = ids;
    }

    public void Collect(Span<int> ids, Span<float> logprobs)
    {
        var (i, l) = _queue.Dequeue();
        i.AsSpan(0, ids.Length).CopyTo(ids);
        l.AsSpan(0, logprobs.Length).CopyTo(logprobs);
    }

    public void Dispose() => _inner.Dispose();
}

public class DeviceSamplingTests
{
    static readonly FakeTokenizer Tok = new();

    static int[] Prompt(int i, int len) => [1, .. Enumerable.Range(0, len - 1).Select(j => 3 + (i * 31 + j * 7) % 60)];

    static GenerationRequest Req(int i, SamplingParams p, bool promptLogprobs = false, int maxNew = 20) =>
        new() { PromptIds = Prompt(i, 9 + i), Params = p with { MaxNewTokens = maxNew }, PromptLogprobs = promptLogprobs };

    static readonly SamplingParams[] Simple =
    [
        new(),
        new() { DoSample = true, Seed = 5 },
        new() { DoSample = true, Seed = 6, Temperature = 0.7f, TopK = 10 },
        new() { DoSample = true, Seed = 7, TopP = 0.8f },
        new() { DoSample = true, Seed = 8, Temperature = 1.3f, TopK = 30, TopP = 0.9f },
        new() { TypicalP = 0.5f },                                  // greedy ignores typical-p
    ];

    static async Task<List<TokenGenerated>[]> Run(IModelRunner runner, GenerationRequest[] reqs, EngineOptions? o = null)
    {
        await using var e = new LlmEngine(runner, Tok, o ?? new EngineOptions());
        var all = await Task.WhenAll(reqs.Select(r => EngineTests.Collect(e, r)));
        foreach (var (_, last) in all) Assert.IsType<GenerationFinished>(last);
        return [.. all.Select(a => a.Tokens)];
    }

    [Fact]
    public async Task SimpleRequestsSampleOnTheDeviceAndGiveTheCpuTokens()
    {
        var reqs = Simple.Select((p, i) => Req(i, p)).ToArray();
        using var device = new FakeDeviceRunner(256);
        var got = await Run(device, reqs);
        var want = await Run(new FakeRunner(256), reqs);
        Assert.Equal(0, device.ForwardCalls);
        Assert.True(device.ForwardSampleCalls > 0);
        for (int i = 0; i < reqs.Length; i++)
        {
            Assert.Equal(want[i].Select(t => t.Token.Id), got[i].Select(t => t.Token.Id));
            Assert.Equal(want[i].Select(t => t.Token.Logprob), got[i].Select(t => t.Token.Logprob));
        }
        Assert.Contains(device.Rows, r => r.Greedy);
        Assert.Contains(device.Rows, r => !r.Greedy && r.TopK == 10 && r.Temperature == 0.7f && r.TopP == 1f);
        Assert.Contains(device.Rows, r => !r.Greedy && r.TopK == 0 && r.Temperature == 1f && r.TopP == 0.8f);
    }

    /// <summary>
    /// Decode steps queued ahead (tokens fed from the step before) give every request exactly the tokens, logprobs and
    /// finish reasons of unqueued steps: requests of different lengths, EOS, a stop sequence and a late arrival end or
    /// join runs of queued steps; the fake model checks that every position's KV is where the block table says.
    /// </summary>
    [Fact]
    public async Task QueuedDecodeStepsGiveTheTokensOfUnqueuedOnes()
    {
        var reqs = Simple.Select((p, i) => Req(i, p, maxNew: 5 + 9 * i)).Append(Req(7, new SamplingParams { Stop = ["q"] }, maxNew: 60)).ToArray();
        async Task<(List<TokenGenerated>[] Tokens, GenerationEvent[] Last, FakeDeviceRunner Runner)> Go(bool queue)
        {
            var runner = new FakeDeviceRunner(256) { Queues = queue };
            runner.Inner.AllowEos = true;
            await using var e = new LlmEngine(runner, Tok, new EngineOptions());
            var first = reqs[..^2].Select(r => EngineTests.Collect(e, r)).ToList();
            var (early, _) = await first[0];   // the last two arrive while the others decode
            Assert.NotEmpty(early);
            first.AddRange(reqs[^2..].Select(r => EngineTests.Collect(e, r)));
            var all = await Task.WhenAll(first);
            return ([.. all.Select(a => a.Tokens)], [.. all.Select(a => a.Last)], runner);
        }
        var (got, gotLast, queued) = await Go(true);
        var (want, wantLast, plain) = await Go(false);
        Assert.True(queued.QueuedBehind > 10, $"{queued.QueuedBehind} steps queued behind another");
        Assert.True(queued.Fed > 10);
        Assert.Equal(0, plain.QueuedBehind);
        for (int i = 0; i < reqs.Length; i++)
        {
            Assert.Equal(want[i].Select(t => t.Token.Id), got[i].Select(t => t.Token.Id));
            Assert.Equal(want[i].Select(t => t.Token.Logprob), got[i].Select(t => t.Token.Logprob));
            var (w, g) = (Assert.IsType<GenerationFinished>(wantLast[i]), Assert.IsType<GenerationFinished>(gotLast[i]));
            Assert.Equal((w.Reason, w.GeneratedTokens, w.GeneratedText), (g.Reason, g.GeneratedTokens, g.GeneratedText));
        }
        Assert.Contains(gotLast, l => ((GenerationFinished)l).Reason == FinishReason.Length);
        Assert.Contains(gotLast, l => ((GenerationFinished)l).Reason != FinishReason.Length);
    }

    /// <summary>
    /// When a sequence ends, the run of queued steps goes on without it: the first step of the survivors alone is queued
    /// behind the step before (not run after a drained queue), and every token matches unqueued steps.
    /// </summary>
    [Fact]
    public async Task AFinishedSequenceDropsOutOfTheQueuedRun()
    {
        // Whichever ends first (the long one is submitted first, so the two overlap however the engine admits them).
        GenerationRequest[] reqs = [Req(2, new SamplingParams { DoSample = true, Seed = 9 }, maxNew: 40), Req(1, new SamplingParams(), maxNew: 12)];
        async Task<(List<TokenGenerated>[] Tokens, FakeDeviceRunner Runner)> Go(bool queue)
        {
            var runner = new FakeDeviceRunner(256) { Queues = queue };
            return (await Run(runner, reqs), runner);
        }
        var (got, queued) = await Go(true);
        var (want, _) = await Go(false);
        for (int i = 0; i < reqs.Length; i++) Assert.Equal(want[i].Select(t => (t.Token.Id, t.Token.Logprob)), got[i].Select(t => (t.Token.Id, t.Token.Logprob)));
        var calls = queued.QueueCalls;
        int both = calls.FindIndex(c => c.Seqs == 2), alone = calls.FindIndex(Math.Max(both, 0), c => c.Seqs == 1);
        Assert.True(both >= 0 && alone > both, string.Join(", ", calls));
        Assert.True(calls[alone].Behind, $"the first step without the finished sequence waited for an empty queue: {string.Join(", ", calls)}");
    }

    /// <summary>A request cancelled while its steps run queued ends as cancelled, frees its blocks, and the others go on.</summary>
    [Fact]
    public async Task CancellingDuringQueuedStepsFreesTheBlocks()
    {
        var ct = TestContext.Current.CancellationToken;
        // 1 ms a step: the 1,000-token request is still generating when its 20th token arrives, however fast the machine.
        using var runner = new FakeDeviceRunner(64) { StepDelayMs = 1 };
        await using var e = new LlmEngine(runner, Tok, new EngineOptions { PrefixCaching = false });
        using var cts = new CancellationTokenSource();
        var events = e.Submit(new GenerationRequest { PromptIds = Prompt(2, 20), Params = new() { MaxNewTokens = 1000 }, Cancellation = cts.Token });
        var other = EngineTests.Collect(e, Req(4, new SamplingParams { DoSample = true, Seed = 3 }, maxNew: 300));
        for (int i = 0; i < 20; i++) Assert.IsType<TokenGenerated>(await events.ReadAsync(ct));
        cts.Cancel();
        GenerationEvent last;
        do last = await events.ReadAsync(ct); while (last is TokenGenerated);
        Assert.Equal(FinishReason.Cancelled, Assert.IsType<GenerationFinished>(last).Reason);
        var (tokens, end) = await other;
        Assert.Equal(300, tokens.Count);
        Assert.IsType<GenerationFinished>(end);
        while (e.Stats.Running > 0) await Task.Delay(1, ct);
        Assert.Equal(0, e.Stats.KvBlocksUsed);
        Assert.True(runner.QueuedBehind > 0);
    }

    public static TheoryData<string> NotSimple => ["top_n_tokens", "repetition_penalty", "frequency_penalty", "presence_penalty", "typical_p"];

    static SamplingParams Odd(string what) => what switch
    {
        "top_n_tokens" => new() { TopNTokens = 3 },
        "repetition_penalty" => new() { RepetitionPenalty = 1.3f },
        "frequency_penalty" => new() { DoSample = true, Seed = 3, FrequencyPenalty = 0.5f },
        "presence_penalty" => new() { DoSample = true, Seed = 3, PresencePenalty = 0.5f },
        _ => new() { DoSample = true, Seed = 3, TypicalP = 0.7f },
    };

    /// <summary>
    /// One request the device cannot sample (a 200-token prompt: the only positions past 150) among simple ones, all
    /// in the same steps: exactly the steps that hold it run on the CPU path, and every request gets its CPU tokens.
    /// </summary>
    [Theory]
    [MemberData(nameof(NotSimple))]
    public async Task AStepWithOneRowTheDeviceCannotSampleFallsBackWhole(string what)
    {
        var odd = new GenerationRequest { PromptIds = Prompt(9, 200), Params = Odd(what) with { MaxNewTokens = 20 } };
        var reqs = Simple.Select((p, i) => Req(i, p, maxNew: 40)).Append(odd).ToArray();
        using var device = new FakeDeviceRunner(256) { MarkerPosition = 150 };
        device.Inner.Gate.Reset();                       // the first step waits until every request is queued
        var pending = Run(device, reqs);
        Assert.True(device.Inner.Entered.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        device.Inner.Gate.Set();
        var got = await pending;
        var want = await Run(new FakeRunner(256), reqs);
        Assert.All(device.Calls, c => Assert.Equal(!c.Marked, c.Device));
        Assert.Contains(device.Calls, c => c.Marked && c.Seqs > 1);
        Assert.Contains(device.Calls, c => c.Device);
        for (int i = 0; i < reqs.Length; i++)
        {
            Assert.Equal(want[i].Select(t => t.Token.Id), got[i].Select(t => t.Token.Id));
            Assert.Equal(want[i].Select(t => t.TopTokens.Count), got[i].Select(t => t.TopTokens.Count));
        }
    }

    /// <summary>Prompt logprobs need every prompt row's logits: the prefill runs on the CPU path, the decode steps on the device.</summary>
    [Fact]
    public async Task PromptLogprobsPrefillOnTheCpuPathThenDecodeOnTheDevice()
    {
        var reqs = new[] { Req(3, new SamplingParams { DoSample = true, Seed = 11, TopK = 8 }, promptLogprobs: true) };
        using var device = new FakeDeviceRunner(64);
        var got = await Run(device, reqs);
        var want = await Run(new FakeRunner(64), reqs);
        Assert.False(device.Calls[0].Device);
        Assert.All(device.Calls.Skip(1), c => Assert.True(c.Device));
        Assert.Equal(want[0].Select(t => t.Token.Id), got[0].Select(t => t.Token.Id));
    }

    [Fact]
    public async Task DeviceSamplingOffKeepsEveryStepOnTheCpuPath()
    {
        using var device = new FakeDeviceRunner(64);
        await Run(device, [Req(1, new SamplingParams())], new EngineOptions { DeviceSampling = false });
        Assert.Equal(0, device.ForwardSampleCalls);
        Assert.True(device.ForwardCalls > 0);
    }

    /// <summary>The reference row sampler draws what Sample draws from a request's RNG when given that RNG's next uniform.</summary>
    [Fact]
    public void RowSamplingReferenceMatchesTheRequestSampler()
    {
        var rng = new Random(17);
        int vocab = 1000;
        var sampler = new Sampler(vocab);
        var logits = new float[vocab];
        foreach (var p in Simple)
            for (int n = 0; n < 20; n++)
            {
                for (int i = 0; i < vocab; i++) logits[i] = (float)(rng.NextDouble() * 12 - 6);
                var state = new SamplerState(p, [], seed: (ulong)n);
                var copy = new Xoshiro256((ulong)n);
                var row = RowSampling.For(p, vocab, p.DoSample ? copy.NextDouble() : 0);
                int want = sampler.Sample(logits, p, state, out float wantLp, [], []);
                Assert.Equal(want, sampler.Sample(logits, row, out float lp));
                Assert.Equal(wantLp, lp);
            }
    }
}
