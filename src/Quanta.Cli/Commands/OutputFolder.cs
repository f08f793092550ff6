namespace Quanta.Cli.Commands;

/// <summary>Checks a folder a command will write, before the command does any long work.</summary>
internal static class OutputFolder
{
    /// <summary>
    /// <paramref name="path"/> must be an absent or empty folder (or any folder with <paramref name="overwrite"/>)
    /// inside a folder this process can write to. Nothing is created; a probe file is written and deleted.
    /// </summary>
    /// <returns>The full path.</returns>
    /// <exception cref="ArgumentException">the path is a file, a non-empty folder, or not writable (names the flag).</exception>
    public static string Check(string path, string flag, bool overwrite)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new ArgumentException($"{flag} {path}: is a file; give a folder that is absent or empty");
        if (Directory.Exists(full))
        {
            if (!overwrite && Directory.EnumerateFileSystemEntries(full).Any())
                throw new ArgumentException($"{flag} {path}: the folder is not empty (pass --overwrite to write into it)");
            Probe(full, path, flag);
            return full;
        }
        // The nearest folder that exists is where the new one will be created.
        var parent = Path.GetDirectoryName(full);
        while (parent is not null && !Directory.Exists(parent))
        {
            if (File.Exists(parent)) throw new ArgumentException($"{flag} {path}: {parent} is a file, not a folder");
            parent = Path.GetDirectoryName(parent);
        }
        if (parent is null) throw new ArgumentException($"{flag} {path}: no existing folder above it");
        Probe(parent, path, flag);
        return full;
    }

    static void Probe(string dir, string path, string flag)
    {
        string probe = Path.Combine(dir, $".quanta-write-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new ArgumentException($"{flag} {path}: cannot write in {dir} ({e.Message})");
        }
    }
}
