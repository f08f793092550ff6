using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>
/// Compiles the embedded Kernels/*.cu modules with NVRTC for the GPU's own architecture on first
/// use and caches each cubin on disk, keyed by the source (with headers), options, arch and NVRTC version.
/// </summary>
internal sealed unsafe class KernelRegistry(CudaContext ctx)
{
    readonly ConcurrentDictionary<string, nint> _modules = new();
    readonly ConcurrentDictionary<(string, string), nint> _functions = new();
    // Per function: the dynamic shared memory its launches may take so far, and the least the GPU refused (0: none).
    readonly ConcurrentDictionary<nint, (int Allowed, int Refused)> _sharedLimits = new();

    /// <summary>
    /// Whether launches of <paramref name="fn"/> may take <paramref name="bytes"/> of dynamic shared memory, raising the
    /// function's limit once where needed (above the 48 KiB every function gets); false when the GPU refuses that much.
    /// </summary>
    public bool AllowSharedMemory(nint fn, int bytes)
    {
        var (allowed, refused) = _sharedLimits.GetValueOrDefault(fn, (48 * 1024, 0));
        if (bytes <= allowed) return true;
        if (refused > 0 && bytes >= refused) return false;
        bool ok = Cu.cuFuncSetAttribute(fn, 8, bytes) == 0;   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        _sharedLimits[fn] = ok ? (bytes, refused) : (allowed, bytes);
        return ok;
    }

