namespace Quanta.Bench.Dataset;

/// <summary>One benchmark request: the prompt text, its token count and the number of tokens to generate.</summary>
public sealed record BenchPrompt(string Prompt, int PromptLen, int OutputLen);

/// <summary>Counts tokens the way the target model does (a local tokenizer or the server's /tokenize).</summary>
public interface ITokenCounter
{
    /// <summary>Token count of <paramref name="text"/>; <paramref name="addBos"/> counts the BOS a prompt gets.</summary>
    Task<int> CountAsync(string text, bool addBos, CancellationToken ct);
}
