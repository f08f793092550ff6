using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>Device measurements for benchmarks.</summary>
public static class CudaBench
{
    /// <summary>Device-to-device copy bandwidth in bytes/s, counting bytes read plus written (median of reps).</summary>
    public static double CopyBandwidth(long bytes = 1L << 30, int reps = 10)
    {
        var ctx = CudaContext.Shared;
        using var mem = new DeviceArena(ctx);
        ulong a = mem.Alloc(bytes, "bandwidth source"), b = mem.Alloc(bytes, "bandwidth destination");
        ctx.ZeroAsync(a, bytes);
        Cu.Check(Cu.cuEventCreate(out var e0, 0), "cuEventCreate");
        Cu.Check(Cu.cuEventCreate(out var e1, 0), "cuEventCreate");
        try
        {
            var times = new List<float>();
            for (int i = 0; i < reps + 2; i++)
            {
                Cu.Check(Cu.cuEventRecord(e0, ctx.Stream), "cuEventRecord");
                ctx.CopyAsync(b, a, bytes);
                Cu.Check(Cu.cuEventRecord(e1, ctx.Stream), "cuEventRecord");
                Cu.Check(Cu.cuEventSynchronize(e1), "cuEventSynchronize");
                Cu.Check(Cu.cuEventElapsedTime(out float ms, e0, e1), "cuEventElapsedTime");
                if (i >= 2) times.Add(ms);
            }
            times.Sort();
            return 2.0 * bytes / (times[times.Count / 2] / 1e3);
        }
        finally { Cu.cuEventDestroy(e0); Cu.cuEventDestroy(e1); }
    }
}
