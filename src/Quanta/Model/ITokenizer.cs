namespace Quanta.Model;

/// <summary>Text to token ids and back, for every tokenizer format Quanta reads.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int BosId { get; }
    int EosId { get; }
    /// <summary>Encodes text; prepends BOS when <paramref name="addBos"/>.</summary>
    int[] Encode(string text, bool addBos);
    /// <summary>Decodes a whole id sequence (byte-fallback pieces joined before UTF-8 decoding).</summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecial = true);
    /// <summary>Raw bytes a token stands for (byte-fallback tokens give one byte; specials give their text).</summary>
    ReadOnlySpan<byte> TokenBytes(int id);
    /// <summary>The token's text as shown in TGI's <c>token.text</c>.</summary>
    string TokenText(int id);
    bool IsSpecial(int id);
}
