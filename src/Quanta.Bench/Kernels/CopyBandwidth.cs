using Quanta.Cuda;

namespace Quanta.Bench.Kernels;

/// <summary>The GPU's memory roofline: device-to-device copy bandwidth.</summary>
public static class CopyBandwidth
{
    /// <summary>Bytes/s of a device-to-device copy, counting bytes read plus written (median of <paramref name="reps"/> after two warm-ups).</summary>
    public static double Measure(long bytes = 1L << 30, int reps = 10)
    {
        var ctx = CudaContext.Shared;
        ctx.MakeCurrent();
        using var mem = new DeviceArena(ctx);
        ulong a = mem.Alloc(bytes, "bandwidth source"), b = mem.Alloc(bytes, "bandwidth destination");
        ctx.ZeroAsync(a, bytes);
        var times = new List<float>();
        for (int i = 0; i < reps + 2; i++)
        {
            float ms = DeviceTimer.Milliseconds(ctx, () => ctx.CopyAsync(b, a, bytes));
            if (i >= 2) times.Add(ms);
        }
        times.Sort();
        return 2.0 * bytes / (times[times.Count / 2] / 1e3);
    }
}
