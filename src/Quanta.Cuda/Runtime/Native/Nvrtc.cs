using System.Runtime.InteropServices;

namespace Quanta.Cuda.Native;

/// <summary>NVRTC, the run-time CUDA C++ compiler.</summary>
internal static unsafe partial class Nvrtc
{
    const string L = CudaLibraries.Nvrtc;

    [LibraryImport(L)] public static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(L)] public static partial int nvrtcCreateProgram(out nint prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(L)] public static partial int nvrtcCompileProgram(nint prog, int numOptions, byte** options);
    [LibraryImport(L)] public static partial int nvrtcGetProgramLogSize(nint prog, out nuint size);
    [LibraryImport(L)] public static partial int nvrtcGetProgramLog(nint prog, byte* log);
    [LibraryImport(L)] public static partial int nvrtcGetCUBINSize(nint prog, out nuint size);
    [LibraryImport(L)] public static partial int nvrtcGetCUBIN(nint prog, byte* cubin);
    [LibraryImport(L)] public static partial int nvrtcDestroyProgram(ref nint prog);
    [LibraryImport(L)] public static partial byte* nvrtcGetErrorString(int result);

    public static void Check(int result, string call)
    {
        if (result == 0) return;
        throw new CudaException($"{call} failed: {Marshal.PtrToStringUTF8((nint)nvrtcGetErrorString(result))} ({result})");
    }
}
