using System.Text;
using Quanta.Engine;
using Quanta.Model;

namespace Quanta.Server.Api;

/// <summary>A request that passed TGI's validation, tokenized and ready for the engine.</summary>
internal sealed record ValidRequest(
    string Inputs,
    int[] PromptIds,          // [input_length] after truncation
    SamplingParams Params,
    int BestOf,
    bool Details,
    bool DecoderInputDetails,
    bool ReturnFullText)
{
    public int InputLength => PromptIds.Length;
}

/// <summary>
/// TGI's router validation rules and messages (router/src/validation.rs), plus: every number finite (JSON's 1e309
/// reads as infinity), and a prompt too long to fit refused from its length in bytes before it is tokenized.
/// </summary>
internal sealed class Validator(Limits limits, ITokenizer tokenizer)
{
    const int DefaultGenerationLength = 1024;
    /// <summary>
    /// Most bytes of text one token stands for: the longest token (special ones included, as their text can match),
    /// and at least 4, one UTF-8 character (an unknown character may become one token).
    /// </summary>
    readonly int _maxTokenBytes = LongestToken(tokenizer);

    public Limits Limits => limits;

    /// <param name="promptIds">Already tokenized prompt (chat templates); null = encode <paramref name="inputs"/> with BOS.</param>
    public ValidRequest Validate(string inputs, GenerateParameters p, bool stream, int[]? promptIds = null)
    {
        int bestOf = p.BestOf ?? 1;
        if (bestOf < 1 || bestOf > limits.MaxBestOf)
            throw Fail(limits.MaxBestOf == 1 && bestOf != 1
                ? "`best_of` != 1 is not allowed for this endpoint"
                : $"`best_of` must be > 0 and <= {limits.MaxBestOf}. Given: {bestOf}");
        if (stream && bestOf != 1) throw Fail("`best_of` != 1 is not supported when streaming tokens");
        if (stream && p.DecoderInputDetails) throw Fail("`decoder_input_details` == true is not supported when streaming tokens");

        bool sampling = p.DoSample || p.Temperature is not null || p.TopK is not null || p.TopP is not null || p.TypicalP is not null;
        if (bestOf > 1 && !sampling) throw Fail("you must use sampling when `best_of` is > 1");

        float temperature = p.Temperature ?? 1f;
        if (!(temperature > 0f)) throw Fail("`temperature` must be strictly positive");
        if (!float.IsFinite(temperature)) throw Fail("`temperature` must be finite");
        float repetition = p.RepetitionPenalty ?? 1f;
        if (!(repetition > 0f)) throw Fail("`repetition_penalty` must be strictly positive");
        if (!float.IsFinite(repetition)) throw Fail("`repetition_penalty` must be finite");
        float frequency = p.FrequencyPenalty ?? 0f;
        if (!(frequency >= -2f && frequency <= 2f)) throw Fail("`frequency_penalty` must be >= -2.0 and <= 2.0");
        float presence = p.PresencePenalty ?? 0f;
        if (!(presence >= -2f && presence <= 2f)) throw Fail("`presence_penalty` must be >= -2.0 and <= 2.0");
        float topP = p.TopP ?? 1f;
        if (p.TopP is not null && !(topP > 0f && topP < 1f)) throw Fail("`top_p` must be > 0.0 and < 1.0");
        float typicalP = p.TypicalP ?? 1f;
        if (p.TypicalP is not null && !(typicalP > 0f && typicalP < 1f)) throw Fail("`typical_p` must be > 0.0 and < 1.0");
        int topK = p.TopK ?? 0;
        if (p.TopK is not null && topK <= 0) throw Fail("`top_k` must be strictly positive");
        if (p.MaxNewTokens is <= 0) throw Fail("`max_new_tokens` must be strictly positive");
        if (p.Stop.Count > limits.MaxStopSequences)
            throw Fail($"`stop` supports up to {limits.MaxStopSequences} stop sequences. Given: {p.Stop.Count}");
        if (p.Stop.Any(string.IsNullOrEmpty)) throw Fail("`stop` sequences cannot be empty");
        if (p.Seed is not null && bestOf > 1) throw Fail("`seed` must not be set when `best_of` > 1");
        int topN = p.TopNTokens ?? 0;
        if (topN < 0 || topN > limits.MaxTopNTokens)
            throw Fail($"`top_n_tokens` must be >= 0 and <= {limits.MaxTopNTokens}. Given: {topN}");
        if (promptIds is null && inputs.Length == 0) throw Fail("`inputs` cannot be empty");
        if (p.Truncate is { } t && (t <= 0 || t > limits.MaxInputTokens))
            throw Fail($"`truncate` must be strictly positive and less than {limits.MaxInputTokens}. Given: {t}");

        if (promptIds is null && p.Truncate is null) CheckLength(inputs);
        var ids = promptIds ?? tokenizer.Encode(inputs, addBos: true);
        if (ids.Length == 0) throw Fail("`inputs` cannot be empty");
        if (p.Truncate is { } keep && ids.Length > keep) ids = ids[^keep..];
        int inputLength = ids.Length;
        int maxNew = p.MaxNewTokens ?? Math.Min(Math.Max(limits.MaxTotalTokens - inputLength, 1), DefaultGenerationLength);
        if (inputLength + maxNew > limits.MaxTotalTokens)
            throw Fail($"`inputs` tokens + `max_new_tokens` must be <= {limits.MaxTotalTokens}. " +
                       $"Given: {inputLength} `inputs` tokens and {maxNew} `max_new_tokens`");
        if (inputLength > limits.MaxInputTokens)
            throw Fail($"`inputs` must have less than {limits.MaxInputTokens} tokens. Given: {inputLength}");

        bool warpers = temperature != 1f || topK != 0 || topP < 1f || typicalP < 1f;
        var sp = new SamplingParams
        {
            DoSample = p.DoSample || warpers,
            Temperature = temperature,
            TopK = topK,
            TopP = topP,
            TypicalP = typicalP,
            RepetitionPenalty = repetition,
            FrequencyPenalty = frequency,
            PresencePenalty = presence,
            Seed = p.Seed,
            MaxNewTokens = maxNew,
            Stop = [.. p.Stop, .. p.TemplateStops],
            IgnoreEos = p.IgnoreEos,
            TopNTokens = topN,
        };
        return new ValidRequest(inputs, ids, sp, bestOf, p.Details, p.DecoderInputDetails, p.ReturnFullText ?? false);
    }

    /// <summary>
    /// Refuses <paramref name="text"/> when even its fewest possible tokens (with BOS) exceed max_input_tokens, without
    /// tokenizing it: a token stands for at most <see cref="_maxTokenBytes"/> bytes, and spaces are not counted (a
    /// SentencePiece normalizer may fold runs of them). What passes costs at most max_input_tokens tokens' work, or
    /// the payload limit's worth of spaces.
    /// </summary>
    public void CheckLength(string text)
    {
        long bytes = Encoding.UTF8.GetByteCount(text) - text.AsSpan().Count(' ');
        long fewest = (bytes + _maxTokenBytes - 1) / _maxTokenBytes + 1;
        if (fewest > limits.MaxInputTokens)
            throw Fail($"`inputs` must have less than {limits.MaxInputTokens} tokens. Given: at least {fewest}");
    }

    static int LongestToken(ITokenizer tokenizer)
    {
        int longest = 4;
        for (int id = 0; id < tokenizer.VocabSize; id++) longest = Math.Max(longest, tokenizer.TokenBytes(id).Length);
        return longest;
    }

    static ApiException Fail(string message) => ApiException.Validation(message);
}
