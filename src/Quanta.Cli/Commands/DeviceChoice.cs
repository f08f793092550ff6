using Quanta.Cuda;

namespace Quanta.Cli.Commands;

/// <summary>--device auto | cpu | cuda: whether a command runs on CUDA (auto falls back to the CPU and logs why).</summary>
internal static class DeviceChoice
{
    /// <param name="what">the log line's subject, e.g. "backend".</param>
    public static bool UseCuda(string device, Action<string> log, string what)
    {
        Check(device);
        if (device == "cpu") return false;
        if (CudaContext.Unavailable() is not { } why) return true;
        if (device == "cuda") throw new NotSupportedException($"--device cuda: {why}");
        log($"{what}: cpu (no CUDA: {why})");
        return false;
    }

    /// <exception cref="ArgumentException">not auto, cpu or cuda.</exception>
    public static void Check(string device)
    {
        if (device is not ("auto" or "cpu" or "cuda"))
            throw new ArgumentException($"--device must be auto, cpu or cuda, not '{device}'");
    }
}
