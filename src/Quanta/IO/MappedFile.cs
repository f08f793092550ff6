using System.IO.MemoryMappedFiles;

namespace Quanta.IO;

/// <summary>A whole file mapped read-only, with its base address pinned until disposed.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    bool _disposed;

    public nint Base { get; }
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/> (which must be non-empty).</summary>
    public MappedFile(string path)
    {
        Length = new FileInfo(path).Length;
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            Base = (nint)(p + _view.PointerOffset);
        }
        catch { _view?.Dispose(); _map.Dispose(); throw; }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
