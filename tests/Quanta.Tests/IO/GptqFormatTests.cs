using System.Runtime.InteropServices;
using Quanta.IO;
using Quanta.Model;

namespace Quanta.Tests.IO;

public class GptqFormatTests
{
    [Fact]
    public void QWeightAndQZerosPackingRoundTrips()
    {
        var rng = new Random(3);
        int inF = 24, outF = 16, groups = 3;
        var q = new byte[inF * outF];
        var z = new byte[groups * outF];
        foreach (var a in new[] { q, z }) for (int i = 0; i < a.Length; i++) a[i] = (byte)rng.Next(16);
        var qw = GptqFormat.PackQWeight(q, inF, outF);
        Assert.Equal(inF / 8 * outF, qw.Length);
        Assert.Equal(q, GptqFormat.UnpackQWeight(qw, inF, outF));
        var qz = GptqFormat.PackQZeros(z, groups, outF);
        Assert.Equal(groups * outF / 8, qz.Length);
        Assert.Equal(z, GptqFormat.UnpackQZeros(qz, groups, outF));
        // row 8r+j sits in bits 4j..4j+3 of qweight[r, o]
        Assert.Equal(q[(8 + 5) * outF + 2], (qw[1 * outF + 2] >>> 20) & 0xF);
        Assert.Throws<ArgumentOutOfRangeException>(() => GptqFormat.PackQWeight([.. new byte[63], 16], 8, 8));
    }

    [Theory]
    [InlineData("tiny-llama-gptq-g32-act")]
    [InlineData("tiny-llama-gptq-g128")]
    [InlineData("tiny-llama-gptq-chan")]
    public void DequantisedFixtureWeightsFollowTheReadmeFormula(string fixture)
    {
        using var ck = ModelLoader.Open(TestPaths.Fixture(fixture));
        var l = Assert.IsType<GptqLinear>(ck.Weights.Layers[1].WDown);
        var w = GptqFormat.Dequantize(l);
        var qweight = l.QWeight.Span<int>();
        var qzeros = l.QZeros.Span<int>();
        var scales = MemoryMarshal.Cast<ushort, Half>(l.Scales.Span<ushort>());
        int outF = l.OutFeatures, inF = l.InFeatures;
        var rng = new Random(7);
        int nonZero = 0;
        for (int k = 0; k < 200; k++)
        {
            int o = rng.Next(outF), i = rng.Next(inF), g = l.GIdx[i];
            int q = (qweight[(i / 8) * outF + o] >> (4 * (i % 8))) & 15;
            int zero = ((qzeros[g * (outF / 8) + o / 8] >> (4 * (o % 8))) & 15) + 1;
            float expected = (float)scales[g * outF + o] * (q - zero);
            Assert.Equal(expected, w[o * inF + i]);
            if (expected != 0) nonZero++;
        }
        Assert.True(nonZero > 100);
        Assert.Equal(w.AsSpan(5 * inF, inF).ToArray(), GptqFormat.Row(l, 5));
    }

    [Fact]
    public void ActOrderFixtureHasPermutedGroupsAndAsymmetricZeros()
    {
        using var ck = ModelLoader.Open(TestPaths.Fixture("tiny-llama-gptq-g32-act"));
        var l = Assert.IsType<GptqLinear>(ck.Weights.Layers[0].WGate);
        Assert.Contains(l.GIdx.Select((g, i) => (g, i)), p => p.g != p.i / 32);
        Assert.All(Enumerable.Range(0, l.Groups), g => Assert.Equal(32, l.GIdx.Count(x => x == g)));
        var zeros = GptqFormat.UnpackQZeros(l.QZeros.Span<int>(), l.Groups, l.OutFeatures);
        Assert.True(zeros.Distinct().Count() > 2);
    }
}
