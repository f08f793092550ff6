namespace Quanta.Tests;

public class SmokeTests
{
    [Fact]
    public void DefaultModelShipsWithLicence()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "models", "stories260K");
        Assert.True(File.Exists(Path.Combine(dir, "stories260K.bin")), dir);
        Assert.True(File.Exists(Path.Combine(dir, "LICENSE.llama2.c")));
    }
}
