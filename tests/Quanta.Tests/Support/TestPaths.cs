namespace Quanta.Tests;

// Shared by Quanta.Cuda.Tests (linked file).

/// <summary>Locates the repository and ../shared; tests that need shared data skip when it is absent.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The shared/ folder beside the repository (read-only fixtures), or null.</summary>
    public static string? Shared
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("QUANTA_SHARED");
            if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
            var p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(p) ? p : null;
        }
    }

    /// <summary>Path under shared/; skips the calling test with a clear message when missing.</summary>
    public static string SharedPath(params string[] parts)
    {
        var shared = Shared;
        if (shared is null) Assert.Skip("../shared is not present beside the repository (set QUANTA_SHARED)");
        var p = Path.Combine([shared, .. parts]);
        if (!File.Exists(p) && !Directory.Exists(p)) Assert.Skip($"shared data missing: {p}");
        return p;
    }

    public static string Fixture(string name) => SharedPath("fixtures", name);

    /// <summary>The built-in default model shipped in the repository.</summary>
    public static string DefaultModel => Path.Combine(RepoRoot, "models", "stories260K");

    static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Quanta.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Quanta.slnx not found above " + AppContext.BaseDirectory);
    }
}
