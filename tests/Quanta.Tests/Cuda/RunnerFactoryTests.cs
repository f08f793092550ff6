using Quanta.Cli.Commands;
using Quanta.Cpu;
using Quanta.Cuda;
using Quanta.IO;

namespace Quanta.Tests.Cuda;

/// <summary>Backend choice where there is no GPU (CI): auto falls back to the CPU and says why; cuda is a one-line error.</summary>
public class RunnerFactoryTests
{
    static string NoGpu()
    {
        var why = CudaContext.Unavailable();
        if (why is null) Assert.Skip("a CUDA GPU is present; these tests cover machines without one");
        return why;
    }

    [Fact]
    public void AutoFallsBackToCpuAndSaysWhy()
    {
        var why = NoGpu();
        using var model = ModelLoader.Load(TestPaths.DefaultModel);
        var log = new StringWriter();
        using var runner = RunnerFactory.Create(model, "auto", 16, 256, log);
        Assert.IsType<CpuModelRunner>(runner);
        Assert.Contains("no CUDA: " + why, log.ToString());
    }

    [Fact]
    public void CudaWithoutGpuIsOneLineError()
    {
        NoGpu();
        using var model = ModelLoader.Load(TestPaths.DefaultModel);
        var e = Assert.Throws<NotSupportedException>(() => RunnerFactory.Create(model, "cuda", 16, 256, TextWriter.Null));
        Assert.StartsWith("--device cuda: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("gpu", 16, 0.9)]
    [InlineData("cpu", 0, 0.9)]
    [InlineData("auto", 16, 1.5)]
    public void BadArgumentsAreRejected(string device, int blockSize, double fraction)
    {
        using var model = ModelLoader.Load(TestPaths.DefaultModel);
        Assert.Throws<ArgumentException>(() => RunnerFactory.Create(model, device, blockSize, 256, TextWriter.Null, null, fraction));
    }
}
