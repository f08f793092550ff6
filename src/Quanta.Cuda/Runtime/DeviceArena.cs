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

    /// <summary>A new buffer holding <paramref name="data"/>, copied in stream order (from pageable memory the copy is staged before this returns).</summary>
    public ulong UploadAsync<T>(ReadOnlySpan<T> data, string what) where T : unmanaged
    {
        long bytes = (long)data.Length * sizeof(T);
        ulong p = Alloc(bytes, what);
        fixed (T* s = data) ctx.UploadAsync(p, s, bytes);
        return p;
    }

    public void Free(ulong p)
    {
        if (p == 0) return;
        _owned.Remove(p);
        ctx.Free(p);
    }

    /// <summary>Waits for the stream (queued work may still use the buffers), then frees them all.</summary>
    public void Dispose()
    {
        if (_owned.Count == 0) return;
        ctx.Synchronize();
        foreach (var p in _owned) ctx.Free(p);
        _owned.Clear();
    }
}
