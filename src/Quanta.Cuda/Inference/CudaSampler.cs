using System.Runtime.InteropServices;
using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>
/// Chooses tokens from logits rows on the device (Kernels/sampling.cu): per-row parameters go up, ids and
/// logprobs come down. Buffers grow to the most rows asked for at once. Two steps may be outstanding (queued, not yet
/// collected): each uses its own page-locked buffers, in turn, and an event marks when its ids are on the host.
/// Rows with an allowed-token mask (constrained decoding) have their words written to mapped host memory with the
/// step's parameters; mask_rows reads them there and rules the other tokens out of the logits before the choice.
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
    readonly PinnedBuffer[] _hostParams = [new(), new()]; // [rows] RowParams on their way up, per turn
    readonly PinnedBuffer[] _hostOut = [new(), new()];    // [cap] i32 ids then [cap] f32 logprobs, written by the kernels, per turn
    readonly nint[] _done = new nint[2];                  // per turn: recorded after its ids were written to _hostOut
    readonly int[] _outCap = new int[2];                  // per turn: the rows _hostOut was laid out for (logprobs start there)
    readonly PinnedBuffer[] _hostMasks = [new(), new()];  // per turn: [rows] i32 mask slot (-1: free row), then [masked rows, words] u32 allowed tokens
    readonly Queue<(int Turn, int Cap)> _outstanding = new();
    int _turn, _cap;
    bool _sampled;   // some row of the last upload samples (not greedy)
    int _masked;     // rows of the last upload with a mask
    int _maskRows;   // rows of the last upload (in _hostMasks the masks' words start after their slots)
    ulong _parts;    // [_partsCap] greedy partials (16 bytes each) of greedy_rows or the lm_head kernel, used within one launch
    long _partsCap;
    ulong _counters; // [cap] i32 finished blocks per row of those kernels, zero between launches
    ulong _params;   // [cap] RowParams
    ulong _ids;      // [cap] i32, followed by
    ulong _logprobs; // [cap] f32

    /// <summary>Grows the buffers to <paramref name="rows"/> rows.</summary>
    public void Ensure(int rows)
    {
        if (rows <= _cap) return;
        mem.Free(_params); mem.Free(_ids); mem.Free(_counters);
        _cap = Math.Max(rows, 2 * _cap);
        _params = mem.Alloc(sizeof(RowParams) * (long)_cap, "sampling parameters");
        _counters = mem.Alloc(4L * _cap, "greedy counters");
        _ctx.ZeroAsync(_counters, 4L * _cap);
        _ids = mem.Alloc(8L * _cap, "sampled ids and logprobs");
        _logprobs = _ids + 4UL * (ulong)_cap;
    }

    /// <summary>Whether some row of the last upload samples (not greedy).</summary>
    public bool Sampled => _sampled;

    /// <summary>Whether every row of the last upload is greedy and free, so a kernel may fuse the choice (no logits row is kept to mask).</summary>
    public bool FusesGreedy => !_sampled && _masked == 0;

    /// <summary>Rows the buffers hold now.</summary>
    public int Capacity => _cap;

    /// <summary>Device address of the ids the last launches chose ([rows] i32).</summary>
    public ulong Ids => _ids;

    /// <summary>Where a step's row parameters wait: Ints i32 at Host (mapped host memory) for Device.</summary>
    public readonly record struct Staged(ulong Host, ulong Device, int Ints);

    /// <summary>
    /// Writes the parameters of every row of the next step to mapped host memory, for the step's stage kernel to copy
    /// (<see cref="Upload"/>: copy them now); the chosen ids will come back through mapped host memory too.
    /// </summary>
    /// <param name="vocab">width of the logits rows: a row's mask has ceil(vocab / 32) words.</param>
    public Staged Write(ReadOnlySpan<RowSampling> rows, int vocab)
    {
        if (rows.Length == 0) throw new ArgumentException("no rows to sample");
        if (_outstanding.Count >= 2) throw new InvalidOperationException("two steps are already outstanding");
        Ensure(rows.Length);
        _turn ^= 1;
        var host = _hostParams[_turn].Get<RowParams>(rows.Length);
        _hostOut[_turn].Get<int>(2 * _cap);
        _outCap[_turn] = _cap;
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
        WriteMasks(rows, vocab);
        return new Staged(_hostParams[_turn].Device, _params, rows.Length * sizeof(RowParams) / 4);
    }

    /// <summary>The parameters of every row of the next step, copied on the stream (call before the kernels that read them are queued).</summary>
    public void Upload(ReadOnlySpan<RowSampling> rows, int vocab)
    {
        Write(rows, vocab);
        _ctx.UploadAsync(_params, _hostParams[_turn].Pointer, sizeof(RowParams) * (long)rows.Length);
    }

    /// <summary>
    /// Queues the choice for <paramref name="rows"/> rows of <paramref name="logits"/> [rows, vocab] f32 with the uploaded
    /// parameters of rows first.. and writes ids/logprobs at those rows.
    /// </summary>
    public void Launch(ulong logits, int vocab, int first, int rows)
    {
        ulong p = _params + (ulong)(sizeof(RowParams) * first);
        var (ids, lps, hids, hlps) = Outputs(first);
        var r = _ctx.Kernels;
        if (_masked > 0) Mask(logits, vocab, first, rows);
        int splits = _sampled ? 1 : Math.Min(Math.Min(MaxSplits, 2 * _ctx.Multiprocessors / rows), vocab / 1024);
        if (splits >= 2)
        {
            ulong parts = Parts((long)rows * splits), counters = _counters;
            void** g = stackalloc void*[] { &logits, &vocab, &ids, &lps, &parts, &counters, &hids, &hlps };
            r.Launch(r.Function("greedy", "greedy_rows"), ((uint)splits, (uint)rows, 1), 256, 0, g, "greedy_rows");
            return;
        }
        nint fn = r.Function("sampling", "sample_rows");
        int cached = _sampled && 4 * vocab <= MaxCacheBytes && r.AllowSharedMemory(fn, 4 * vocab) ? 1 : 0;
        void** a = stackalloc void*[] { &logits, &vocab, &p, &ids, &lps, &cached, &hids, &hlps };
        r.Launch(fn, ((uint)rows, 1, 1), Threads, cached != 0 ? (uint)(4 * vocab) : 0, a, "sample_rows");
    }

    /// <summary>
    /// Where the lm_head kernel (<see cref="CudaLmHead"/>) writes the greedy choice of rows first.. of the last upload, with
    /// <paramref name="blocks"/> parts per row; null when some row samples: then <see cref="Launch"/>.
    /// </summary>
    public CudaLmHead.Greedy? FusedGreedy(int first, int rows, int blocks)
    {
        if (!FusesGreedy) return null;
        var (ids, lps, hids, hlps) = Outputs(first);
        return new CudaLmHead.Greedy(ids, lps, Parts((long)rows * blocks), _counters + 4UL * (ulong)first, hids, hlps);
    }

    /// <summary>Where rows first.. of the last upload go: ids and logprobs on the device (the next step may take the ids) and in this turn's mapped host buffer.</summary>
    (ulong Ids, ulong Logprobs, ulong HostIds, ulong HostLogprobs) Outputs(int first) =>
        (_ids + 4UL * (ulong)first, _logprobs + 4UL * (ulong)first,
         _hostOut[_turn].Device + 4UL * (ulong)first, _hostOut[_turn].Device + 4UL * (ulong)(_outCap[_turn] + first));

    /// <summary>The greedy partials buffer, grown to at least <paramref name="entries"/>.</summary>
    ulong Parts(long entries)
    {
        if (entries > _partsCap)
        {
            mem.Free(_parts);
            _partsCap = Math.Max(entries, 2 * _partsCap);
            _parts = mem.Alloc(16 * _partsCap, "greedy partials");
        }
        return _parts;
    }

    /// <summary>
    /// Most blocks a greedy row spreads over (greedy.cu) in batches of greedy rows where one block per row would leave the
    /// GPU idle; with fewer than two, sample_rows takes one block per row.
    /// </summary>
    const int MaxSplits = 32;

    /// <summary>Largest row (bytes) sampled rows keep in shared memory; above it (e.g. a 128K vocabulary) they read global memory at every step of the threshold searches.</summary>
    const int MaxCacheBytes = 192 * 1024;

    /// <summary>Queues the event that marks this step's ids and logprobs written to mapped host memory (after its launches).</summary>
    public void MarkDone()
    {
        if (_done[_turn] == 0) Native.Cu.Check(Native.Cu.cuEventCreate(out _done[_turn], 2), "cuEventCreate");   // CU_EVENT_DISABLE_TIMING
        Native.Cu.Check(Native.Cu.cuEventRecord(_done[_turn], _ctx.Stream), "cuEventRecord");
        _outstanding.Enqueue((_turn, _outCap[_turn]));
    }

    /// <summary>Waits for the oldest queued download and writes its first ids.Length ids and logprobs.</summary>
    public void Collect(Span<int> ids, Span<float> logprobs)
    {
        if (!_outstanding.TryDequeue(out var o)) throw new InvalidOperationException("no step is outstanding");
        int n = ids.Length;
        try { Native.Cu.Check(Native.Cu.cuEventSynchronize(_done[o.Turn]), "cuEventSynchronize"); }
        catch { _outstanding.Clear(); throw; }
        var host = _hostOut[o.Turn].Get<int>(2 * o.Cap);
        host[..n].CopyTo(ids);
        MemoryMarshal.Cast<int, float>(host.Slice(o.Cap, n)).CopyTo(logprobs);
    }

    /// <summary>Forgets the outstanding steps (after a failure).</summary>
    public void Reset() => _outstanding.Clear();

    /// <summary>Waits for this step's launches and writes the first ids.Length ids and logprobs.</summary>
    public void Download(Span<int> ids, Span<float> logprobs)
    {
        if (ids.Length == 0) { _ctx.Synchronize(); return; }
        MarkDone();
        Collect(ids, logprobs);
    }

    /// <summary>
    /// This turn's mask slots (one per row, -1 where free) and the masked rows' words, in mapped host memory. Free rows
    /// cost a slot each; a step with no mask launches nothing more.
    /// </summary>
    void WriteMasks(ReadOnlySpan<RowSampling> rows, int vocab)
    {
        int words = (vocab + 31) / 32, masked = 0;
        for (int i = 0; i < rows.Length; i++)
            if (!rows[i].Mask.IsEmpty)
            {
                if (rows[i].Mask.Length != words) throw new ArgumentException($"row {i}: a mask of {rows[i].Mask.Length} words for a vocabulary of {vocab} ({words} words)");
                masked++;
            }
        _masked = masked;
        if (masked == 0) return;
        var buf = _hostMasks[_turn];
        var all = buf.Get<uint>(rows.Length + masked * words);
        var slots = MemoryMarshal.Cast<uint, int>(all[..rows.Length]);
        for (int i = 0, slot = 0; i < rows.Length; i++)
        {
            if (rows[i].Mask.IsEmpty) { slots[i] = -1; continue; }
            rows[i].Mask.Span.CopyTo(all.Slice(rows.Length + slot * words, words));
            slots[i] = slot++;
        }
        _maskRows = rows.Length;
    }

    /// <summary>Queues mask_rows over rows first.. (<paramref name="rows"/> of them, at <paramref name="logits"/>): the tokens a row's mask rules out become -infinity.</summary>
    void Mask(ulong logits, int vocab, int first, int rows)
    {
        var r = _ctx.Kernels;
        nint fn = r.Function("sampling", "mask_rows");
        int bytes = 4 * ((vocab + 31) / 32);
        if (bytes > 48 * 1024 && !r.AllowSharedMemory(fn, bytes)) throw new NotSupportedException($"a vocabulary of {vocab} tokens: its mask does not fit in shared memory");
        ulong host = _hostMasks[_turn].Device, slots = host + 4UL * (ulong)first, masks = host + 4UL * (ulong)_maskRows;
        void** a = stackalloc void*[] { &logits, &vocab, &slots, &masks };
        r.Launch(fn, ((uint)rows, 1, 1), MaskThreads, (uint)bytes, a, "mask_rows");
    }

    const uint MaskThreads = 256;   // MASK_THREADS in sampling.cu

    public void Dispose()
    {
        foreach (var b in _hostParams) b.Dispose();
        foreach (var b in _hostOut) b.Dispose();
        foreach (var b in _hostMasks) b.Dispose();
        foreach (var e in _done) if (e != 0) Native.Cu.cuEventDestroy(e);
    }

    /// <summary>Samples <paramref name="rows"/>.Length rows of <paramref name="logits"/> [rows, vocab] f32 in one call (tests, tools).</summary>
    public void Sample(ulong logits, int vocab, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs)
    {
        Upload(rows, vocab);
        Launch(logits, vocab, 0, rows.Length);
        Download(ids[..rows.Length], logprobs[..rows.Length]);
    }
}
