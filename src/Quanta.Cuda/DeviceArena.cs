namespace Quanta.Cuda;

/// <summary>Device allocations owned together (a runner's weights, cache and scratch); Dispose frees them all.</summary>
public sealed unsafe class DeviceArena(CudaContext ctx) : IDisposable
{
    readonly List<ulong> _owned = [];

    public CudaContext Ctx => ctx;

    public ulong Alloc(long bytes, string what)
    {
        ulong p = ctx.Alloc(bytes, what);
        _owned.Add(p);
        return p;
    }

    public ulong Upload<T>(ReadOnlySpan<T> data, string what) where T : unmanaged
    {
        ulong p = ctx.Upload(data, what);
        _owned.Add(p);
        return p;
    }

    public void Free(ulong p)
    {
        if (p == 0) return;
        _owned.Remove(p);
        ctx.Free(p);
    }

    public void Dispose()
    {
        foreach (var p in _owned) ctx.Free(p);
        _owned.Clear();
    }
}
