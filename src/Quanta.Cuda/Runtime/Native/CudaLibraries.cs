using System.Reflection;
using System.Runtime.InteropServices;

namespace Quanta.Cuda.Native;

/// <summary>
/// Finds the CUDA driver, NVRTC and cuBLAS at run time: libcuda.so.1 from the loader path; NVRTC and
/// cuBLAS of CUDA 13 or 12 from CUDA_HOME, /usr/local/cuda or the loader path.
/// </summary>
internal static class CudaLibraries
{
    internal const string Driver = "quanta-cuda", Nvrtc = "quanta-nvrtc", Cublas = "quanta-cublas";
    static int _installed;

    static readonly Dictionary<string, string[]> Candidates = new()
    {
        [Driver] = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"],
        [Nvrtc] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", "nvrtc64_130_0.dll", "nvrtc64_120_0.dll"],
        [Cublas] = ["libcublas.so.13", "libcublas.so.12", "libcublas.so", "cublas64_13.dll", "cublas64_12.dll"],
    };

    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
    }

    static IEnumerable<string> Dirs()
    {
        foreach (var root in new[] { Environment.GetEnvironmentVariable("CUDA_HOME"), Environment.GetEnvironmentVariable("CUDA_PATH"), "/usr/local/cuda" })
        {
            if (string.IsNullOrEmpty(root)) continue;
            yield return Path.Combine(root, "lib64");
            yield return Path.Combine(root, "lib");
            yield return Path.Combine(root, "targets", "x86_64-linux", "lib");
        }
    }

    static nint Resolve(string name, Assembly asm, DllImportSearchPath? path)
    {
        if (!Candidates.TryGetValue(name, out var files)) return 0;
        foreach (var f in files)
        {
            if (name != Driver)
                foreach (var d in Dirs())
                {
                    var p = Path.Combine(d, f);
                    if (File.Exists(p) && NativeLibrary.TryLoad(p, out var h1)) return h1;
                }
            if (NativeLibrary.TryLoad(f, out var h)) return h;
        }
        return 0;
    }

    /// <summary>Loads <paramref name="lib"/> or returns why it cannot be found.</summary>
    public static string? Missing(string lib)
    {
        Install();
        if (Resolve(lib, typeof(CudaLibraries).Assembly, null) != 0) return null;
        return $"none of {string.Join(", ", Candidates[lib])} could be loaded (searched CUDA_HOME, /usr/local/cuda and the loader path)";
    }
}
