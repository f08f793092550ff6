using System.Runtime.Intrinsics;
using Quanta.Cpu;
using Quanta.Cpu.Kernels;
using Quanta.Model;

namespace Quanta.Tests.Cpu;

public unsafe class KernelTests
{
    static float[] Reference(float[] w, float[] x, int outF, int inF, int tokens)
    {
        var y = new float[tokens * outF];
        for (int t = 0; t < tokens; t++)
            for (int o = 0; o < outF; o++)
            {
                double s = 0;
                for (int i = 0; i < inF; i++) s += (double)w[o * inF + i] * x[t * inF + i];
                y[t * outF + o] = (float)s;
            }
        return y;
    }

    static float[] Run(CpuLinear lin, float[] x, int tokens, int threads)
    {
        var y = new float[tokens * lin.Out];
        using var pool = new WorkerPool(threads);
        fixed (float* px = x, py = y) lin.Forward(px, py, tokens, pool);
        return y;
    }

    static void AssertClose(float[] expected, float[] actual, float tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"[{i}] expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(DType.F32, 37, 83, 5)]
    [InlineData(DType.F16, 37, 83, 3)]
    [InlineData(DType.BF16, 37, 83, 3)]
    [InlineData(DType.F16, 1029, 301, 2)]   // big enough to run on several threads
    [InlineData(DType.F32, 5, 7, 1)]        // shorter than one vector
    public void DenseMatchesScalarReference(DType dtype, int outF, int inF, int tokens)
    {
        var rng = new Random(1);
        var lin = CpuLinear.Create(TestTensors.DenseLinear(rng, "w", dtype, outF, inF, out var w), new ScratchBuffer());
        var x = TestTensors.Random(rng, tokens * inF);
        AssertClose(Reference(w, x, outF, inF, tokens), Run(lin, x, tokens, 2), 1e-5f);
    }

    [Theory]
    [InlineData(45, 96, 32, true, false)]   // act-order, asymmetric
    [InlineData(45, 96, 32, false, true)]
    [InlineData(21, 128, -1, false, true)]  // per channel
    [InlineData(13, 100, 25, true, false)]  // groups and width not multiples of 8
    [InlineData(520, 256, 64, true, false)] // several threads
    public void GptqMatchesDequantisedReference(int outF, int inF, int group, bool actOrder, bool sym)
    {
        var rng = new Random(2);
        var lin = CpuLinear.Create(TestTensors.Gptq(rng, "g", outF, inF, group, actOrder, sym, out var w), new ScratchBuffer());
        var x = TestTensors.Random(rng, 3 * inF);
        AssertClose(Reference(w, x, outF, inF, 3), Run(lin, x, 3, 2), 1e-5f);
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    [InlineData(DType.I32)] // GPTQ
    public void RowsAreBitIdenticalWhateverTheBatchAndThreads(DType dtype)
    {
        var rng = new Random(3);
        LinearWeights lw = dtype == DType.I32
            ? TestTensors.Gptq(rng, "g", 203, 72, 24, true, false, out _)
            : TestTensors.DenseLinear(rng, "w", dtype, 203, 77, out _);
        var lin = CpuLinear.Create(lw, new ScratchBuffer());
        int tokens = 9;
        var x = TestTensors.Random(rng, tokens * lin.In);
        var all = Run(lin, x, tokens, 2);
        for (int t = 0; t < tokens; t++)
        {
            var alone = Run(lin, x[(t * lin.In)..((t + 1) * lin.In)], 1, 1);
            Assert.Equal(all[(t * lin.Out)..((t + 1) * lin.Out)], alone);
        }
    }

    [Fact]
    public void HalfConversionMatchesTheRuntimeForEveryFiniteValue()
    {
        var src = new ushort[65536];
        for (int i = 0; i < src.Length; i++) src[i] = (ushort)i;
        var dst = new float[src.Length];
        fixed (ushort* s = src) fixed (float* d = dst) Vec.ToFloat(DType.F16, s, d, src.Length);
        for (int i = 0; i < src.Length; i++)
        {
            var h = BitConverter.UInt16BitsToHalf((ushort)i);
            if (Half.IsFinite(h)) Assert.Equal(BitConverter.SingleToInt32Bits((float)h), BitConverter.SingleToInt32Bits(dst[i]));
        }
    }

    [Fact]
    public void RmsNormMatchesFormula()
    {
        var rng = new Random(4);
        int n = 45;
        var x = TestTensors.Random(rng, n);
        var w = TestTensors.Random(rng, n);
        var y = new float[n];
        fixed (float* px = x, pw = w, py = y) Vec.RmsNorm(px, pw, py, n, 1e-5f);
        double r = 1 / Math.Sqrt(x.Sum(v => (double)v * v) / n + 1e-5);
        AssertClose([.. x.Select((v, i) => (float)(v * r * w[i]))], y, 1e-6f);
    }

    [Fact]
    public void Llama3RopeScalingFollowsTransformers()
    {
        var s = new RopeScaling("llama3", 8f, 1f, 4f, 8192);
        var plain = Rope.InverseFrequencies(500000f, 128, null);
        var scaled = Rope.InverseFrequencies(500000f, 128, s);
        for (int i = 0; i < plain.Length; i++)
        {
            double wave = 2 * Math.PI / plain[i];
            if (wave < 8192 / 4.0) Assert.Equal(plain[i], scaled[i]);
            else if (wave > 8192) Assert.Equal(plain[i] / 8, scaled[i], 12);
            else
            {
                double smooth = (8192 / wave - 1) / 3;
                Assert.Equal((1 - smooth) * plain[i] / 8 + smooth * plain[i], scaled[i], 12);
                Assert.InRange(scaled[i], plain[i] / 8, plain[i]);
            }
        }
        Assert.Equal(plain[5] / 4, Rope.InverseFrequencies(500000f, 128, new RopeScaling("linear", 4f))[5], 15);
    }

    [Fact]
    public void ExpSoftmaxAndSwiGluMatchDoublePrecision()
    {
        for (float x = -87f; x < 88f; x += 0.37f)
            Assert.True(Math.Abs(VecMath.Exp(x) / Math.Exp(x) - 1) < 5e-7, $"exp({x}) = {VecMath.Exp(x)}");
        var rng = new Random(5);
        int n = 29;
        var s = TestTensors.Random(rng, n, 10f);
        var g = TestTensors.Random(rng, n, 6f);
        var u = TestTensors.Random(rng, n);
        var (s0, g0) = ((float[])s.Clone(), (float[])g.Clone());
        fixed (float* ps = s, pg = g, pu = u) { VecMath.Softmax(ps, n); VecMath.SwiGlu(pg, pu, n); }
        double max = s0.Max(), sum = s0.Sum(v => Math.Exp(v - max));
        AssertClose([.. s0.Select(v => (float)(Math.Exp(v - max) / sum))], s, 1e-6f);
        AssertClose([.. g0.Select((v, i) => (float)(v / (1 + Math.Exp(-v)) * u[i]))], g, 1e-6f);
        // Vector lanes and the scalar tail agree bit for bit.
        var lanes = new float[8];
        VecMath.Exp(Vector256.Create(-3.1f, -1f, -0.2f, 0f, 0.7f, 2.5f, 9f, 40f)).CopyTo(lanes);
        Assert.Equal(new[] { -3.1f, -1f, -0.2f, 0f, 0.7f, 2.5f, 9f, 40f }.Select(VecMath.Exp), lanes);
    }
}
