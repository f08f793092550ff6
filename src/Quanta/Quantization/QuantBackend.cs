using Quanta.Model;

namespace Quanta.Quantization;

/// <summary>XᵀX of one linear layer's calibration inputs, held by the backend that accumulated it.</summary>
public interface IHessianSum
{
    int Columns { get; }
    long Tokens { get; }
}

/// <summary>
/// Where the heavy parts of <see cref="ModelQuantizer"/> run: the calibration forward of one decoder layer over all
/// samples with hooks on each linear input, the Hessian accumulation, and the GPTQ / RTN solve of one linear layer.
/// The CPU implementation is the default; a GPU one lives in Quanta.Cuda. The quantizer calls, per decoder layer: Load,
/// then Collect and Updated as it replaces linears, then Advance (after Start once).
/// </summary>
public abstract class QuantBackend : IDisposable
{
    /// <summary>The device, in words (for the log).</summary>
    public abstract string Device { get; }

    /// <summary>Takes the calibration samples and sets the states to their embeddings.</summary>
    public abstract void Start(LoadedModel model, int[][] samples);

    /// <summary>The layer the following calls run (replaces the previous one and its Hessians).</summary>
    public abstract void Load(DenseLayer layer, int ffn);

    /// <summary>The linear <paramref name="name"/> (e.g. "self_attn.q_proj") of the loaded layer was replaced.</summary>
    public abstract void Updated(DenseLayer layer, string name);

    /// <summary>
    /// Runs the loaded layer on the states up to the input of <paramref name="only"/> (the whole layer when null, states
    /// left unchanged) and returns XᵀX of the inputs seen.
    /// </summary>
    public abstract Dictionary<LinearInput, IHessianSum> Collect(LinearInput? only);

    /// <summary>Moves the states through the whole loaded layer.</summary>
    public abstract void Advance();

    /// <summary>GPTQ of <paramref name="weight"/> [rows, cols] given XᵀX of its inputs.</summary>
    public abstract QuantizedMatrix Gptq(IHessianSum h, double[] weight, int rows, int cols, QuantSpec spec);

    /// <summary>Round-to-nearest of <paramref name="weight"/> [rows, cols].</summary>
    public abstract QuantizedMatrix RoundToNearest(double[] weight, int rows, int cols, QuantSpec spec);

    /// <summary>‖(W − Ŵ)X‖² over the inputs of <paramref name="h"/>; <paramref name="delta"/> is W − Ŵ [rows, cols].</summary>
    public abstract double OutputError(IHessianSum h, double[] delta, int rows);

    public virtual void Dispose() => GC.SuppressFinalize(this);
}
