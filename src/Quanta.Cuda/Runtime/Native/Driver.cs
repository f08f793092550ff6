using System.Runtime.InteropServices;
using System.Text;

namespace Quanta.Cuda.Native;

/// <summary>Failure of a CUDA, NVRTC or cuBLAS call; the message names the call.</summary>
public sealed class CudaException(string message) : Exception(message);

/// <summary>The CUDA driver API (libcuda), only the calls Quanta makes.</summary>
internal static unsafe partial class Cu
{
    const string L = CudaLibraries.Driver;
    public const int AttrMultiprocessors = 16, AttrCcMajor = 75, AttrCcMinor = 76;
    public const int OutOfMemory = 2;

    [LibraryImport(L)] public static partial int cuInit(uint flags);
    [LibraryImport(L)] public static partial int cuDeviceGetCount(out int count);
    [LibraryImport(L)] public static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(L)] public static partial int cuDeviceGetName(byte* name, int len, int device);
    [LibraryImport(L)] public static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(L)] public static partial int cuDevicePrimaryCtxRetain(out nint ctx, int device);
    [LibraryImport(L)] public static partial int cuCtxSetCurrent(nint ctx);
    [LibraryImport(L, EntryPoint = "cuMemGetInfo_v2")] public static partial int cuMemGetInfo(out nuint free, out nuint total);
    [LibraryImport(L, EntryPoint = "cuMemAlloc_v2")] public static partial int cuMemAlloc(out ulong ptr, nuint bytes);
    [LibraryImport(L, EntryPoint = "cuMemFree_v2")] public static partial int cuMemFree(ulong ptr);
    [LibraryImport(L, EntryPoint = "cuMemcpyHtoD_v2")] public static partial int cuMemcpyHtoD(ulong dst, void* src, nuint bytes);
    [LibraryImport(L, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial int cuMemcpyHtoDAsync(ulong dst, void* src, nuint bytes, nint stream);
    [LibraryImport(L, EntryPoint = "cuMemcpyDtoH_v2")] public static partial int cuMemcpyDtoH(void* dst, ulong src, nuint bytes);
    [LibraryImport(L, EntryPoint = "cuMemAllocHost_v2")] public static partial int cuMemAllocHost(out nint ptr, nuint bytes);
    [LibraryImport(L)] public static partial int cuMemFreeHost(nint ptr);
    [LibraryImport(L)] public static partial int cuMemHostAlloc(out nint ptr, nuint bytes, uint flags);
    [LibraryImport(L, EntryPoint = "cuMemHostGetDevicePointer_v2")] public static partial int cuMemHostGetDevicePointer(out ulong dptr, nint p, uint flags);
    [LibraryImport(L, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial int cuMemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(L, EntryPoint = "cuMemsetD8Async")] public static partial int cuMemsetD8Async(ulong dst, byte value, nuint count, nint stream);
    [LibraryImport(L)] public static partial int cuMemsetD2D32Async(ulong dst, nuint pitchBytes, uint value, nuint width, nuint height, nint stream);
    [LibraryImport(L)] public static partial int cuModuleLoadData(out nint module, void* image);
    [LibraryImport(L)] public static partial int cuModuleGetFunction(out nint fn, nint module, byte* name);
    [LibraryImport(L)] public static partial int cuFuncGetAttribute(out int value, int attribute, nint fn);
    [LibraryImport(L)] public static partial int cuFuncSetAttribute(nint fn, int attribute, int value);
    [LibraryImport(L)] public static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, nint fn, int blockSize, nuint dynamicSmem);
    [LibraryImport(L)] public static partial int cuLaunchKernelEx(LaunchConfig* config, nint fn, void** args, void** extra);
    [LibraryImport(L)] public static partial int cuLaunchKernel(nint fn, uint gx, uint gy, uint gz, uint bx, uint by, uint bz, uint sharedBytes, nint stream, void** args, void** extra);
    [LibraryImport(L)] public static partial int cuStreamCreate(out nint stream, uint flags);
    [LibraryImport(L)] public static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(L)] public static partial int cuEventCreate(out nint ev, uint flags);
    [LibraryImport(L)] public static partial int cuEventRecord(nint ev, nint stream);
    [LibraryImport(L)] public static partial int cuEventSynchronize(nint ev);
    [LibraryImport(L)] public static partial int cuEventElapsedTime(out float ms, nint start, nint end);
    [LibraryImport(L, EntryPoint = "cuEventDestroy_v2")] public static partial int cuEventDestroy(nint ev);
    [LibraryImport(L)] public static partial int cuGetErrorName(int error, out byte* name);
    [LibraryImport(L)] public static partial int cuStreamBeginCapture_v2(nint stream, int mode);
    [LibraryImport(L)] public static partial int cuStreamEndCapture(nint stream, out nint graph);
    [LibraryImport(L)] public static partial int cuGraphInstantiateWithFlags(out nint exec, nint graph, ulong flags);
    [LibraryImport(L)] public static partial int cuGraphLaunch(nint exec, nint stream);
    [LibraryImport(L)] public static partial int cuGraphDestroy(nint graph);
    [LibraryImport(L)] public static partial int cuGraphExecDestroy(nint exec);
    [LibraryImport(L)] public static partial int cuGraphGetRootNodes(nint graph, nint* nodes, ref nuint count);
    [LibraryImport(L)] public static partial int cuGraphExecKernelNodeSetParams_v2(nint exec, nint node, KernelNodeParams* p);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result == 0) return;
        string name = "CUDA error";
        if (cuGetErrorName(result, out var p) == 0 && p != null) name = Marshal.PtrToStringUTF8((nint)p) ?? name;
        throw new CudaException($"{call} failed: {name} ({result})");
    }

    public static string DeviceName(int device)
    {
        byte* buf = stackalloc byte[256];
        Check(cuDeviceGetName(buf, 256, device), "cuDeviceGetName");
        int n = 0;
        while (n < 256 && buf[n] != 0) n++;
        return Encoding.UTF8.GetString(buf, n);
    }

    /// <summary>CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the kernel may start before the previous one ends.</summary>
    public const int AttrProgrammaticSerialization = 6;

    /// <summary>CUlaunchConfig.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LaunchConfig
    {
        public uint GridX, GridY, GridZ, BlockX, BlockY, BlockZ, SharedBytes;
        public nint Stream;
        public LaunchAttribute* Attrs;
        public uint NumAttrs;
    }

    /// <summary>CUlaunchAttribute: an id, then a 64-byte value union at offset 8.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 72)]
    public struct LaunchAttribute
    {
        [FieldOffset(0)] public int Id;
        [FieldOffset(8)] public int Value;
    }

    /// <summary>CUDA_KERNEL_NODE_PARAMS_v2 (func set, so kern and ctx stay 0: the function's own context).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct KernelNodeParams
    {
        public nint Func;
        public uint GridX, GridY, GridZ, BlockX, BlockY, BlockZ, SharedBytes;
        public void** KernelParams;
        public void** Extra;
        public nint Kern, Ctx;
    }
}
