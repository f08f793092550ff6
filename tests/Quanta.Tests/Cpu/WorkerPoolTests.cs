using Quanta.Cpu;

namespace Quanta.Tests.Cpu;

public class WorkerPoolTests
{
    sealed class CountJob(int n) : IRangeJob
    {
        public readonly int[] Hits = new int[n];
        public void Run(int start, int end, int worker)
        {
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Fact]
    public void EveryIndexRunsExactlyOnceAcrossManyDispatches()
    {
        using var pool = new WorkerPool(3);
        for (int round = 0; round < 500; round++)
        {
            int n = 1 + round % 97;
            var job = new CountJob(n);
            pool.Run(job, n, 1 + round % 7);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
        }
    }
}
