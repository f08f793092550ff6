using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>
/// Page-locked host memory for the small copies of every step (batch indices, sampling parameters, chosen tokens): they
/// go on the stream asynchronously, without the driver's staging copy. Grows and never shrinks; a caller reuses it only
/// after the stream has passed the copies that read or wrote it (every step ends with a synchronize).
/// </summary>
internal sealed unsafe class PinnedBuffer : IDisposable
{
    nint _p;
    long _bytes;

    /// <summary>The first <paramref name="count"/> elements (contents kept only while the buffer does not grow).</summary>
    public Span<T> Get<T>(int count) where T : unmanaged
    {
        long bytes = (long)count * sizeof(T);
        if (bytes > _bytes)
        {
            long want = Math.Max(bytes, 2 * _bytes);
            Free();
            Cu.Check(Cu.cuMemAllocHost(out _p, (nuint)want), $"cuMemAllocHost({want} bytes)");
            _bytes = want;
        }
        return new Span<T>((void*)_p, count);
    }

    public void* Pointer => (void*)_p;

    void Free()
    {
        if (_p != 0) Cu.cuMemFreeHost(_p);
        _p = 0;
        _bytes = 0;
    }

    public void Dispose() => Free();
}
