using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>
/// Page-locked host memory for the small transfers of every step (batch indices, sampling parameters, chosen tokens).
/// Mapped into the device's address space, so kernels read and write it directly (<see cref="Device"/>) and a step needs
/// no copy on the stream. Grows and never shrinks; a caller reuses it only after the stream has passed the work that read
/// or wrote it.
/// </summary>
internal sealed unsafe class PinnedBuffer : IDisposable
{
    nint _p;
    long _bytes;

    /// <summary>The device's address of the buffer (valid until it grows).</summary>
    public ulong Device { get; private set; }

    /// <summary>The first <paramref name="count"/> elements (contents kept only while the buffer does not grow).</summary>
    public Span<T> Get<T>(int count) where T : unmanaged
    {
        long bytes = (long)count * sizeof(T);
        if (bytes > _bytes)
        {
            long want = Math.Max(bytes, 2 * _bytes);
            Free();
            Cu.Check(Cu.cuMemHostAlloc(out _p, (nuint)want, 0x3), $"cuMemHostAlloc({want} bytes)");   // PORTABLE | DEVICEMAP
            _bytes = want;
            Cu.Check(Cu.cuMemHostGetDevicePointer(out var d, _p, 0), "cuMemHostGetDevicePointer");
            Device = d;
        }
        return new Span<T>((void*)_p, count);
    }

    public void* Pointer => (void*)_p;

    void Free()
    {
        if (_p != 0) Cu.cuMemFreeHost(_p);
        _p = 0;
        _bytes = 0;
        Device = 0;
    }

    public void Dispose() => Free();
}
