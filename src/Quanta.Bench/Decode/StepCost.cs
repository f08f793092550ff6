using Quanta.Cuda;
using Quanta.Model;

namespace Quanta.Bench.Decode;

/// <summary>The least work of one phase of a step: floating-point operations, and bytes that must cross GPU memory.</summary>
public readonly record struct PhaseCost(double Flops, double Bytes);

/// <summary>
/// The least work of each profile phase (<see cref="ProfilePhase"/>) of one forward step of a model, so that a profile's GPU
/// time per phase reads as TFLOP/s and GB/s. Bytes count what no schedule can avoid: each weight read once, activations read
/// and written once (f16 inputs, f32 outputs, as the CUDA runner keeps them), K/V read once per row that attends to it.
/// Kernels that re-read data through the L2 cache can exceed the memory bandwidth on these figures; none can do less work.
/// </summary>
/// <param name="Config">the model.</param>
/// <param name="Qkv">bytes of the q, k and v weights of all layers (quantized weights with their scales and zeros).</param>
/// <param name="O">bytes of the output projections of all layers.</param>
/// <param name="GateUp">bytes of the gate and up projections of all layers.</param>
/// <param name="Down">bytes of the down projections of all layers.</param>
/// <param name="LmHead">bytes of the lm_head weights.</param>
/// <param name="KvBytesPerToken">bytes of one token's K and V in one layer's cache.</param>
public sealed record StepCost(LlamaConfig Config, long Qkv, long O, long GateUp, long Down, long LmHead, long KvBytesPerToken)
{
    /// <summary>The costs of <paramref name="w"/> as stored (GPTQ: packed weights, zeros and scales; dense: their elements).</summary>
    public static StepCost Of(LlamaConfig c, LlamaWeights w, long kvBytesPerToken)
        => new(c, w.Layers.Sum(l => StoredBytes(l.Wq) + StoredBytes(l.Wk) + StoredBytes(l.Wv)), w.Layers.Sum(l => StoredBytes(l.Wo)),
            w.Layers.Sum(l => StoredBytes(l.WGate) + StoredBytes(l.WUp)), w.Layers.Sum(l => StoredBytes(l.WDown)), StoredBytes(w.LmHead),
            kvBytesPerToken / c.NumLayers);

    /// <summary>Bytes of a linear layer's weights as stored (GPTQ: packed weights, zeros and scales).</summary>
    public static long StoredBytes(LinearWeights l) => l switch
    {
        GptqLinear g => g.QWeight.ByteLength + g.QZeros.ByteLength + g.Scales.ByteLength,
        DenseLinear d => d.Weight.ByteLength,
        _ => 0,
    };

    /// <summary>Bytes of every weight a step reads (the linears and lm_head).</summary>
    public long WeightBytes => Qkv + O + GateUp + Down + LmHead;

    /// <summary>
    /// Per phase, the work of one step of <paramref name="rows"/> tokens in which the queries attend to
    /// <paramref name="attended"/> (query, key) pairs in all, reading <paramref name="kvTokensRead"/> tokens' K/V per layer
    /// (decode: every row's context; a prompt: its own tokens once), and <paramref name="logitRows"/> rows of logits.
    /// </summary>
    public IReadOnlyDictionary<string, PhaseCost> Step(int rows, long attended, long kvTokensRead, int logitRows)
    {
        var c = Config;
        int layers = c.NumLayers, hd = c.EffectiveHeadDim;
        double B = rows, h = c.HiddenSize, q = c.NumHeads * hd, kv = c.NumKvHeads * hd, ffn = c.IntermediateSize, qkv = q + 2 * kv;
        return new Dictionary<string, PhaseCost>
        {
            // Two norms per layer: the f32 residual stream read, the f16 normed rows written; a square, a sum and a scale each.
            [ProfilePhase.Norm] = new(layers * 2 * 4 * B * h, layers * 2 * B * h * (4 + 2)),
            [ProfilePhase.Qkv] = new(layers * 2 * B * h * qkv, Qkv + layers * B * (2 * h + 4 * qkv)),
            // q and k rotated (a pair of values: four multiplies, two adds); q f16 out, K and V f16 into the cache.
            [ProfilePhase.RopeKv] = new(layers * B * (q + kv) * 3, layers * B * (4 * qkv + 2 * qkv)),
            // q.k and p.v over every attended pair; q read and the output written as f16.
            [ProfilePhase.Attention] = new(layers * 4.0 * attended * q, layers * ((double)kvTokensRead * KvBytesPerToken + B * 2 * q * 2)),
            // o and down add into the f32 residual stream: read and written.
            [ProfilePhase.O] = new(layers * 2 * B * q * h, O + layers * B * (2 * q + 8 * h)),
            [ProfilePhase.GateUpSilu] = new(layers * 2 * B * h * 2 * ffn, GateUp + layers * B * (2 * h + 2 * ffn)),
            [ProfilePhase.Down] = new(layers * 2 * B * ffn * h, Down + layers * B * (2 * ffn + 8 * h)),
            [ProfilePhase.LmHead] = new(2.0 * logitRows * h * c.VocabSize, LmHead + logitRows * (2 * h + 4.0 * c.VocabSize)),
        };
    }

    /// <summary>
    /// One line per phase of <paramref name="ms"/> (GPU ms over <paramref name="steps"/> steps of the same shape), longest
    /// first: the total, µs per step, and with a cost in <paramref name="perStep"/> its TFLOP/s and GB/s.
    /// </summary>
    public static IEnumerable<string> Lines(IReadOnlyDictionary<string, double> ms, int steps, IReadOnlyDictionary<string, PhaseCost> perStep)
    {
        foreach (var (phase, total) in ms.OrderByDescending(p => p.Value))
        {
            double us = total * 1e3 / steps;
            var line = $"{phase,-13} {total,10:F2} ms {us,10:F1} us/step";
            if (perStep.TryGetValue(phase, out var cost) && us > 0)
                line += $" {cost.Flops / us / 1e6,8:F1} TFLOP/s {cost.Bytes / us / 1e3,8:F0} GB/s";
            yield return line;
        }
    }
}
