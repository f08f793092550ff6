using System.Text.Json;
using Quanta.Bench.Dataset;

namespace Quanta.Tests.Bench;

public class BenchDatasetTests
{
    /// <summary>One token per whitespace-separated word, plus BOS when asked.</summary>
    internal sealed class WordCounter : ITokenCounter
    {
        public Task<int> CountAsync(string text, bool addBos, CancellationToken ct) =>
            Task.FromResult(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length + (addBos ? 1 : 0));
    }

    static string Words(int n) => string.Join(' ', Enumerable.Repeat("w", n));

    static List<ShareGptEntry> Parse(string json) => ShareGptDataset.Parse(JsonDocument.Parse(json).RootElement, "x.json");

    [Fact]
    public void StandardFormat_FirstHumanTurnIsPrompt_NextTurnIsReply()
    {
        var e = Parse("""
            [{"id":"a","conversations":[{"from":"system","value":"sys"},{"from":"human","value":"hi there"},{"from":"gpt","value":"hello"}]},
             {"id":"b","conversations":[{"from":"human","value":"only a prompt"}]},
             {"id":"c","conversations":[{"from":"gpt","value":"no human"}]}]
            """);
        Assert.Equal([new ShareGptEntry("hi there", "hello"), new ShareGptEntry("only a prompt", null)], e);
    }

    [Fact]
    public void SampleFormat_PromptAndResponse()
    {
        var e = Parse("""[{"conversation_id":"x","prompt":"p1","response":"r1","prompt_tokens":"2","conversations":"[{'from': 'human'}]"}]""");
        Assert.Equal([new ShareGptEntry("p1", "r1")], e);
    }

    [Theory]
    [InlineData("""{"conversations":[]}""", "expected a JSON array")]
    [InlineData("""[1, 2]""", "entry 0 is Number")]
    [InlineData("""[{"text":"x"}]""", "entry 0 has neither")]
    [InlineData("""[]""", "no entry with a human prompt")]
    public void WrongShape_NamesFileAndProblem(string json, string expected)
    {
        var ex = Assert.Throws<InvalidDataException>(() => Parse(json));
        Assert.Contains("x.json", ex.Message);
        Assert.Contains(expected, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void MissingOrNonJsonFile_ClearError()
    {
        var missing = Path.Combine(Path.GetTempPath(), "quanta-no-such-dataset.json");
        Assert.Contains("file not found", Assert.Throws<FileNotFoundException>(() => ShareGptDataset.Load(missing)).Message);
        var bad = Path.GetTempFileName();
        File.WriteAllText(bad, "not json {");
        try { Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => ShareGptDataset.Load(bad)).Message); }
        finally { File.Delete(bad); }
    }

    [Theory]
    [InlineData(3, 100, true, false)]     // prompt under 4
    [InlineData(4, 3, true, false)]       // reply under 4
    [InlineData(4, 3, false, true)]       // fixed output length skips the output check
    [InlineData(1024, 1024, true, true)]  // limits are inclusive
    [InlineData(1025, 10, true, false)]   // prompt over 1024
    [InlineData(1000, 1049, true, false)] // total over 2048
    public void Filter_FollowsVllm(int prompt, int output, bool checkOutput, bool valid) =>
        Assert.Equal(valid, ShareGptDataset.IsValid(prompt, output, checkOutput));

    [Fact]
    public async Task Sample_FiltersShufflesWithSeedAndCountsTokens()
    {
        var entries = new List<ShareGptEntry>
        {
            new(Words(2), Words(10)),       // prompt 3 tokens with BOS: dropped
            new(Words(10), Words(2)),       // reply 2 tokens: dropped
            new(Words(1100), Words(10)),    // prompt over 1024: dropped
            new(Words(1000), Words(1100)),  // total over 2048: dropped
        };
        for (int i = 0; i < 20; i++) entries.Add(new(Words(5 + i), Words(8)));
        var c = new WordCounter();
        var a = (await ShareGptDataset.SampleAsync(entries, 10, 1, null, c, TestContext.Current.CancellationToken)).Prompts;
        var b = (await ShareGptDataset.SampleAsync(entries, 10, 1, null, c, TestContext.Current.CancellationToken)).Prompts;
        var other = (await ShareGptDataset.SampleAsync(entries, 10, 2, null, c, TestContext.Current.CancellationToken)).Prompts;
        Assert.Equal(10, a.Count);
        Assert.Equal(a, b);
        Assert.NotEqual(a.Select(p => p.Prompt), other.Select(p => p.Prompt));
        Assert.All(a, p => { Assert.Equal(8, p.OutputLen); Assert.Equal(p.Prompt.Split(' ').Length + 1, p.PromptLen); });
        var all = (await ShareGptDataset.SampleAsync(entries, 100, 1, null, c, TestContext.Current.CancellationToken)).Prompts;
        Assert.Equal(20, all.Count);                                 // only the 20 valid ones
        var fixedLen = (await ShareGptDataset.SampleAsync(entries, 100, 1, 50, c, TestContext.Current.CancellationToken)).Prompts;
        Assert.Equal(22, fixedLen.Count);                            // replies ignored: the 2-token reply and 1001 + 50 pass
        Assert.All(fixedLen, p => Assert.Equal(50, p.OutputLen));
    }

