namespace Quanta.Cuda;

/// <summary>Typed launchers, one per kernel, mirroring the .cu signatures (device pointers as ulong).</summary>
internal sealed unsafe partial class Kernels(CudaContext ctx)
{
    readonly KernelRegistry _r = ctx.Kernels;
    readonly int _sms = ctx.Multiprocessors;
    const uint Threads = 256;

    static uint Blocks(long n, uint threads) => (uint)Math.Min((n + threads - 1) / threads, 65535L * 16);

    void Go(string module, string name, (uint, uint, uint) grid, uint block, void** args, uint smem = 0)
        => _r.Launch(_r.Function(module, name), grid, block, smem, args, name);

    /// <summary>
    /// A step's inputs from mapped host memory: x [tokens, n] f32 = table [vocab, n] f16 rows of the ids (fed from prev where
    /// feedAt &gt; 0 says), meta [count] i32 = host [count], params [np] i32 = hostParams [np] (see elementwise.cu).
    /// </summary>
    /// <remarks>With <paramref name="node"/> (an instantiated decode graph's first node): sets that node's arguments instead of launching.</remarks>
    public void StageEmbed(ulong host, ulong meta, int count, int tokens, int feedAt, ulong prev, ulong table, ulong x, int n,
                           ulong hostParams, ulong parms, int np, (nint Exec, nint Node) node = default)
    {
        void** a = stackalloc void*[] { &host, &meta, &count, &tokens, &feedAt, &prev, &table, &x, &n, &hostParams, &parms, &np };
        uint copy = (uint)Math.Clamp((count + np + Threads - 1) / Threads, 1, 64);
        if (node.Exec == 0) Go("elementwise", "stage_embed", ((uint)tokens + copy, 1, 1), Threads, a);
        else _r.SetKernelNode(node, _r.Function("elementwise", "stage_embed"), ((uint)tokens + copy, 1, 1), Threads, 0, a, "stage_embed");
    }

    /// <summary>out = rmsnorm(x) * w. x [rows, n] f32, w [n] f32, out [rows, n] f16.</summary>
    public void RmsNorm(ulong x, ulong w, ulong output, int n, float eps, int rows)
    {
        void** a = stackalloc void*[] { &x, &w, &output, &n, &eps };
        Go("elementwise", "rmsnorm", ((uint)rows, 1, 1), 1024, a);
    }

    /// <summary>dst[r, :] = src[idx[r], :]; f16 rows of n.</summary>
    public void GatherRows(ulong src, ulong idx, ulong dst, int n, int rows)
    {
        void** a = stackalloc void*[] { &src, &idx, &dst, &n };
        Go("elementwise", "gather_rows", ((uint)rows, 1, 1), Threads, a);
    }

    /// <summary>out [rows, n] f16 = silu(g) * u; g, u rows of stride ld f32 (chunk 8: columns in alternating runs of 8, u = g + 8 floats).</summary>
    public void SiluMul(ulong g, ulong u, ulong output, int n, int ld, int rows, int chunk = 0)
    {
        void** a = stackalloc void*[] { &g, &u, &output, &n, &ld, &chunk };
        Go("elementwise", "silu_mul", (Blocks(n, Threads), (uint)rows, 1), Threads, a);
    }

    /// <summary>RoPE on q [T, H*D] f32 -> qh f16 and k; K/V [T, KH*D] f32 into the layer's caches [slots, KH*D] f16.</summary>
    /// <remarks>q, k, v rows have stride ld floats; kh, vh (0 = none): contiguous [T, KH*D] f16 copies of the rotated K and of V.</remarks>
    public void RopeKv(ulong q, ulong k, ulong v, ulong qh, ulong kc, ulong vc, ulong pos, ulong slot, ulong invFreq,
        int heads, int kvHeads, int headDim, int style, int tokens, int ld, ulong kh = 0, ulong vh = 0)
    {
        void** a = stackalloc void*[] { &q, &k, &v, &qh, &kc, &vc, &pos, &slot, &invFreq, &heads, &kvHeads, &headDim, &style, &kh, &vh, &ld };
        Go("elementwise", "rope_kv", ((uint)tokens, (uint)(heads + kvHeads), 1), 64, a);
    }

    /// <summary>P [H, L, L] f16 = causal row softmax of S [H, L, L] f32.</summary>
    public void CausalSoftmax(ulong s, ulong p, int len, int heads)
    {
        void** a = stackalloc void*[] { &s, &p, &len };
        Go("elementwise", "causal_softmax", ((uint)len, (uint)heads, 1), Threads, a);
    }

    /// <summary>y[r, i] = x[r, map[i]], 0 where map[i] &lt; 0; x [rows, nin] f16, y [rows, nout] f16, map [nout] i32.</summary>
    public void GatherCols(ulong x, ulong map, ulong y, int nout, int nin, int rows)
    {
        void** a = stackalloc void*[] { &x, &map, &y, &nout, &nin };
        Go("elementwise", "gather_cols", (Blocks(nout, Threads), (uint)rows, 1), Threads, a);
    }
}
