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
        Mark("lm_head");
        return rows;
    }

    /// <summary>
    /// Every layer (x holds the embedded tokens), the final norm, and the first <paramref name="logitRows"/> logit rows gathered;
    /// attention as <paramref name="plan"/> says; lm_head where <paramref name="head"/> is given.
    /// </summary>
    void Layers(CudaScratch.Meta m, int T, int maxb, AttentionPlan plan, int logitRows, CudaLmHead.Greedy? head)
    {
        var s = _s;
        float scale = 1f / MathF.Sqrt(_headDim);
        for (int l = 0; l < _w.Layers.Length; l++)
        {
            var L = _w.Layers[l];
            Mark("other");
            // Where the q/k/v projection is one layer whose kernel norms its input itself, no rmsnorm launch.
            CudaLinear.InputNorm? attnNorm = L.Qkv is [var qkv] && qkv.TakesNorm(T) ? AttnNormIn(l) : null;
            if (attnNorm is null) _k.RmsNorm(s.X, _w.AttnNorm[l], s.Xn, _hidden, _c.RmsNormEps, T);
            Mark("norm");
            int ld = _qDim + 2 * _kvDim, off = 0;
            foreach (var p in L.Qkv) { p.Forward(s.Xn, s.Qkv + 4UL * (ulong)off, T, s.Linear, ld, norm: attnNorm); off += p.Out; }
            Mark("qkv_proj");
            ulong kc = _kCache + (ulong)(l * _layerStride * 2), vc = _vCache + (ulong)(l * _layerStride * 2);
            bool blas = plan.PromptStarts is not null;
            if (!plan.RopeInAttention)
                _k.RopeKv(s.Qkv, s.Qkv + 4UL * (ulong)_qDim, s.Qkv + 4UL * (ulong)(_qDim + _kvDim), s.Qh, kc, vc, m.Pos, m.Slot, _invFreq,
                    _c.NumHeads, _c.NumKvHeads, _headDim, (int)_c.RopeStyle, T, ld, blas ? s.Kh : 0, blas ? s.Vh : 0);
            Mark("rope_kv");
            if (plan.PromptStarts is { } starts)
                for (int q = 0; q + 1 < starts.Length; q++)
                {
                    if (starts[q + 1] > starts[q])
                        _blas.Run(s.Qh, s.Kh, s.Vh, s.Att, starts[q], starts[q + 1] - starts[q], s.AttS, s.AttP, scale);
                }
            else if (plan.NumTiles > 0)
                _k.PrefillAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, m.Tiles, s.Att, _c.NumHeads, _c.NumKvHeads, _headDim,
                    BlockSize, maxb, scale, plan.NumTiles);
            else
                _k.PagedAttention(s.Qh, kc, vc, m.SeqOf, m.Pos, m.Tables, s.Att, s.Part, s.SplitsDone, _c.NumHeads, _c.NumKvHeads, _headDim,
                    BlockSize, maxb, scale, plan.Splits, T, plan.Warps,
                    plan.RopeInAttention ? new Kernels.DecodeRope(s.Qkv, ld, m.Slot, _invFreq, (int)_c.RopeStyle) : null);
            Mark("attention");
            // o_proj and down_proj add straight into the residual stream x (no zeroing, no separate add).
            L.O.Forward(s.Att, s.X, T, s.Linear, accumulate: true);
            Mark("o_proj");
            _k.RmsNorm(s.X, _w.FfnNorm[l], s.Xn, _hidden, _c.RmsNormEps, T);
            Mark("norm");
            if (L.GateUp is [{ SiluPairs: true } gateUp]) gateUp.ForwardSilu(s.Xn, s.Act, T, s.Linear, s.GateUp);
            else
            {
                off = 0;
                foreach (var p in L.GateUp) { p.Forward(s.Xn, s.GateUp + 4UL * (ulong)off, T, s.Linear, 2 * _ffn); off += p.Out; }
                _k.SiluMul(s.GateUp, s.GateUp + 4UL * (ulong)_ffn, s.Act, _ffn, 2 * _ffn, T);
            }
            Mark("gate_up_silu");
            L.Down.Forward(s.Act, s.X, T, s.Linear, accumulate: true);
            Mark("down_proj");
        }
        _k.RmsNorm(s.X, _w.FinalNorm, s.Xn, _hidden, _c.RmsNormEps, T);
        if (logitRows > 0) _k.GatherRows(s.Xn, m.LogitIdx, s.Final, _hidden, logitRows);
        Mark("other");
        if (head is { } g)
        {
            _lmHead!.Forward(s.Xn, s.Logits, g);
            Mark("lm_head");
        }
    }

    /// <summary>Layer l's attention norm done by its q/k/v kernel: with f16 weights where they are exact (16 KiB less shared memory).</summary>
    CudaLinear.InputNorm AttnNormIn(int l) => _w.AttnNormHalf[l] != 0
        ? new(_s.X, _w.AttnNormHalf[l], _c.RmsNormEps, Half: true) : new(_s.X, _w.AttnNorm[l], _c.RmsNormEps);
}
