using System.Runtime.InteropServices;
using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>
/// Chooses tokens from logits rows on the device (Kernels/sampling.cu): per-row parameters go up, ids and
/// logprobs come down. Buffers grow to the most rows asked for at once.
/// </summary>
internal sealed unsafe class CudaSampler(DeviceArena mem) : IDisposable
{
    const uint Threads = 1024;   // SAMPLE_THREADS in sampling.cu

    /// <summary>One row's parameters as sampling.cu's RowParams (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RowParams
    {
        public float Temperature;
        public int TopK;
        public float TopP;
        public int Greedy;
        public double U;
    }

    readonly CudaContext _ctx = mem.Ctx;
    readonly PinnedBuffer _hostParams = new(); // [rows] RowParams on their way up
    readonly PinnedBuffer _hostOut = new();    // [cap] i32 ids then [cap] f32 logprobs on their way down
    int _cap;
    bool _sampled;   // some row of the last upload samples (not greedy)
    int _cacheAllowed = 48 * 1024;   // dynamic shared memory sample_rows may take so far (0: the GPU refused more)
    ulong _params;   // [cap] RowParams
    ulong _ids;      // [cap] i32, followed by
    ulong _logprobs; // [cap] f32

    /// <summary>Grows the buffers to <paramref name="rows"/> rows.</summary>
    public void Ensure(int rows)
    {
        if (rows <= _cap) return;
        mem.Free(_params); mem.Free(_ids);
        _cap = Math.Max(rows, 2 * _cap);
        _params = mem.Alloc(sizeof(RowParams) * (long)_cap, "sampling parameters");
        _ids = mem.Alloc(8L * _cap, "sampled ids and logprobs");
        _logprobs = _ids + 4UL * (ulong)_cap;
    }

    /// <summary>Uploads the parameters of every row (call before the kernels that read them are queued).</summary>
    public void Upload(ReadOnlySpan<RowSampling> rows)
    {
        if (rows.Length == 0) return;
        Ensure(rows.Length);
        var host = _hostParams.Get<RowParams>(rows.Length);
        _sampled = false;
        for (int i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if (!r.Greedy && !(r.Temperature > 0f)) throw new ArgumentException($"row {i}: temperature {r.Temperature} must be > 0");
            if (!r.Greedy && !(r.U >= 0 && r.U < 1)) throw new ArgumentException($"row {i}: uniform {r.U} outside [0, 1)");
            host[i] = new RowParams { Temperature = r.Greedy ? 1f : r.Temperature, TopK = r.Greedy ? 0 : Math.Max(0, r.TopK),
                                       TopP = r.Greedy ? 1f : r.TopP, Greedy = r.Greedy ? 1 : 0, U = r.U };
            _sampled |= !r.Greedy;
        }
        _ctx.UploadAsync(_params, _hostParams.Pointer, sizeof(RowParams) * (long)rows.Length);
    }

    /// <summary>
    /// Queues the choice for <paramref name="rows"/> rows of <paramref name="logits"/> [rows, vocab] f32 with the uploaded
    /// parameters of rows first.. and writes ids/logprobs at those rows.
    /// </summary>
    public void Launch(ulong logits, int vocab, int first, int rows)
    {
        ulong p = _params + (ulong)(sizeof(RowParams) * first), ids = _ids + 4UL * (ulong)first, lps = _logprobs + 4UL * (ulong)first;
        var r = _ctx.Kernels;
        nint fn = r.Function("sampling", "sample_rows");
        int cached = _sampled && Cache(fn, 4 * vocab) ? 1 : 0;
        void** a = stackalloc void*[] { &logits, &vocab, &p, &ids, &lps, &cached };
        r.Launch(fn, ((uint)rows, 1, 1), Threads, cached != 0 ? (uint)(4 * vocab) : 0, a, "sample_rows");
    }

    /// <summary>Largest row (bytes) sampled rows keep in shared memory; above it (e.g. a 128K vocabulary) they read global memory at every step of the threshold searches.</summary>
    const int MaxCacheBytes = 192 * 1024;

    /// <summary>Whether sample_rows can keep a row of <paramref name="bytes"/> in dynamic shared memory (raising its limit once where needed).</summary>
    bool Cache(nint fn, int bytes)
    {
        if (bytes > MaxCacheBytes || _cacheAllowed == 0) return false;
        if (bytes <= _cacheAllowed) return true;
        if (Native.Cu.cuFuncSetAttribute(fn, 8, bytes) != 0) { _cacheAllowed = 0; return false; }   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        _cacheAllowed = bytes;
        return true;
    }

    /// <summary>Downloads the first ids.Length ids and logprobs in one copy on the stream, then waits for it.</summary>
    public void Download(Span<int> ids, Span<float> logprobs)
    {
        int n = ids.Length;
        if (n == 0) { _ctx.Synchronize(); return; }
        var host = _hostOut.Get<int>(2 * _cap);
        _ctx.DownloadAsync(_hostOut.Pointer, _ids, 8L * _cap);
        _ctx.Synchronize();
        host[..n].CopyTo(ids);
        MemoryMarshal.Cast<int, float>(host.Slice(_cap, n)).CopyTo(logprobs);
    }

    public void Dispose()
    {
        _hostParams.Dispose();
        _hostOut.Dispose();
    }

    /// <summary>Samples <paramref name="rows"/>.Length rows of <paramref name="logits"/> [rows, vocab] f32 in one call (tests, tools).</summary>
    public void Sample(ulong logits, int vocab, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs)
    {
        Upload(rows);
        Launch(logits, vocab, 0, rows.Length);
        Download(ids[..rows.Length], logprobs[..rows.Length]);
    }
}
