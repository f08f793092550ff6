using Quanta.Cuda.Native;

namespace Quanta.Cuda;

/// <summary>Device time of work queued on a context's stream, measured with CUDA events (no host launch gaps counted).</summary>
public static class DeviceTimer
{
    /// <summary>Milliseconds between the start and the end of what <paramref name="work"/> queues on the stream.</summary>
    public static float Milliseconds(CudaContext ctx, Action work)
    {
        Cu.Check(Cu.cuEventCreate(out var e0, 0), "cuEventCreate");
        Cu.Check(Cu.cuEventCreate(out var e1, 0), "cuEventCreate");
        try
        {
            Cu.Check(Cu.cuEventRecord(e0, ctx.Stream), "cuEventRecord");
            work();
            Cu.Check(Cu.cuEventRecord(e1, ctx.Stream), "cuEventRecord");
            Cu.Check(Cu.cuEventSynchronize(e1), "cuEventSynchronize");
            Cu.Check(Cu.cuEventElapsedTime(out float ms, e0, e1), "cuEventElapsedTime");
            return ms;
        }
        finally { Cu.cuEventDestroy(e0); Cu.cuEventDestroy(e1); }
    }

    /// <summary>
    /// Device microseconds per call: <paramref name="calls"/> calls of <paramref name="call"/> captured in one CUDA graph,
    /// the median of 5 replays after a warm-up one (back-to-back kernels, as in a decode step's graph).
    /// </summary>
    public static double GraphMicroseconds(CudaContext ctx, Action call, int calls)
    {
        Cu.Check(Cu.cuStreamBeginCapture_v2(ctx.Stream, 2), "cuStreamBeginCapture");
        for (int i = 0; i < calls; i++) call();
        Cu.Check(Cu.cuStreamEndCapture(ctx.Stream, out var graph), "cuStreamEndCapture");
        Cu.Check(Cu.cuGraphInstantiateWithFlags(out var exec, graph, 0), "cuGraphInstantiateWithFlags");
        Cu.cuGraphDestroy(graph);
        try
        {
            var ms = new List<float>();
            for (int rep = 0; rep < 6; rep++)
            {
                float t = Milliseconds(ctx, () => Cu.Check(Cu.cuGraphLaunch(exec, ctx.Stream), "cuGraphLaunch"));
                if (rep > 0) ms.Add(t);
            }
            ms.Sort();
            return ms[ms.Count / 2] * 1e3 / calls;
        }
        finally { Cu.cuGraphExecDestroy(exec); }
    }
}
