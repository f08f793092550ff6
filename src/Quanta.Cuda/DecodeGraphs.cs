using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>
/// CUDA graphs of the decode step, one per (batch-size bucket, padded block-table width, attention splits, logit rows).
/// A step of n sequences runs as its bucket (<see cref="Bucket"/>) with the extra rows padded (they write no KV and
/// their outputs are dropped), so a server whose batch drifts by one sequence reuses a few graphs instead of capturing
/// one per size. A shape runs eagerly the first time (kernels load), is captured the second time and replayed after.
/// </summary>
internal sealed class DecodeGraphs(CudaContext ctx) : IDisposable
{
    public readonly record struct Key(int Tokens, int MaxBlocks, int Splits, int Logits);

    /// <summary>
    /// The padded size of a decode step of <paramref name="n"/> sequences: 1, 2, 4, 8, then multiples of 8 (as vLLM's
    /// capture sizes). Padding is nearly free below 64 rows: the fused GPTQ kernel computes 8 rows per tensor-core tile.
    /// </summary>
    public static int Bucket(int n) => n <= 0 ? throw new ArgumentOutOfRangeException(nameof(n)) : n <= 2 ? n : n <= 4 ? 4 : n <= 8 ? 8 : (n + 7) / 8 * 8;

    readonly Dictionary<Key, nint> _exec = [];
    readonly HashSet<Key> _seen = [];
    int _generation = -1;

    /// <summary>Off with QUANTA_CUDA_GRAPHS=0 or while profiling.</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("QUANTA_CUDA_GRAPHS") != "0";

    /// <summary>Runs <paramref name="body"/> through a graph for <paramref name="key"/> (captured on its second use).</summary>
    public void Run(Key key, int scratchGeneration, Action body)
    {
        if (scratchGeneration != _generation) { Clear(); _generation = scratchGeneration; }
        if (_exec.TryGetValue(key, out var exec))
        {
            Cu.Check(Cu.cuGraphLaunch(exec, ctx.Stream), "cuGraphLaunch");
            return;
        }
        if (_seen.Add(key)) { body(); return; }
        Cu.Check(Cu.cuStreamBeginCapture_v2(ctx.Stream, 2), "cuStreamBeginCapture"); // relaxed
        try { body(); }
        catch
        {
            Cu.cuStreamEndCapture(ctx.Stream, out var broken);
            if (broken != 0) Cu.cuGraphDestroy(broken);
            throw;
        }
        Cu.Check(Cu.cuStreamEndCapture(ctx.Stream, out var graph), "cuStreamEndCapture");
        try { Cu.Check(Cu.cuGraphInstantiateWithFlags(out exec, graph, 0), "cuGraphInstantiateWithFlags"); }
        finally { Cu.cuGraphDestroy(graph); }
        _exec[key] = exec;
        Cu.Check(Cu.cuGraphLaunch(exec, ctx.Stream), "cuGraphLaunch");
    }

    void Clear()
    {
        foreach (var e in _exec.Values) Cu.cuGraphExecDestroy(e);
        _exec.Clear();
        _seen.Clear();
    }

    public void Dispose() => Clear();
}
