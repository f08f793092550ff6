namespace Quanta.Cuda;

/// <summary>Device buffers of one operation, freed together (after the stream drains) on dispose.</summary>
internal sealed unsafe class DeviceScope(CudaContext ctx) : IDisposable
{
    readonly List<ulong> _owned = [];

    public ulong Alloc(long bytes, string what)
    {
        ulong p = ctx.Alloc(bytes, what);
        _owned.Add(p);
        return p;
    }

    /// <summary>A new buffer holding <paramref name="data"/> (copied in stream order).</summary>
    public ulong Upload<T>(ReadOnlySpan<T> data, string what) where T : unmanaged
    {
        long bytes = (long)data.Length * sizeof(T);
        ulong p = Alloc(bytes, what);
        fixed (T* s = data) ctx.UploadAsync(p, s, bytes);
        return p;
    }

    public void Dispose()
    {
        if (_owned.Count == 0) return;
        ctx.Synchronize();
        foreach (var p in _owned) ctx.Free(p);
        _owned.Clear();
    }
}
