namespace Quanta.Cuda;

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

    /// <summary>GPU milliseconds per phase since the last call (with <see cref="CudaRunnerOptions.Profile"/>; null otherwise), then resets.</summary>
    public string? TakeProfile()
    {
        if (_prof is null) return null;
        var r = string.Join(", ", _prof.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:F2}"));
        _prof.Clear();
        return r;
    }
}
