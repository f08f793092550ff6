namespace Quanta.Cuda;

/// <summary>The phases a profiled step books its GPU time to (<see cref="CudaModelRunner.TakeProfile"/>).</summary>
public static class ProfilePhase
{
    /// <summary>RMSNorm before q/k/v and before gate/up (inside the fused GEMVs at few rows).</summary>
    public const string Norm = "norm";
    /// <summary>The q, k, v projections.</summary>
    public const string Qkv = "qkv_proj";
    /// <summary>Rotary embedding of q and k, and K/V written to the cache.</summary>
    public const string RopeKv = "rope_kv";
    /// <summary>Attention over the paged KV cache (or the prompt's own K/V).</summary>
    public const string Attention = "attention";
    /// <summary>The output projection, added into the residual stream.</summary>
    public const string O = "o_proj";
    /// <summary>The gate and up projections and silu(gate) * up.</summary>
    public const string GateUpSilu = "gate_up_silu";
    /// <summary>The down projection, added into the residual stream.</summary>
    public const string Down = "down_proj";
    /// <summary>The logits.</summary>
    public const string LmHead = "lm_head";
    /// <summary>Everything else: staging the step's indices, the embedding, the final norm, the logit rows' gather.</summary>
    public const string Other = "other";
}

public sealed unsafe partial class CudaModelRunner
{
    readonly Dictionary<string, double>? _prof;       // GPU ms per phase (CudaRunnerOptions.Profile), else null
    readonly List<(string Phase, nint Event)> _profEvents = [];
    int _profUsed;

    /// <summary>With <see cref="CudaRunnerOptions.Profile"/>: records an event; the GPU time since the previous one is booked to <paramref name="phase"/>.</summary>
    void Mark(string phase)
    {
        if (_prof is null) return;
        if (_profUsed == _profEvents.Count)
        {
            Native.Cu.Check(Native.Cu.cuEventCreate(out var e, 0), "cuEventCreate");
            _profEvents.Add((phase, e));
        }
        var ev = _profEvents[_profUsed].Event;
        _profEvents[_profUsed++] = (phase, ev);
        Native.Cu.Check(Native.Cu.cuEventRecord(ev, _ctx.Stream), "cuEventRecord");
    }

    /// <summary>Books the recorded events' intervals (call after the stream is synchronized).</summary>
    void BookProfile()
    {
        if (_prof is null) return;
        for (int i = 1; i < _profUsed; i++)
        {
            Native.Cu.Check(Native.Cu.cuEventElapsedTime(out float ms, _profEvents[i - 1].Event, _profEvents[i].Event), "cuEventElapsedTime");
            var phase = _profEvents[i].Phase;
            _prof[phase] = _prof.GetValueOrDefault(phase) + ms;
        }
        _profUsed = 0;
    }

    /// <summary>
    /// GPU milliseconds per phase (<see cref="ProfilePhase"/>) since the last call (with <see cref="CudaRunnerOptions.Profile"/>;
    /// null otherwise), then resets.
    /// </summary>
    public IReadOnlyDictionary<string, double>? TakeProfile()
    {
        if (_prof is null) return null;
        var r = new Dictionary<string, double>(_prof);
        _prof.Clear();
        return r;
    }
}
