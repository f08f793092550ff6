using Quanta.Model;

namespace Quanta.Cuda;

/// <summary>
/// The kernels of one decoder layer's steps in one precision, over the rows one <see cref="CudaLayer.Forward"/> runs:
/// the runner's f16 steps (<see cref="F16Layer"/>) and the quantizer's fp32 calibration steps (<see cref="Fp32Layer"/>).
/// </summary>
internal interface ICudaLayerOps
{
    /// <summary>The input of q/k/v = rmsnorm(x) · attention norm (a fused q/k/v kernel may do it itself).</summary>
    void AttnNorm();
    /// <summary>q, k, v = the attention input · Wq, Wk, Wv.</summary>
    void Qkv();
    /// <summary>RoPE on q and k (the runner also writes K/V into its cache here, unless its attention kernel does).</summary>
    void RopeKv();
    /// <summary>Causal attention of each sequence's queries: the input of o_proj.</summary>
    void Attention();
    /// <summary>The residual stream += the attention output · Wo.</summary>
    void OProj();
    /// <summary>The input of gate/up = rmsnorm(residual) · FFN norm.</summary>
    void FfnNorm();
    /// <summary>The input of down_proj = silu(input · WGate) * (input · WUp).</summary>
    void GateUpSilu();
    /// <summary>The residual stream += the gate/up output · WDown.</summary>
    void DownProj();
    /// <summary>The input of the linears at <paramref name="at"/> is ready: the calibration adds it to that input's Hessian.</summary>
    void Capture(LinearInput at);
    /// <summary>The phase named <paramref name="phase"/> is queued (the runner's profiling).</summary>
    void Mark(string phase);
}

/// <summary>
/// One Llama decoder layer on the GPU, written once for every precision: x += Wo · attention(RoPE(Wq · norm(x)), ...), then
/// x += WDown · (silu(WGate · norm(x)) * WUp · norm(x)). The inference runner runs it with its f16 steps over the paged
/// KV cache; the quantizer's calibration forward runs it with fp32 steps and a capture at each linear input.
/// </summary>
internal static class CudaLayer
{
    /// <summary>
    /// Runs the layer with <paramref name="ops"/>' kernels; with <paramref name="stopAfter"/> the layer ends once that input
    /// is captured. A struct <typeparamref name="TOps"/> (the runner's) is called without virtual dispatch.
    /// </summary>
    public static void Forward<TOps>(TOps ops, LinearInput? stopAfter = null) where TOps : ICudaLayerOps
    {
        ops.AttnNorm();
        ops.Mark(ProfilePhase.Norm);
        if (Captured(ref ops, LinearInput.Attn, stopAfter)) return;
        ops.Qkv();
        ops.Mark(ProfilePhase.Qkv);
        ops.RopeKv();
        ops.Mark(ProfilePhase.RopeKv);
        ops.Attention();
        ops.Mark(ProfilePhase.Attention);
        if (Captured(ref ops, LinearInput.O, stopAfter)) return;
        ops.OProj();
        ops.Mark(ProfilePhase.O);
        ops.FfnNorm();
        ops.Mark(ProfilePhase.Norm);
        if (Captured(ref ops, LinearInput.Mlp, stopAfter)) return;
        ops.GateUpSilu();
        ops.Mark(ProfilePhase.GateUpSilu);
        if (Captured(ref ops, LinearInput.Down, stopAfter)) return;
        ops.DownProj();
        ops.Mark(ProfilePhase.Down);
    }

    /// <summary>Shows the input at <paramref name="at"/> to the capture; whether the layer stops here.</summary>
    static bool Captured<TOps>(ref TOps ops, LinearInput at, LinearInput? stopAfter) where TOps : ICudaLayerOps
    {
        ops.Capture(at);
        return stopAfter == at;
    }
}
