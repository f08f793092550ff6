using System.Text;

namespace Quanta.Tokenization;

/// <summary>GPT-2's byte-to-unicode table used by byte-level BPE vocabularies (a space is 'Ġ', a newline 'Ċ').</summary>
internal static class ByteLevelMap
{
    static readonly char[] ByteToChar = Build();                      // [256]
    static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    static char[] Build()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    /// <summary>Text to the vocabulary's alphabet: its UTF-8 bytes, one mapped char each.</summary>
    public static string ToChars(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        return string.Create(utf8.Length, utf8, (span, b) => { for (int i = 0; i < b.Length; i++) span[i] = ByteToChar[b[i]]; });
    }

    /// <summary>A vocabulary piece back to the bytes it stands for (chars outside the table as UTF-8).</summary>
    public static byte[] ToBytes(string piece)
    {
        var result = new List<byte>(piece.Length);
        foreach (char c in piece)
        {
            if (CharToByte.TryGetValue(c, out byte b)) result.Add(b);
            else result.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        return [.. result];
    }
}
