using Quanta.Cuda;
using Quanta.Model;
using Quanta.Quantization;

namespace Quanta.Cli.Commands;

/// <summary>Picks the quantization backend for --device auto|cpu|cuda.</summary>
internal static class QuantBackends
{
    public static QuantBackend Create(LlamaConfig config, string device, Action<string> log)
    {
        if (device is not ("auto" or "cpu" or "cuda"))
            throw new ArgumentException($"--device must be auto, cpu or cuda, not '{device}'");
        if (device != "cpu")
        {
            var why = CudaContext.Unavailable();
            if (why is null)
            {
                var b = new CudaQuantBackend(config);
                log($"quantize backend: {b.Device}");
                return b;
            }
            if (device == "cuda") throw new NotSupportedException($"--device cuda: {why}");
            log($"quantize backend: cpu (no CUDA: {why})");
            return new CpuQuantBackend(config);
        }
        log("quantize backend: cpu");
        return new CpuQuantBackend(config);
    }
}
