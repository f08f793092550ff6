namespace Quanta.Cpu;

/// <summary>A job split into index ranges; one object reused across steps so dispatch allocates nothing.</summary>
internal interface IRangeJob
{
    void Run(int start, int end, int worker);
}

/// <summary>
/// Persistent worker threads for the forward pass. The calling thread takes part as worker 0;
/// work is handed out in chunks through an atomic counter. Small jobs run inline on the caller.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    readonly Thread[] _threads;
    readonly ScratchBuffer[] _scratch;
    readonly ManualResetEventSlim _start = new(false);
    readonly ManualResetEventSlim _done = new(false);
    IRangeJob? _job;
    int _count, _chunk, _next, _active;
    volatile bool _stop;
    long _generation;

    public WorkerPool(int threads)
    {
        Threads = Math.Max(1, threads);
        _scratch = [.. Enumerable.Range(0, Threads).Select(_ => new ScratchBuffer())];
        _threads = new Thread[Threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int id = i + 1;
            _threads[i] = new Thread(() => Loop(id)) { IsBackground = true, Name = $"quanta-cpu-{id}" };
            _threads[i].Start();
        }
    }

    public int Threads { get; }

    /// <summary>A scratch buffer private to one worker (0 = the calling thread).</summary>
    public ScratchBuffer Scratch(int worker) => _scratch[worker];

    /// <summary>Runs job over [0, count) in chunks of <paramref name="chunk"/>; inline when one chunk or one thread.</summary>
    public void Run(IRangeJob job, int count, int chunk)
    {
        if (count <= 0) return;
        chunk = Math.Max(1, chunk);
        if (_threads.Length == 0 || count <= chunk) { job.Run(0, count, 0); return; }
        _job = job; _count = count; _chunk = chunk; _next = 0;
        _active = _threads.Length;
        _done.Reset();
        Interlocked.Increment(ref _generation);
        _start.Set();
        Work(0);
        _done.Wait();
        _start.Reset();
        _job = null;
    }

    void Loop(int id)
    {
        long seen = 0;
        while (true)
        {
            _start.Wait();
            if (_stop) return;
            long gen = Interlocked.Read(ref _generation);
            if (gen == seen) { Thread.Yield(); continue; }
            seen = gen;
            Work(id);
            if (Interlocked.Decrement(ref _active) == 0) _done.Set();
        }
    }

    void Work(int id)
    {
        var job = _job!;
        while (true)
        {
            int s = Interlocked.Add(ref _next, _chunk) - _chunk;
            if (s >= _count) return;
            job.Run(s, Math.Min(_count, s + _chunk), id);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _start.Set();
        foreach (var t in _threads) t.Join();
        _start.Dispose();
        _done.Dispose();
    }
}
