namespace Quanta.Tests.Cpu;

/// <summary>Greedy must not depend on batch composition or prompt chunking: logits are compared bit for bit.</summary>
public class InvarianceTests
{
    static string Stories => Path.Combine(TestPaths.DefaultModel, "stories260K.bin");

    static int[] Tokens(int seed, int n, int vocab)
    {
        var rng = new Random(seed);
        return [1, .. Enumerable.Range(0, n - 1).Select(_ => rng.Next(3, vocab))];
    }

    public static TheoryData<string> Models => ["stories260K", "tiny-llama-gptq-g32-act"];

    static string PathOf(string name) => name == "stories260K" ? Stories : TestPaths.Fixture(name);

    [Theory]
    [MemberData(nameof(Models))]
    public void SequenceAloneOrAmongOthersGivesIdenticalLogits(string model)
    {
        using var alone = new CpuTestModel(PathOf(model), blockSize: 4, threads: 1);
        using var mixed = new CpuTestModel(PathOf(model), blockSize: 4, threads: 2);
        int v = alone.Vocab, bs = 4;
        var prompt = Tokens(1, 11, v);
        int[] blocksA = [0, 1, 2, 3, 4], blocksB = [7, 5, 9, 6, 8];

        // Alone: prefill, then three decode steps.
        var soloPrefill = Batches.Run(alone.Runner, Batches.Build(bs, new SeqStep(blocksA, 0, prompt)));
        var soloDecode = new List<float[]>();
        int[] next = [17, 42, 99];
        for (int i = 0; i < next.Length; i++)
            soloDecode.Add(Batches.Run(alone.Runner, Batches.Build(bs, new SeqStep(blocksA, prompt.Length + i, [next[i]]))));

        // The same sequence (other physical blocks) among other prefilling and decoding sequences.
        var other1 = Tokens(2, 9, v);
        var other2 = Tokens(3, 6, v);
        Batches.Run(mixed.Runner, Batches.Build(bs, new SeqStep([20, 21, 22], 0, other2[..5])));
        var step = Batches.Run(mixed.Runner, Batches.Build(bs,
            new SeqStep([10, 11, 12], 0, other1),
            new SeqStep(blocksB, 0, prompt),
            new SeqStep([20, 21, 22], 5, other2[5..])));
        Assert.Equal(soloPrefill, step.AsSpan(v, v).ToArray());
        for (int i = 0; i < next.Length; i++)
        {
            var batch = Batches.Run(mixed.Runner, Batches.Build(bs,
                new SeqStep([20, 21, 22], 6 + i, [5 + i]),
                new SeqStep([30 + i, 40 + i], 0, Tokens(10 + i, 7, v), AllLogits: true),
                new SeqStep(blocksB, prompt.Length + i, [next[i]])));
            Assert.Equal(soloDecode[i], batch.AsSpan(batch.Length - v, v).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ChunkedPrefillGivesIdenticalLogits(string model)
    {
        using var m = new CpuTestModel(PathOf(model), blockSize: 4);
        int v = m.Vocab, bs = 4;
        var prompt = Tokens(4, 13, v);
        var whole = Batches.Run(m.Runner, Batches.Build(bs, new SeqStep([0, 1, 2, 3], 0, prompt, AllLogits: true)));
        int[] blocks = [8, 9, 10, 11];
        var chunks = new List<float>();
        foreach (var (start, len) in new[] { (0, 5), (5, 1), (6, 7) })
            chunks.AddRange(Batches.Run(m.Runner, Batches.Build(bs, new SeqStep(blocks, start, prompt[start..(start + len)], AllLogits: true))));
        Assert.Equal(whole, chunks.ToArray());
    }
}

public class AllocationTests
{
    [Fact]
    public void DecodeStepsAllocateNothingOnceBuffersAreSized()
    {
        using var m = new CpuTestModel(Path.Combine(TestPaths.DefaultModel, "stories260K.bin"), blockSize: 16, threads: 1);
        int[] blocks = [0, 1, 2, 3];
        var logits = new float[m.Vocab];
        m.Runner.Forward(Batches.Build(16, new SeqStep(blocks, 0, [1, 5, 9, 30])), logits);
        var b = Batches.Build(16, new SeqStep(blocks, 4, [7]));
        m.Runner.Forward(b, logits);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int p = 5; p < 40; p++)
        {
            b.Positions[0] = p; b.SlotMapping[0] = p; b.ContextLens[0] = p + 1;
            m.Runner.Forward(b, logits);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
