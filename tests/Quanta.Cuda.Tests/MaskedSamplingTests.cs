using Quanta.Cpu;
using Quanta.Engine;
using Quanta.Grammar;
using Quanta.IO;
using Quanta.Model;
using Quanta.Tests;
using Quanta.Tests.Grammar;

namespace Quanta.Cuda.Tests;

/// <summary>
/// Constrained decoding on the GPU: mask_rows (Kernels/sampling.cu) with sample_rows and greedy_rows against the CPU
/// Sampler given the same allowed-token masks, and constrained requests through the CUDA runner's engine.
/// </summary>
public class MaskedSamplingTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Allowed-token bits [ceil(vocab / 32)] for <paramref name="ids"/>.</summary>
    static uint[] MaskOf(int vocab, IEnumerable<int> ids)
    {
        var m = new uint[(vocab + 31) / 32];
        foreach (int id in ids) m[id >> 5] |= 1u << (id & 31);
        return m;
    }

    /// <summary>
    /// A mask of kind <paramref name="kind"/> % 8: none (a free row), one token, one token at the vocabulary's end, five
    /// tokens, about half the vocabulary, the last 40 tokens (the partial last word), one aligned word of 32, or all but one.
    /// </summary>
    static uint[]? Mask(Random rng, int vocab, int kind) => (kind % 8) switch
    {
        0 => null,
        1 => MaskOf(vocab, [rng.Next(vocab)]),
        2 => MaskOf(vocab, [vocab - 1]),
        3 => MaskOf(vocab, Enumerable.Range(0, 5).Select(_ => rng.Next(vocab))),
        4 => MaskOf(vocab, Enumerable.Range(0, vocab).Where(_ => rng.Next(2) == 0)),
        5 => MaskOf(vocab, Enumerable.Range(vocab - 40, 40)),
        6 => MaskOf(vocab, Enumerable.Range(rng.Next(vocab / 32) * 32, 32)),
        _ => MaskOf(vocab, Enumerable.Range(0, vocab).Where(i => i != vocab / 2)),
    };

    static RowSampling[] WithMasks(Random rng, RowSampling[] rows, int vocab) =>
        [.. rows.Select((r, i) => Mask(rng, vocab, i) is { } m ? r with { Mask = m } : r)];

    /// <summary>
    /// 200 rows (greedy, sampled with temperature / top-k / top-p) each with one of the mask kinds, free rows among them:
    /// ids and logprobs (under the masked distribution) as the CPU Sampler gives them; at most 2 rows may differ (a draw
    /// or a top-p cut at a boundary). 60,000 tokens read the row from global memory; 32,001 and 517 end in a partial word.
    /// </summary>
    [Theory]
    [InlineData(32000)]
    [InlineData(32001)]
    [InlineData(60000)]
    [InlineData(517)]
    public void MaskedRowsMatchCpuSampler(int vocab)
    {
        var rng = new Random();
        var rows = WithMasks(rng, SamplingTests.Rows(rng, 200, vocab), vocab);
        SamplingTests.Compare(Gpu.Random(rng, rows.Length * vocab, 4f), rows, vocab, allowedMismatches: 2);
    }

    /// <summary>
    /// Greedy rows only, masked, on logits with many exact ties: spread over several blocks each (greedy_rows, where most
    /// blocks of a one-token row see only ruled-out tokens) or one block per row (300 rows); exact ids and logprobs.
    /// </summary>
    [Theory]
    [InlineData(1, 32000)]
    [InlineData(3, 32001)]
    [InlineData(8, 60000)]
    [InlineData(40, 32000)]
    [InlineData(300, 32000)]
    [InlineData(4, 2000)]
    public void MaskedGreedyRowsMatchCpuSampler(int n, int vocab)
    {
        var rng = new Random();
        var rows = WithMasks(rng, Enumerable.Repeat(new RowSampling(true, 1f, 0, 1f, 0), n).ToArray(), vocab);
        if (n == 1) rows[0] = rows[0] with { Mask = MaskOf(vocab, [vocab - 1]) };
        var logits = Gpu.Random(rng, n * vocab, 4f).Select(x => MathF.Round(x * 4) / 4).ToArray();
        SamplingTests.Compare(logits, rows, vocab, allowedMismatches: 0);
    }

    /// <summary>A mask whose width is not the vocabulary's is refused before anything runs.</summary>
    [Fact]
    public void AMaskOfTheWrongWidthIsRefused()
    {
        var ctx = Gpu.Context();
        using var mem = new DeviceArena(ctx);
        using var sampler = new CudaSampler(mem);
        var e = Assert.Throws<ArgumentException>(() => sampler.Upload([new RowSampling(true, 1f, 0, 1f, 0) { Mask = new uint[3] }], 32000));
        Assert.Contains("1000 words", e.Message);
    }

    const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120},
         "tags":{"type":"array","items":{"enum":["cat","dog","sun"]},"maxItems":3},"ok":{"type":"boolean"}},"required":["name","age","ok"]}
        """;

    static readonly string[] Prompts = ["Once upon a time", "Lily and Ben", "The dog"];

    /// <summary>Each prompt constrained to <see cref="Schema"/> (seed 11 + its index when sampling), plus one free request; texts in order.</summary>
    static async Task<string[]> Generate(IModelRunner runner, ITokenizer tok, bool deviceSampling, bool sample, bool together)
    {
        await using var engine = new LlmEngine(runner, tok, new EngineOptions { DeviceSampling = deviceSampling });
        var ps = Prompts.Select((_, i) => new SamplingParams
        {
            MaxNewTokens = 60, Grammar = new GrammarSpec(GrammarKind.Json, Schema), DoSample = sample, Seed = (ulong)(11 + i), TopK = sample ? 30 : 0,
        }).Append(new SamplingParams { MaxNewTokens = 60 }).ToArray();
        async Task<string> One(int i)
        {
            var events = engine.Submit(new GenerationRequest { PromptIds = tok.Encode(Prompts[i % Prompts.Length], addBos: true), Params = ps[i] });
            await foreach (var e in events.ReadAllAsync(Ct))
                if (e is GenerationFinished f) return f.GeneratedText;
                else if (e is GenerationFailed x) return "FAILED: " + x.Error;
            return "no end event";
        }
        if (together) return await Task.WhenAll(Enumerable.Range(0, ps.Length).Select(One));
        var texts = new string[ps.Length];
        for (int i = 0; i < texts.Length; i++) texts[i] = await One(i);
        return texts;
    }

    /// <summary>
    /// stories260K constrained to a JSON schema through the CUDA runner, beside a free request. One at a time, masks applied
    /// on the GPU give exactly the texts of host sampling on the same runner; batched together on the GPU every constrained
    /// output validates, and greedily at least two of three equal the CPU backend's (fp16 logits may flip a near tie).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConstrainedRequestsOnTheGpuValidateAndMatchTheHost(bool sample)
    {
        Gpu.Context();
        using var model = ModelLoader.Load(TestPaths.DefaultModel);
        using var cuda = new CudaModelRunner(model, new KvCacheOptions(16, 64), new CudaRunnerOptions(MaxPrefillTokens: 256));
        var onGpu = await Generate(cuda, model.Tokenizer, deviceSampling: true, sample, together: false);
        var onHost = await Generate(cuda, model.Tokenizer, deviceSampling: false, sample, together: false);
        for (int i = 0; i < onGpu.Length; i++)
            Assert.True(onHost[i] == onGpu[i], $"request {i}: GPU-masked \"{onGpu[i]}\" vs host-sampled (same runner) \"{onHost[i]}\"");
        var batched = await Generate(cuda, model.Tokenizer, deviceSampling: true, sample, together: true);
        for (int i = 0; i < Prompts.Length; i++) SchemaAssert.Valid(Schema, batched[i]);
        if (sample) return;
        using var cpuRunner = new CpuModelRunner(model, new KvCacheOptions(16, 64));
        var onCpu = await Generate(cpuRunner, model.Tokenizer, deviceSampling: true, sample, together: false);
        var differ = Enumerable.Range(0, Prompts.Length).Where(i => onCpu[i] != batched[i]).ToList();
        Assert.True(differ.Count <= 1, $"CUDA (batched, GPU-masked) and CPU backend texts differ for {differ.Count} of {Prompts.Length} prompts:\n" +
            string.Join("\n", differ.Select(i => $"CUDA \"{batched[i]}\"\nCPU  \"{onCpu[i]}\"")));
    }
}
