using Quanta.Bench.Decode;
using Quanta.Bench.Synth;
using Quanta.Cuda;
using Quanta.IO;
using Quanta.Model;

namespace Quanta.Tests.Bench;

/// <summary>The least work per profile phase that turns a profile's GPU times into TFLOP/s and GB/s.</summary>
public class StepCostTests
{
    // Llama-2-7B's shape: what the batch-128 profile is of.
    static readonly LlamaConfig L7 = new()
    {
        HiddenSize = 4096, IntermediateSize = 11008, NumLayers = 32, NumHeads = 32, NumKvHeads = 32, VocabSize = 32000, MaxPositionEmbeddings = 4096,
    };

    /// <summary>GPTQ 4-bit g128 bytes of an in x out linear: int4 weights, int4 zeros and f16 scales per group and feature.</summary>
    static long Gptq(long inF, long outF) => inF * outF / 2 + inF / 128 * outF / 2 + inF / 128 * outF * 2;

    static StepCost Cost7B() => new(L7, 32 * Gptq(4096, 3 * 4096), 32 * Gptq(4096, 4096), 32 * Gptq(4096, 2 * 11008),
        32 * Gptq(11008, 4096), 2L * 4096 * 32000, 2L * 2 * 4096);

    [Fact]
    public void Batch128DecodeStepOfThe7BShapeHasItsKnownFlopsAndWeightBytes()
    {
        var step = Cost7B().Step(128, 128L * 80, 128L * 80, 128);
        // 2 flops per multiply-add: rows x in x out per linear, summed over the 32 layers.
        Assert.Equal(2.0 * 128 * 4096 * 12288 * 32, step[ProfilePhase.Qkv].Flops);
        Assert.Equal(2.0 * 128 * 4096 * 4096 * 32, step[ProfilePhase.O].Flops);
        Assert.Equal(2.0 * 128 * 4096 * 22016 * 32, step[ProfilePhase.GateUpSilu].Flops);
        Assert.Equal(2.0 * 128 * 11008 * 4096 * 32, step[ProfilePhase.Down].Flops);
        double linears = new[] { ProfilePhase.Qkv, ProfilePhase.O, ProfilePhase.GateUpSilu, ProfilePhase.Down }.Sum(p => step[p].Flops);
        Assert.InRange(linears / 1e12, 1.65, 1.67);                // the "1.7 TFLOP" of a batch-128 step
        // Each weight once (3.4 GB of int4 weights, zeros and scales for the layers), x read as f16, y written as f32.
        Assert.Equal(32 * Gptq(4096, 3 * 4096) + 32 * 128.0 * (2 * 4096 + 4 * 12288), step[ProfilePhase.Qkv].Bytes);
        Assert.InRange((Cost7B().Qkv + Cost7B().O + Cost7B().GateUp + Cost7B().Down) / 1e9, 3.3, 3.4);
        // Attention reads each row's 80 context tokens' K and V (f16, 4096 each) in every layer.
        Assert.Equal(32 * (128.0 * 80 * 4 * 4096 + 128 * 2 * 4096 * 2), step[ProfilePhase.Attention].Bytes);
        Assert.Equal(32 * 4.0 * 128 * 80 * 4096, step[ProfilePhase.Attention].Flops);
    }

    [Fact]
    public void PromptAttentionReadsItsOwnKvOnceButComputesEveryCausalPair()
    {
        var cost = Cost7B();
        int T = 2048;
        var prefill = cost.Step(T, (long)T * (T + 1) / 2, T, 1);
        var decode = cost.Step(T, (long)T * (T + 1) / 2, (long)T * (T + 1) / 2, T);
        Assert.Equal(decode[ProfilePhase.Attention].Flops, prefill[ProfilePhase.Attention].Flops);
        Assert.True(prefill[ProfilePhase.Attention].Bytes * 100 < decode[ProfilePhase.Attention].Bytes);
        // One logits row: lm_head's f16 weights once, the row's work alone.
        Assert.Equal(2.0 * 4096 * 32000, prefill[ProfilePhase.LmHead].Flops);
        Assert.Equal(2.0 * 4096 * 32000 + 2 * 4096 + 4 * 32000, prefill[ProfilePhase.LmHead].Bytes);
    }

    [Fact]
    public void LinesGiveMicrosecondsPerStepAndRatesLongestFirst()
    {
        var perStep = new Dictionary<string, PhaseCost> { [ProfilePhase.Qkv] = new(2e9, 1e8) };
        var ms = new Dictionary<string, double> { [ProfilePhase.Other] = 1.0, [ProfilePhase.Qkv] = 20.0 };
        var lines = StepCost.Lines(ms, 10, perStep).ToArray();
        Assert.Equal(2, lines.Length);
        // 20 ms over 10 steps: 2,000 us a step; 2 GFLOP and 0.1 GB in it are 1 TFLOP/s and 50 GB/s.
        Assert.StartsWith(ProfilePhase.Qkv, lines[0]);
        Assert.Contains("2000.0 us/step", lines[0]);
        Assert.Contains("1.0 TFLOP/s", lines[0]);
        Assert.Contains("50 GB/s", lines[0]);
        // A phase with no cost model (the embedding, the final norm) shows its time alone.
        Assert.StartsWith(ProfilePhase.Other, lines[1]);
        Assert.Contains("100.0 us/step", lines[1]);
        Assert.DoesNotContain("TFLOP/s", lines[1]);
    }

    [Fact]
    public void WeightBytesOfACheckpointAreItsLinearsAsStored()
    {
        var c = DecodeBenchmarkTests.Tiny;
        var dir = Path.Combine(Path.GetTempPath(), "quanta-cost-" + Guid.NewGuid().ToString("N"));
        new SynthModel(c, 32, false, 1).Write(dir, null, TestContext.Current.CancellationToken);
        try
        {
            using var ck = ModelLoader.Open(dir);
            var cost = StepCost.Of(c, ck.Weights, 2L * c.NumLayers * 2 * 16 * 2);
            var down = Assert.IsType<GptqLinear>(ck.Weights.Layers[0].WDown);
            Assert.Equal(2 * (down.QWeight.ByteLength + down.QZeros.ByteLength + down.Scales.ByteLength), cost.Down);
            Assert.Equal(cost.Qkv + cost.O + cost.GateUp + cost.Down + cost.LmHead, cost.WeightBytes);
            // K and V of 2 heads x 16 f16 values per token and layer.
            Assert.Equal(2 * 2 * 16 * 2, cost.KvBytesPerToken);
        }
        finally { Directory.Delete(dir, true); }
    }
}
