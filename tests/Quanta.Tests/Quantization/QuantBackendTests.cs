using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Tests.Quantization;

/// <summary>The backend seam: the call sequence ModelQuantizer makes, and the default CPU backend's results.</summary>
public class QuantBackendTests
{
    /// <summary>Delegates to the CPU backend and records each call.</summary>
    sealed class Recording(LlamaConfig c) : QuantBackend
    {
        readonly CpuQuantBackend _cpu = new(c);
        public readonly List<string> Calls = [];
        public override string Device => "recording";
        public override void Start(LoadedModel model, int[][] samples) { Calls.Add("start"); _cpu.Start(model, samples); }
        public override void Load(DenseLayer layer, int ffn) { Calls.Add("load"); _cpu.Load(layer, ffn); }
        public override void Updated(DenseLayer layer, string name) { Calls.Add("updated " + name); _cpu.Updated(layer, name); }
        public override Dictionary<LinearInput, IHessianSum> Collect(LinearInput? only)
        {
            Calls.Add("collect " + (only?.ToString() ?? "all"));
            return _cpu.Collect(only);
        }
        public override void Advance() { Calls.Add("advance"); _cpu.Advance(); }
        public override QuantizedMatrix Gptq(IHessianSum h, double[] w, int rows, int cols, QuantSpec spec) { Calls.Add("gptq"); return _cpu.Gptq(h, w, rows, cols, spec); }
        public override QuantizedMatrix RoundToNearest(double[] w, int rows, int cols, QuantSpec spec) { Calls.Add("rtn"); return _cpu.RoundToNearest(w, rows, cols, spec); }
        public override double OutputError(IHessianSum h, double[] delta, int rows) => _cpu.OutputError(h, delta, rows);
        public override void Dispose() { _cpu.Dispose(); base.Dispose(); }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ABackendSeesEachLayerInOrderAndGivesTheDefaultResult(bool trueSequential)
    {
        using var m = QuantTestModels.Open(TestPaths.Fixture("tiny-llama-f16"));
        var opt = new QuantizeOptions(new QuantSpec(4, 32, Sym: false, ActOrder: true), true, trueSequential);
        var samples = QuantTestModels.RandomSamples(m.Config.VocabSize, 3, 24, 5);
        var want = ModelQuantizer.Run(m, opt, samples, _ => { }, ct: TestContext.Current.CancellationToken);
        using var rec = new Recording(m.Config);
        var got = ModelQuantizer.Run(m, opt, samples, _ => { }, ct: TestContext.Current.CancellationToken, backend: rec);
        foreach (var (name, q) in want.Linears)
        {
            Assert.Equal(q.Q, got.Linears[name].Q);
            Assert.Equal(q.Scales, got.Linears[name].Scales);
            Assert.Equal(q.Zeros, got.Linears[name].Zeros);
            Assert.Equal(q.GIdx, got.Linears[name].GIdx);
        }
        Assert.Equal(want.Reports.Select(r => r.Error), got.Reports.Select(r => r.Error));
        string[] collects = trueSequential ? ["collect Attn", "collect O", "collect Mlp", "collect Down"] : ["collect all"];
        Assert.Equal("start", rec.Calls[0]);
        Assert.Equal(1 + m.Config.NumLayers * (1 + collects.Length + 7 * 3 + 1), rec.Calls.Count);
        Assert.Equal(m.Config.NumLayers, rec.Calls.Count(c => c == "advance"));
        Assert.Equal(["load", collects[0], "rtn", "gptq", "updated self_attn.q_proj"], rec.Calls.Skip(1).Take(5));
        Assert.Equal("advance", rec.Calls[^1]);
    }

    [Fact]
    public void RtnOnlyNeedsNoForward()
    {
        using var m = QuantTestModels.Open(TestPaths.Fixture("tiny-llama-f16"));
        using var rec = new Recording(m.Config);
        ModelQuantizer.Run(m, new QuantizeOptions(new QuantSpec(4, -1), Gptq: false), [], _ => { }, ct: TestContext.Current.CancellationToken, backend: rec);
        Assert.All(rec.Calls, c => Assert.Equal("rtn", c));
        Assert.Equal(m.Config.NumLayers * 7, rec.Calls.Count);
    }
}
