using System.Diagnostics;
using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>Options of one quantization run.</summary>
public sealed record QuantizeOptions(QuantSpec Spec, bool Gptq = true, bool TrueSequential = true);

/// <summary>Output error of one linear layer on its calibration inputs: ‖(W − Ŵ)X‖² for this method and for RTN.</summary>
public sealed record LinearReport(string Name, int Rows, int Columns, double Error, double RtnError, double Seconds);

/// <summary>The quantized model: every linear layer by its Hugging Face name (without ".weight").</summary>
public sealed class QuantizedModel
{
    public required int PaddedIntermediate { get; init; }
    public required Dictionary<string, QuantizedMatrix> Linears { get; init; }
    public required List<LinearReport> Reports { get; init; }
}

/// <summary>Layer-by-layer GPTQ (or RTN) of a loaded, unquantized Llama model, on the CPU or another <see cref="QuantBackend"/>.</summary>
public static class ModelQuantizer
{
    static readonly (LinearInput Input, string[] Names)[] Subsets =
    [
        (LinearInput.Attn, ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]),
        (LinearInput.O, ["self_attn.o_proj"]),
        (LinearInput.Mlp, ["mlp.gate_proj", "mlp.up_proj"]),
        (LinearInput.Down, ["mlp.down_proj"]),
    ];

    /// <param name="samples">calibration token windows (unused by RTN).</param>
    /// <param name="progress">(layers done, total layers) after each layer.</param>
    /// <param name="backend">where the forward, Hessians and solves run (null = the CPU).</param>
    public static QuantizedModel Run(LoadedModel model, QuantizeOptions opt, int[][] samples, Action<string> log,
                                     Action<int, int>? progress = null, CancellationToken ct = default, QuantBackend? backend = null)
    {
        var c = model.Config;
        int ffnPadded = QuantLayout.Check(model, opt.Spec, log);
        var linears = new Dictionary<string, QuantizedMatrix>();
        var reports = new List<LinearReport>();
        using var own = backend is null ? new CpuQuantBackend(c) : null;
        var be = backend ?? own!;
        if (opt.Gptq) be.Start(model, samples);
        for (int li = 0; li < c.NumLayers; li++)
        {
            ct.ThrowIfCancellationRequested();
            var layer = DenseWeights.Layer(model, li, ffnPadded);
            if (opt.Gptq) be.Load(layer, ffnPadded);
            Dictionary<LinearInput, IHessianSum>? all = null;
            if (opt.Gptq && !opt.TrueSequential) all = be.Collect(null);
            foreach (var (input, names) in Subsets)
            {
                IHessianSum? h = null;
                if (opt.Gptq) h = all?[input] ?? be.Collect(input)[input];
                foreach (var name in names)
                {
                    var sw = Stopwatch.StartNew();
                    ref float[] w = ref Field(layer, name);
                    int cols = Width(c, input, ffnPadded), rows = w.Length / cols;
                    var wd = Array.ConvertAll(w, v => (double)v);
                    var rtn = be.RoundToNearest(wd, rows, cols, opt.Spec);
                    var q = opt.Gptq ? be.Gptq(h!, wd, rows, cols, opt.Spec) : rtn;
                    string full = $"model.layers.{li}.{name}";
                    linears[full] = q;
                    var deq = q.Dequantize();
                    if (h is not null)
                        reports.Add(new LinearReport(full, rows, cols, be.OutputError(h, Delta(wd, deq), rows),
                                                     be.OutputError(h, Delta(wd, rtn.Dequantize()), rows), sw.Elapsed.TotalSeconds));
                    w = deq;
                    if (opt.Gptq) be.Updated(layer, name);
                }
            }
            if (opt.Gptq) be.Advance();
            progress?.Invoke(li + 1, c.NumLayers);
        }
        return new QuantizedModel { PaddedIntermediate = ffnPadded, Linears = linears, Reports = reports };
    }

    /// <summary>Inputs of the linear layers that read <paramref name="input"/> (ffn: the padded intermediate width).</summary>
    internal static int Width(LlamaConfig c, LinearInput input, int ffn) => input switch
    {
        LinearInput.O => c.NumHeads * c.EffectiveHeadDim,
        LinearInput.Down => ffn,
        _ => c.HiddenSize,
    };

    /// <summary>The weight [out, in] of layer <paramref name="l"/>'s linear <paramref name="name"/> (e.g. "self_attn.q_proj").</summary>
    public static ref float[] Field(DenseLayer l, string name)
    {
        switch (name)
        {
            case "self_attn.q_proj": return ref l.Wq;
            case "self_attn.k_proj": return ref l.Wk;
            case "self_attn.v_proj": return ref l.Wv;
            case "self_attn.o_proj": return ref l.Wo;
            case "mlp.gate_proj": return ref l.WGate;
            case "mlp.up_proj": return ref l.WUp;
            default: return ref l.WDown;
        }
    }

    static double[] Delta(double[] w, float[] deq)
    {
        var d = new double[w.Length];
        const int Chunk = 1 << 16;
        Parallel.For(0, (d.Length + Chunk - 1) / Chunk, k =>
        {
            for (int i = k * Chunk, e = Math.Min(d.Length, i + Chunk); i < e; i++) d[i] = w[i] - deq[i];
        });
        return d;
    }
}
