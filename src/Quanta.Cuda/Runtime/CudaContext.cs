using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>One GPU: its primary context, one stream, a cuBLAS handle and the kernel registry.</summary>
public sealed unsafe class CudaContext : IDisposable
{
    readonly List<ulong> _allocations = [];
    nint _cublas;

    CudaContext(int ordinal)
    {
        Ordinal = ordinal;
        Cu.Check(Cu.cuDeviceGet(out int dev, ordinal), "cuDeviceGet");
        Cu.Check(Cu.cuDevicePrimaryCtxRetain(out var ctx, dev), "cuDevicePrimaryCtxRetain");
        Cu.Check(Cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        Context = ctx;
        Name = Cu.DeviceName(dev);
        Cu.Check(Cu.cuDeviceGetAttribute(out int major, Cu.AttrCcMajor, dev), "cuDeviceGetAttribute");
        Cu.Check(Cu.cuDeviceGetAttribute(out int minor, Cu.AttrCcMinor, dev), "cuDeviceGetAttribute");
        Cu.Check(Cu.cuDeviceGetAttribute(out int sms, Cu.AttrMultiprocessors, dev), "cuDeviceGetAttribute");
        Arch = major * 10 + minor;
        Multiprocessors = sms;
        Cu.Check(Cu.cuStreamCreate(out var s, 1), "cuStreamCreate"); // non-blocking
        Stream = s;
        Kernels = new KernelRegistry(this);
    }

    public int Ordinal { get; }
    public nint Context { get; }
    public string Name { get; }
    /// <summary>Compute capability as major*10+minor (90 for Hopper).</summary>
    public int Arch { get; }
    public int Multiprocessors { get; }
    public nint Stream { get; }
    internal KernelRegistry Kernels { get; }

    /// <summary>Why no CUDA device can be used here, or null when one can.</summary>
    public static string? Unavailable()
    {
        var missing = CudaLibraries.Missing(CudaLibraries.Driver);
        if (missing is not null) return "no CUDA driver: " + missing;
        try
        {
            int r = Cu.cuInit(0);
            if (r != 0) return $"cuInit failed ({r}): no usable NVIDIA GPU";
            Cu.Check(Cu.cuDeviceGetCount(out int n), "cuDeviceGetCount");
            if (n == 0) return "the CUDA driver reports no GPU";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or CudaException) { return e.Message; }
        foreach (var lib in new[] { CudaLibraries.Nvrtc, CudaLibraries.Cublas })
            if (CudaLibraries.Missing(lib) is { } m) return $"{(lib == CudaLibraries.Nvrtc ? "NVRTC" : "cuBLAS")} not found: {m}";
        return null;
    }

    static CudaContext? _shared;
    static readonly Lock Gate = new();

    /// <summary>The process-wide context of GPU 0 (created on first use; throws when there is none).</summary>
    public static CudaContext Shared
    {
        get
        {
            lock (Gate)
            {
                if (_shared is not null) { Cu.Check(Cu.cuCtxSetCurrent(_shared.Context), "cuCtxSetCurrent"); return _shared; }
                var why = Unavailable();
                if (why is not null) throw new NotSupportedException("CUDA: " + why);
                return _shared = new CudaContext(0);
            }
        }
    }

    /// <summary>Makes this context current on the calling thread.</summary>
    public void MakeCurrent() => Cu.Check(Cu.cuCtxSetCurrent(Context), "cuCtxSetCurrent");

    /// <summary>
    /// Registers per thread and local (spilled) bytes per thread of kernel <paramref name="kernel"/> of the embedded module
    /// <paramref name="module"/> (compiled on first use).
    /// </summary>
    public (int Registers, int LocalBytes) KernelResources(string module, string kernel)
    {
        MakeCurrent();
        nint f = Kernels.Function(module, kernel);
        Cu.Check(Cu.cuFuncGetAttribute(out int regs, 4, f), "cuFuncGetAttribute(NUM_REGS)");
        Cu.Check(Cu.cuFuncGetAttribute(out int local, 3, f), "cuFuncGetAttribute(LOCAL_SIZE_BYTES)");
        return (regs, local);
    }

    public nint Cublas
    {
        get
        {
            if (_cublas == 0)
            {
                Native.Cublas.Check(Native.Cublas.Create(out _cublas), "cublasCreate");
                Native.Cublas.Check(Native.Cublas.SetStream(_cublas, Stream), "cublasSetStream");
            }
            return _cublas;
        }
    }

    public (long Free, long Total) MemoryInfo()
    {
        Cu.Check(Cu.cuMemGetInfo(out var free, out var total), "cuMemGetInfo");
        return ((long)free, (long)total);
    }

    /// <summary>Allocates device memory; out of memory is an error that names the size and what is free.</summary>
    public ulong Alloc(long bytes, string what)
    {
        if (bytes <= 0) bytes = 256;
        int r = Cu.cuMemAlloc(out ulong p, (nuint)bytes);
        if (r == Cu.OutOfMemory)
        {
            var (free, total) = MemoryInfo();
            throw new InsufficientMemoryException($"CUDA out of memory allocating {what}: {bytes / 1048576.0:F1} MiB asked, {free / 1048576.0:F1} MiB free of {total / 1048576.0:F1} MiB on {Name}");
        }
        Cu.Check(r, $"cuMemAlloc({what}, {bytes} bytes)");
        lock (_allocations) _allocations.Add(p);
        return p;
    }

    public void Free(ulong p)
    {
        if (p == 0) return;
        lock (_allocations) _allocations.Remove(p);
        Cu.Check(Cu.cuMemFree(p), "cuMemFree");
    }

    public void Upload(ulong dst, void* src, long bytes) => Cu.Check(Cu.cuMemcpyHtoD(dst, src, (nuint)bytes), "cuMemcpyHtoD");
    /// <summary>Upload ordered on the context's stream (pageable memory is staged before this returns).</summary>
    public void UploadAsync(ulong dst, void* src, long bytes) => Cu.Check(Cu.cuMemcpyHtoDAsync(dst, src, (nuint)bytes, Stream), "cuMemcpyHtoDAsync");
    public void Download(void* dst, ulong src, long bytes) => Cu.Check(Cu.cuMemcpyDtoH(dst, src, (nuint)bytes), "cuMemcpyDtoH");
    public void CopyAsync(ulong dst, ulong src, long bytes) => Cu.Check(Cu.cuMemcpyDtoDAsync(dst, src, (nuint)bytes, Stream), "cuMemcpyDtoDAsync");
    public void ZeroAsync(ulong dst, long bytes) => Cu.Check(Cu.cuMemsetD8Async(dst, 0, (nuint)bytes, Stream), "cuMemsetD8Async");
    /// <summary>Zeroes <paramref name="rows"/> runs of <paramref name="width"/> floats, <paramref name="pitch"/> floats apart.</summary>
    public void ZeroFloatsAsync(ulong dst, int width, int pitch, int rows)
        => Cu.Check(Cu.cuMemsetD2D32Async(dst, (nuint)(4L * pitch), 0, (nuint)width, (nuint)rows, Stream), "cuMemsetD2D32Async");
    public void Synchronize() => Cu.Check(Cu.cuStreamSynchronize(Stream), "cuStreamSynchronize");

    public ulong Upload<T>(ReadOnlySpan<T> data, string what) where T : unmanaged
    {
        long bytes = (long)data.Length * sizeof(T);
        ulong p = Alloc(bytes, what);
        fixed (T* s = data) Upload(p, s, bytes);
        return p;
    }

    public T[] Download<T>(ulong src, int count) where T : unmanaged
    {
        Synchronize();
        var r = new T[count];
        fixed (T* d = r) Download(d, src, (long)count * sizeof(T));
        return r;
    }

    public void Dispose()
    {
        lock (_allocations)
        {
            foreach (var p in _allocations) Cu.cuMemFree(p);
            _allocations.Clear();
        }
        if (_cublas != 0) { Native.Cublas.Destroy(_cublas); _cublas = 0; }
    }
}
