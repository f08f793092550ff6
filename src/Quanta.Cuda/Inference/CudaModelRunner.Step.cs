using Quanta.Engine;

namespace Quanta.Cuda;

public sealed unsafe partial class CudaModelRunner
{
    /// <summary>
    /// A step on the device: its uploaded indices, and where its logits rows are (Xn: rows 0..n-1 of the final norm's
    /// output, else Final: the gathered rows).
    /// </summary>
    /// <remarks>Head: the graph ran lm_head on the one logits row itself (with its greedy choice where Head.Ids != 0); null: <see cref="Head"/> runs it.</remarks>
    readonly record struct Step(CudaScratch.Meta Meta, bool LogitsInXn, CudaLmHead.Greedy? Head);

    /// <summary>
    /// Runs <paramref name="plan"/> for batch <paramref name="b"/>: every layer (through its graph for a decode step), with the
    /// first logits rows' final norm gathered, and lm_head where the plan puts it inside the step.
    /// </summary>
    Step Execute(ForwardBatch b, StepPlan plan, ReadOnlySpan<int> feed = default, ulong prevIds = 0, CudaSampler.Staged parms = default,
                 CudaSampler? sampler = null)
    {
        int T = plan.Tokens, maxb = plan.MaxBlocks;
        _s.Ensure(T);
        var m = _s.WriteMeta(b, maxb, plan.Tiles, T, feed);
        // The inputs come from mapped host memory in one kernel, which also embeds the tokens: no copies on the stream. A
        // decode graph holds it as its first node (so the first q/k/v's prologue overlaps it), given this step's arguments.
        void Stage((nint, nint) node = default) =>
            _k.StageEmbed(m.Host, m.Ids, m.Count, T, m.FeedAt, prevIds, _w.Embedding, _s.X, _hidden, parms.Host, parms.Device, parms.Ints, node);
        CudaLmHead.Greedy? head = plan.Head switch
        {
            HeadPlacement.InGraphGreedy => sampler!.FusedGreedy(0, b.NumLogits, _lmHead!.Blocks)
                ?? throw new InvalidOperationException("the plan fuses a greedy choice the sampler does not have"),
            HeadPlacement.InGraph => default(CudaLmHead.Greedy),
            _ => null,
        };
        Mark("start");
        if (plan.Graph)
            _graphs.Run(new DecodeGraphs.Key(T, maxb, plan.Attention.Splits, plan.GatherRows, head), _s.Generation,
                () => { Stage(); Layers(m, T, maxb, plan.Attention, plan.GatherRows, head); }, Stage);
        else
        {
            Stage();
            Layers(m, T, maxb, plan.Attention, plan.GatherRows, head);
        }
        return new Step(m, plan.LogitsInXn, head);
    }

    /// <summary>Logits rows r.. (at most LogitRows of the n) into the logits scratch; returns how many.</summary>
    int Head(Step step, int r, int n, CudaLmHead.Greedy greedy = default)
    {
        int rows = Math.Min(CudaScratch.LogitRows, n - r);
        if (r > 0) _k.GatherRows(_s.Xn, step.Meta.LogitIdx + 4UL * (ulong)r, _s.Final, _hidden, rows);
        ulong x = step.LogitsInXn ? _s.Xn : _s.Final;
        if (_lmHead is { } h && h.Takes(rows)) h.Forward(x, _s.Logits, greedy);
        else _w.LmHead.Forward(x, _s.Logits, rows, _s.Linear);
        Mark(ProfilePhase.LmHead);
        return rows;
    }

    /// <summary>
    /// Every layer (x holds the embedded tokens), the final norm, and the first <paramref name="logitRows"/> logit rows gathered;
    /// attention as <paramref name="plan"/> says; lm_head where <paramref name="head"/> is given.
    /// </summary>
    void Layers(CudaScratch.Meta m, int T, int maxb, AttentionPlan plan, int logitRows, CudaLmHead.Greedy? head)
    {
        var s = _s;
        for (int l = 0; l < _w.Layers.Length; l++)
        {
            Mark(ProfilePhase.Other);
            ulong kc = _kCache + (ulong)(l * _layerStride * 2), vc = _vCache + (ulong)(l * _layerStride * 2);
            _layer.Forward(s, m, T, maxb, plan, _w.Layers[l], kc, vc, _mark);
        }
        _k.RmsNorm(s.X, _w.FinalNorm, s.Xn, _hidden, _c.RmsNormEps, T);
        if (logitRows > 0) _k.GatherRows(s.Xn, m.LogitIdx, s.Final, _hidden, logitRows);
        Mark(ProfilePhase.Other);
        if (head is { } g)
        {
            _lmHead!.Forward(s.Xn, s.Logits, g);
            Mark(ProfilePhase.LmHead);
        }
    }
}
