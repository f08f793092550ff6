using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>
/// CUDA graphs of the decode step, one per (batch-size bucket, padded block-table width, attention splits, logit rows, lm_head
/// inside or not and where it writes).
/// A step of n sequences runs as its bucket (<see cref="StepPlanner.Bucket"/>) with the extra rows padded (they write no KV and
/// their outputs are dropped), so a server whose batch drifts by one sequence reuses a few graphs instead of capturing
/// one per size. A shape runs eagerly the first time (kernels load), is captured the second time and replayed after.
/// </summary>
internal sealed unsafe class DecodeGraphs(CudaContext ctx) : IDisposable
{
    /// <remarks>Head: lm_head inside the graph, writing where it says (see <see cref="CudaLmHead"/>); null: outside.</remarks>
    public readonly record struct Key(int Tokens, int MaxBlocks, int Splits, int Logits, CudaLmHead.Greedy? Head);

    // Per key: the instantiated graph, the graph it came from (whose node handles address it), and its one root node.
    readonly Dictionary<Key, (nint Exec, nint Graph, nint Root)> _exec = [];
    readonly HashSet<Key> _seen = [];
    int _generation = -1;

    /// <summary>
    /// Runs <paramref name="body"/> through a graph for <paramref name="key"/> (captured on its second use). The body's
    /// first kernel is the graph's root: before each replay, <paramref name="first"/> (where given) gives that node the
    /// step's own arguments (see <see cref="KernelRegistry.SetKernelNode"/>).
    /// </summary>
    public void Run(Key key, int scratchGeneration, Action body, Action<(nint Exec, nint Node)>? first)
    {
        if (scratchGeneration != _generation) { Clear(); _generation = scratchGeneration; }
        if (_exec.TryGetValue(key, out var g))
        {
            first?.Invoke((g.Exec, g.Root));
            Cu.Check(Cu.cuGraphLaunch(g.Exec, ctx.Stream), "cuGraphLaunch");
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
        try
        {
            nint root = 0;
            if (first is not null)
            {
                nuint count = 0;
                Cu.Check(Cu.cuGraphGetRootNodes(graph, null, ref count), "cuGraphGetRootNodes");
                if (count != 1) throw new InvalidOperationException($"a decode graph has {count} root nodes, expected its first kernel alone");
                Cu.Check(Cu.cuGraphGetRootNodes(graph, &root, ref count), "cuGraphGetRootNodes");
            }
            Cu.Check(Cu.cuGraphInstantiateWithFlags(out var exec, graph, 0), "cuGraphInstantiateWithFlags");
            _exec[key] = (exec, graph, root);
            Cu.Check(Cu.cuGraphLaunch(exec, ctx.Stream), "cuGraphLaunch");
        }
        catch
        {
            if (!_exec.ContainsKey(key)) Cu.cuGraphDestroy(graph);
            throw;
        }
    }

    void Clear()
    {
        foreach (var (exec, graph, _) in _exec.Values) { Cu.cuGraphExecDestroy(exec); Cu.cuGraphDestroy(graph); }
        _exec.Clear();
        _seen.Clear();
    }

    public void Dispose() => Clear();
}
