namespace Quanta.Engine;

/// <summary>
/// How one logits row is sampled on the device: greedy, or temperature / top-k / top-p followed by an inverse-CDF
/// draw (token-id order) at the uniform <see cref="U"/>, drawn on the host from the request's RNG as the CPU
/// <see cref="Sampler"/> would draw it. Fields hold effective values: Temperature 1, TopK 0 and TopP 1 mean off.
/// A constrained row carries its grammar's <see cref="Mask"/> for the step: tokens it rules out are never chosen and
/// count in neither the softmax, top-k, top-p nor the logprob (as <see cref="Sampler"/> applies it, before the warpers).
/// </summary>
public readonly record struct RowSampling(bool Greedy, float Temperature, int TopK, float TopP, double U)
{
    /// <summary>
    /// Allowed tokens ([ceil(vocab / 32)] words, bit i of word i/32 = token i, as <see cref="Grammar.GrammarMask"/>), or
    /// empty for all. The words must stay unchanged until the step is collected.
    /// </summary>
    public ReadOnlyMemory<uint> Mask { get; init; }

    /// <summary>The row for <paramref name="p"/> (which <see cref="IsSimple"/> must accept) with uniform <paramref name="u"/>.</summary>
    public static RowSampling For(SamplingParams p, int vocab, double u) => p.DoSample
        ? new(false, p.Temperature > 0f && p.Temperature != 1f ? p.Temperature : 1f, p.TopK > 0 && p.TopK < vocab ? p.TopK : 0,
              p.TopP < 1f ? p.TopP : 1f, u)
        : new(true, 1f, 0, 1f, 0);

    /// <summary>
    /// Whether a device sampler can choose the token for <paramref name="p"/>: no penalties, no top-n alternatives and,
    /// when sampling, no typical-p. A grammar is no obstacle (its mask travels in <see cref="Mask"/>). (Prompt logprobs
    /// are the engine's concern: they need every row's logits.)
    /// </summary>
    public static bool IsSimple(SamplingParams p) =>
        p.TopNTokens == 0 && p.RepetitionPenalty == 1f && p.FrequencyPenalty == 0f && p.PresencePenalty == 0f
        && (!p.DoSample || p.TypicalP >= 1f);
}

/// <summary>
/// A runner that can choose tokens next to the logits, so that only ids and logprobs leave the device. The engine
/// uses it for a step only when every sequence in it is <see cref="RowSampling.IsSimple"/> and wants no prompt logprobs.
/// Rows with a <see cref="RowSampling.Mask"/> are never in a step queued behind another (their mask depends on the
/// token chosen just before), but may share a step with free rows.
/// </summary>
public interface IDeviceSampler
{
    /// <summary>
    /// Runs the batch as <see cref="IModelRunner.Forward"/> does, then for each logits row r (batch.LogitIndices order)
    /// chooses ids[r] as <paramref name="rows"/>[r] says and writes logprobs[r], the log-probability of ids[r] under the
    /// processed distribution (as <see cref="Sampler"/> reports it). rows, ids and logprobs have batch.NumLogits entries.
    /// </summary>
    void ForwardSample(ForwardBatch batch, ReadOnlySpan<RowSampling> rows, Span<int> ids, Span<float> logprobs);

    /// <summary>Whether <see cref="Queue"/> and <see cref="Collect"/> work (a runner that cannot queue leaves this false).</summary>
    bool CanQueue => false;

    /// <summary>
    /// Queues the work of <see cref="ForwardSample"/> without waiting for it. A token t with <paramref name="feed"/>[t] = r &gt;= 0
    /// takes as its id the one chosen for row r of the step queued just before (batch.TokenIds[t] is then ignored), so a
    /// decode step can be queued before the ids of the step it continues are known. At most two steps are outstanding;
    /// <paramref name="feed"/> is empty or has batch.NumTokens entries.
    /// </summary>
    void Queue(ForwardBatch batch, ReadOnlySpan<RowSampling> rows, ReadOnlySpan<int> feed) => throw new NotSupportedException("this runner cannot queue steps");

    /// <summary>Waits for the oldest queued step and writes its ids and logprobs (one per logits row). After a failure nothing stays queued.</summary>
    void Collect(Span<int> ids, Span<float> logprobs) => throw new NotSupportedException("this runner cannot queue steps");
}
