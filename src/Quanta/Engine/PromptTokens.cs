using System.Collections;
using Quanta.Model;

namespace Quanta.Engine;

/// <summary>
/// The prompt's tokens without logprobs (all NaN), made one at a time when read: a request that asked for no
/// prompt details costs nothing per prompt token.
/// </summary>
internal sealed class PromptTokens(int[] ids, ITokenizer tokenizer) : IReadOnlyList<TokenInfo>
{
    public int Count => ids.Length;

    public TokenInfo this[int index] => Make(ids[index], tokenizer);

    public IEnumerator<TokenInfo> GetEnumerator()
    {
        foreach (int id in ids) yield return Make(id, tokenizer);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The prompt token <paramref name="id"/> with no logprob yet.</summary>
    public static TokenInfo Make(int id, ITokenizer tokenizer) => new(id, tokenizer.TokenText(id), float.NaN, tokenizer.IsSpecial(id));
}