    [Fact]
    public async Task Fit_LowersOutputLengthsToTheTotalAndCountsWhatItSkips()
    {
        var entries = new List<ShareGptEntry>
        {
            new(Words(30), Words(10)),      // 31 + 10 <= 50: kept as is
            new(Words(40), Words(50)),      // 41 + 50 > 50: fitted to 9 (skipped without fit)
            new(Words(47), Words(50)),      // 48 + 50: 2 left, under 4: skipped either way
            new(Words(70), Words(5)),       // prompt 71 > 48: cut to 25 = 50 / 2 tokens (skipped without fit)
        };
        var c = new WordCounter();
        var plain = await ShareGptDataset.SampleAsync(entries, 10, 1, null, c, TestContext.Current.CancellationToken, 48, 50);
        Assert.Equal((1, 3, 0, 0), (plain.Prompts.Count, plain.TooLong, plain.OutputsLowered, plain.PromptsCut));
        var fit = await ShareGptDataset.SampleAsync(entries, 10, 1, null, c, TestContext.Current.CancellationToken, 48, 50, fit: true);
        Assert.Equal((3, 1, 1, 1), (fit.Prompts.Count, fit.TooLong, fit.OutputsLowered, fit.PromptsCut));
        Assert.Equal(9, fit.Prompts.Single(p => p.PromptLen == 41).OutputLen);
        Assert.Equal((Words(24), 25, 5), fit.Prompts.Select(p => (p.Prompt, p.PromptLen, p.OutputLen)).Single(p => p.Item2 == 25));
        Assert.All(fit.Prompts, p => Assert.True(p.PromptLen + p.OutputLen <= 50));
    }

    [Fact]
    public async Task PromptsOnly_NeedOutputLen()
    {
        var entries = new List<ShareGptEntry> { new(Words(10), null) };
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => ShareGptDataset.SampleAsync(entries, 5, 0, null, new WordCounter(), TestContext.Current.CancellationToken));
        Assert.Contains("--output-len", ex.Message);
        Assert.Single((await ShareGptDataset.SampleAsync(entries, 5, 0, 16, new WordCounter(), TestContext.Current.CancellationToken)).Prompts);
    }

    [Fact]
    public async Task Random_HitsInputLenExactlyAndRepeatsWithSeed()
    {
        var a = await RandomDataset.CreateAsync(5, 32, 7, 3, new WordCounter(), TestContext.Current.CancellationToken);
        Assert.All(a, p => { Assert.Equal(32, p.PromptLen); Assert.Equal(7, p.OutputLen); Assert.Equal(31, p.Prompt.Split(' ').Length); });
        Assert.Equal(a, await RandomDataset.CreateAsync(5, 32, 7, 3, new WordCounter(), TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentException>(() => RandomDataset.CreateAsync(5, 0, 7, 3, new WordCounter(), TestContext.Current.CancellationToken).GetAwaiter().GetResult());
    }

    [Fact]
    public void SharedFiles_Parse()
    {
        var sample = ShareGptDataset.Load(TestPaths.SharedPath("datasets", "sharegpt", "sharegpt_sample.json"));
        Assert.Equal(50, sample.Count);
        Assert.All(sample, e => Assert.NotNull(e.Reply));
        var v3 = ShareGptDataset.Load(TestPaths.SharedPath("datasets", "sharegpt", "ShareGPT_V3_filtered_1000.json"));
        Assert.Equal(1000, v3.Count);
        Assert.All(v3, e => Assert.Null(e.Reply));
    }

    [Fact]
    public async Task TokenizerPath_FolderOrFile()
    {
        var tok = Path.Combine(TestPaths.DefaultModel, "tok512.bin");
        Assert.Equal(512, LocalTokenCounter.Open(tok).VocabSize);
        const string text = "Once upon a time, there was a little girl named Lily.";
        var fromFolder = LocalTokenCounter.Open(TestPaths.DefaultModel).Encode(text, true);
        Assert.Equal(fromFolder, LocalTokenCounter.Open(tok).Encode(text, true));
        Assert.Equal(1, fromFolder[0]);                                         // BOS counted in prompt lengths

        var spm = TestPaths.SharedPath("tokenizers", "llama2", "tokenizer.model");
        var llama = new LocalTokenCounter(LocalTokenCounter.Open(spm));
        Assert.Equal(await llama.CountAsync(text, false, TestContext.Current.CancellationToken) + 1,
            await llama.CountAsync(text, true, TestContext.Current.CancellationToken));
        Assert.Contains("no such file", Assert.Throws<FileNotFoundException>(() => LocalTokenCounter.Open("/nonexistent/tok")).Message);
    }
}
