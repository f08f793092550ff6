using Quanta.Cuda;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cli.Commands;

/// <summary>Picks the quantization backend for --device auto|cpu|cuda.</summary>
internal static class QuantBackends
{
    public static QuantBackend Create(LlamaConfig config, string device, Action<string> log)
    {
        if (DeviceChoice.UseCuda(device, log, "quantize backend"))
        {
            var b = new CudaQuantBackend(config);
            log($"quantize backend: {b.Device}");
            return b;
        }
        if (device == "cpu") log("quantize backend: cpu");
        return new CpuQuantBackend(config);
    }
}
