using Quanta.Engine;

namespace Quanta.Cuda;

/// <summary>How the CUDA runner sizes its activations and KV cache and runs its steps; built once by the caller and passed in.</summary>
/// <param name="MaxPrefillTokens">tokens of the warm-up prefill that sizes the activations.</param>
/// <param name="MemoryFraction">share of the memory free after warm-up that becomes KV blocks.</param>
/// <param name="Log">where the runner reports its device and cache size (null: nowhere).</param>
/// <param name="Graphs">decode steps replay CUDA graphs; off (QUANTA_CUDA_GRAPHS=0 in the CLI), every kernel is launched eagerly.</param>
/// <param name="Profile">
/// books GPU time per phase of each step (<see cref="CudaModelRunner.TakeProfile"/>); steps then run without graphs and
/// are not queued ahead (`quanta bench decode --profile`).
/// </param>
/// <param name="WarmGraphs">capture the decode graphs of every batch bucket at load (`quanta serve`), not on first use.</param>
public sealed record CudaRunnerOptions(int MaxPrefillTokens = EngineOptions.DefaultMaxBatchPrefillTokens, double MemoryFraction = 0.9, TextWriter? Log = null,
                                       bool Graphs = true, bool Profile = false, bool WarmGraphs = false);