    /// <summary>Where cubins are cached: QUANTA_KERNEL_CACHE, else ~/.cache/quanta/kernels.</summary>
    public static string CacheDir => Environment.GetEnvironmentVariable("QUANTA_KERNEL_CACHE") is { Length: > 0 } d ? d
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "quanta", "kernels");

    /// <summary>Names of the embedded modules (file names without .cu).</summary>
    public static IEnumerable<string> ModuleNames => Assembly.GetExecutingAssembly().GetManifestResourceNames()
        .Where(n => n.StartsWith(Prefix) && n.EndsWith(".cu")).Select(n => n[Prefix.Length..^3]);

    const string Prefix = "Quanta.Cuda.Kernels.";

    public nint Function(string module, string name) => _functions.GetOrAdd((module, name), k =>
    {
        nint m = _modules.GetOrAdd(k.Item1, Load);
        return GetFunction(m, Encoding.ASCII.GetBytes(k.Item2 + "\0"), k.Item1, k.Item2);
    });

    static nint GetFunction(nint m, byte[] name, string module, string fnName)
    {
        nint fn;
        fixed (byte* p = name) Cu.Check(Cu.cuModuleGetFunction(out fn, m, p), $"cuModuleGetFunction({module}.cu: {fnName})");
        return fn;
    }

    static string Resource(string file)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(Prefix + file)
            ?? throw new InvalidOperationException($"kernel source {file} is not embedded");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    static string[] Headers => [.. Assembly.GetExecutingAssembly().GetManifestResourceNames()
        .Where(n => n.StartsWith(Prefix) && n.EndsWith(".cuh")).Select(n => n[Prefix.Length..]).Order()];

    /// <summary>
    /// NVRTC options: the GPU's arch (with <paramref name="archSpecific"/>, its arch-specific target such as sm_90a, whose
    /// code runs on that compute capability only), C++17, then any of QUANTA_NVRTC_OPTIONS (space-separated; e.g. -lineinfo).
    /// </summary>
    string[] Options(bool archSpecific = false) => [$"--gpu-architecture=sm_{ctx.Arch}{(archSpecific ? "a" : "")}", "-std=c++17",
        .. (Environment.GetEnvironmentVariable("QUANTA_NVRTC_OPTIONS") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>
    /// A kernel of a module given as source rather than embedded (developer kernels under dev/kernels, which the product never
    /// runs), compiled and cached as the embedded ones are; it may include the embedded headers.
    /// </summary>
    public nint FunctionFromSource(string module, string source, string name, bool archSpecific) => _functions.GetOrAdd(("source:" + module, name), k =>
    {
        nint m = _modules.GetOrAdd(k.Item1, _ => Load(module, source, archSpecific));
        return GetFunction(m, Encoding.ASCII.GetBytes(name + "\0"), module, name);
    });

    /// <summary>The GPU's compute capability as NVRTC names it (90 for sm_90).</summary>
    public int Arch => ctx.Arch;

    /// <summary>Whether this GPU runs sm_90a code (compute capability 9.0), for which <see cref="Sm90aModules"/> are compiled.</summary>
    public bool Sm90a => ctx.Arch == 90;

    /// <summary>
    /// Embedded modules compiled for the arch-specific target on compute capability 9.0 (sm_90a: wgmma), their kernels empty
    /// elsewhere; the planners take them on that GPU only (<see cref="Kernels.Wgmma"/>).
    /// </summary>
    static readonly string[] Sm90aModules = ["gptq_wgmma"];

    nint Load(string module) => Load(module, Resource(module + ".cu"), Sm90a && Sm90aModules.Contains(module));

    nint Load(string module, string src, bool archSpecific)
    {
        var headers = Headers;
        Nvrtc.Check(Nvrtc.nvrtcVersion(out int vmaj, out int vmin), "nvrtcVersion");
        var key = new StringBuilder().Append(src);
        foreach (var h in headers) key.Append('\0').Append(h).Append('\0').Append(Resource(h));
        key.Append('\0').AppendJoin(' ', Options(archSpecific)).Append($"\0nvrtc {vmaj}.{vmin}");
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..24];
        var cachePath = Path.Combine(CacheDir, $"{module}-sm{ctx.Arch}-{hash}.cubin");
        byte[]? cubin = File.Exists(cachePath) ? File.ReadAllBytes(cachePath) : null;
        if (cubin is null)
        {
            cubin = Compile(module, src, headers, archSpecific);
            try
            {
                Directory.CreateDirectory(CacheDir);
                var tmp = cachePath + "." + Environment.ProcessId + ".tmp";
                File.WriteAllBytes(tmp, cubin);
                File.Move(tmp, cachePath, true);
            }
            catch (IOException) { }            // a cache we cannot write only costs a recompile
            catch (UnauthorizedAccessException) { }
        }
        nint m;
        fixed (byte* p = cubin) Cu.Check(Cu.cuModuleLoadData(out m, p), $"cuModuleLoadData({module}.cu)");
        return m;
    }

    /// <summary>Compiles one module; a compile error carries NVRTC's log.</summary>
    public byte[] Compile(string module, string src, string[] headers, bool archSpecific = false)
    {
        var ptrs = new List<nint>();
        byte* Str(string s) { var p = Marshal.StringToCoTaskMemUTF8(s); ptrs.Add(p); return (byte*)p; }
        try
        {
            byte** hsrc = stackalloc byte*[Math.Max(1, headers.Length)];
            byte** hname = stackalloc byte*[Math.Max(1, headers.Length)];
            for (int i = 0; i < headers.Length; i++) { hsrc[i] = Str(Resource(headers[i])); hname[i] = Str(headers[i]); }
            Nvrtc.Check(Nvrtc.nvrtcCreateProgram(out var prog, Str(src), Str(module + ".cu"), headers.Length, hsrc, hname), "nvrtcCreateProgram");
            try
            {
                var opts = Options(archSpecific);
                byte** o = stackalloc byte*[opts.Length];
                for (int i = 0; i < opts.Length; i++) o[i] = Str(opts[i]);
                int r = Nvrtc.nvrtcCompileProgram(prog, opts.Length, o);
                if (r != 0) throw new CudaException($"NVRTC could not compile {module}.cu: {Log(prog)}");
                Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(prog, out var size), "nvrtcGetCUBINSize");
                var cubin = new byte[(int)size];
                fixed (byte* c = cubin) Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(prog, c), "nvrtcGetCUBIN");
                return cubin;
            }
            finally { Nvrtc.nvrtcDestroyProgram(ref prog); }
        }
        finally { foreach (var p in ptrs) Marshal.FreeCoTaskMem(p); }
    }

    static string Log(nint prog)
    {
        Nvrtc.nvrtcGetProgramLogSize(prog, out var n);
        var buf = new byte[(int)n + 1];
        fixed (byte* b = buf) Nvrtc.nvrtcGetProgramLog(prog, b);
        return Encoding.UTF8.GetString(buf).TrimEnd('\0', '\n');
    }

    /// <summary>Compiles every embedded module now (a test and the bench use it to surface compile errors early).</summary>
    public void LoadAll() { foreach (var m in ModuleNames) _modules.GetOrAdd(m, Load); }

    /// <summary>
    /// Programmatic dependent launch (sm_90+, QUANTA_PDL=0 turns it off): each kernel may be scheduled while the
    /// previous one drains; every kernel waits (griddepcontrol.wait, see common.cuh) before it touches memory.
    /// </summary>
    public bool Pdl { get; } = ctx.Arch >= 90 && Environment.GetEnvironmentVariable("QUANTA_PDL") != "0";

    /// <summary>Gives the kernel node <paramref name="node"/> of an instantiated graph new arguments and grid (same function) for its next launches.</summary>
    public void SetKernelNode((nint Exec, nint Node) at, nint fn, (uint X, uint Y, uint Z) grid, uint block, uint sharedBytes, void** args, string name)
    {
        var p = new Cu.KernelNodeParams
        {
            Func = fn, GridX = grid.X, GridY = grid.Y, GridZ = grid.Z, BlockX = block, BlockY = 1, BlockZ = 1,
            SharedBytes = sharedBytes, KernelParams = args,
        };
        Cu.Check(Cu.cuGraphExecKernelNodeSetParams_v2(at.Exec, at.Node, &p), "cuGraphExecKernelNodeSetParams(" + name + ")");
    }

    /// <summary>Launches <paramref name="fn"/> on the context's stream and checks the launch.</summary>
    public void Launch(nint fn, (uint X, uint Y, uint Z) grid, uint block, uint sharedBytes, void** args, string name)
    {
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0) return;
        if (!Pdl)
        {
            Cu.Check(Cu.cuLaunchKernel(fn, grid.X, grid.Y, grid.Z, block, 1, 1, sharedBytes, ctx.Stream, args, null), "cuLaunchKernel(" + name + ")");
            return;
        }
        var attr = new Cu.LaunchAttribute { Id = Cu.AttrProgrammaticSerialization, Value = 1 };
        var cfg = new Cu.LaunchConfig
        {
            GridX = grid.X, GridY = grid.Y, GridZ = grid.Z, BlockX = block, BlockY = 1, BlockZ = 1,
            SharedBytes = sharedBytes, Stream = ctx.Stream, Attrs = &attr, NumAttrs = 1,
        };
        Cu.Check(Cu.cuLaunchKernelEx(&cfg, fn, args, null), "cuLaunchKernelEx(" + name + ")");
    }
}
