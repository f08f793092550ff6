using System.Globalization;
using System.Text;

namespace Quanta.Templates.Jinja;

internal enum Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof }

internal readonly record struct Token(Tok Kind, string Value, int Line)
{
    public bool Is(Tok kind, string value) => Kind == kind && Value == value;
    public bool IsName(string value) => Kind == Tok.Name && Value == value;
    public bool IsOp(string value) => Kind == Tok.Op && Value == value;
}

/// <summary>
/// Jinja2's lexer with transformers' settings: trim_blocks (one newline after a block or comment tag is dropped),
/// lstrip_blocks (spaces and tabs before a block or comment tag on its own line are dropped), <c>-</c> strips all
/// whitespace on that side, <c>+</c> keeps it; a single trailing newline of the source is dropped.
/// </summary>
internal sealed class Lexer
{
    static readonly string[] Operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    readonly string src;
    readonly List<Token> tokens = new();
    int pos, line = 1;
    bool lineStarting = true;

    Lexer(string source)
    {
        source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];
        src = source;
    }

    public static List<Token> Tokenize(string source)
    {
        var lx = new Lexer(source);
        lx.Run();
        return lx.tokens;
    }

    JinjaException Error(string message) => new("TemplateSyntaxError", message + $" (line {line})");

    void Run()
    {
        while (pos < src.Length)
        {
            int tag = FindTagStart(pos);
            if (tag < 0) { Emit(Tok.Data, src[pos..]); break; }
            string text = src[pos..tag];
            char kind = src[tag + 1];
            char sign = tag + 2 < src.Length && src[tag + 2] is '-' or '+' ? src[tag + 2] : '\0';
            if (sign == '-') text = PyStr.Strip(text, null, false, true);
            else if (sign != '+' && kind != '{')
            {
                int lpos = text.LastIndexOf('\n') + 1;
                if ((lpos > 0 || lineStarting) && lpos < text.Length && AllSpace(text, lpos))
                    text = text[..lpos];
            }
            if (text.Length > 0) Emit(Tok.Data, text);
            line += CountNewlines(src, pos, tag);
            pos = tag + 2 + (sign != '\0' ? 1 : 0);
            lineStarting = false;
            if (kind == '#') SkipComment();
            else if (kind == '%' && TryRaw()) { }
            else LexTag(kind == '{' ? Tok.VarBegin : Tok.BlockBegin);
        }
        Emit(Tok.Eof, "");
    }

    static bool AllSpace(string s, int from)
    {
        for (int i = from; i < s.Length; i++) if (!PyStr.IsSpace(s[i])) return false;
        return true;
    }

    int FindTagStart(int from)
    {
        for (int i = src.IndexOf('{', from); i >= 0 && i + 1 < src.Length; i = src.IndexOf('{', i + 1))
            if (src[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    static int CountNewlines(string s, int from, int to) => s.AsSpan(from, to - from).Count('\n');

    void Emit(Tok kind, string value) => tokens.Add(new Token(kind, value, line));

    void SkipComment()
    {
        int end = src.IndexOf("#}", pos, StringComparison.Ordinal);
        if (end < 0) throw Error("Missing end of comment tag");
        bool strip = end > pos && src[end - 1] == '-';
        bool keep = end > pos && src[end - 1] == '+';
        line += CountNewlines(src, pos, end);
        pos = end + 2;
        AfterTagEnd(strip, trim: !keep);
    }

    /// <summary>Whitespace after a tag's end: <c>-</c> strips all of it, trim_blocks one newline.</summary>
    void AfterTagEnd(bool strip, bool trim)
    {
        if (strip)
        {
            int start = pos;
            while (pos < src.Length && PyStr.IsSpace(src[pos])) pos++;
            line += CountNewlines(src, start, pos);
            lineStarting = pos > start && src[pos - 1] == '\n';
        }
        else if (trim && pos < src.Length && src[pos] == '\n') { pos++; line++; lineStarting = true; }
        else lineStarting = false;
    }

    /// <summary>{% raw %}...{% endraw %}: the body is data, tags in it are not interpreted.</summary>
    bool TryRaw()
    {
        int p = pos;
        while (p < src.Length && PyStr.IsSpace(src[p])) p++;
        if (string.CompareOrdinal(src, p, "raw", 0, 3) != 0) return false;
        p += 3;
        while (p < src.Length && PyStr.IsSpace(src[p])) p++;
        bool strip = p < src.Length && src[p] == '-';
        if (strip) p++;
        if (string.CompareOrdinal(src, p, "%}", 0, 2) != 0) return false;
        pos = p + 2;
        AfterTagEnd(strip, trim: true);
        int bodyStart = pos;
        for (int i = src.IndexOf("{%", pos, StringComparison.Ordinal); i >= 0; i = src.IndexOf("{%", i + 2, StringComparison.Ordinal))
        {
            int q = i + 2;
            bool lstrip = q < src.Length && src[q] == '-';
            if (q < src.Length && src[q] is '-' or '+') q++;
            while (q < src.Length && PyStr.IsSpace(src[q])) q++;
            if (string.CompareOrdinal(src, q, "endraw", 0, 6) != 0) continue;
            q += 6;
            while (q < src.Length && PyStr.IsSpace(src[q])) q++;
            bool rstrip = q < src.Length && src[q] == '-';
            if (rstrip) q++;
            if (string.CompareOrdinal(src, q, "%}", 0, 2) != 0) continue;
            string body = src[bodyStart..i];
            if (lstrip) body = PyStr.Strip(body, null, false, true);
            if (body.Length > 0) Emit(Tok.Data, body);
            line += CountNewlines(src, bodyStart, q);
            pos = q + 2;
            AfterTagEnd(rstrip, trim: true);
            return true;
        }
        throw Error("Missing end of raw directive");
    }

    void LexTag(Tok begin)
    {
        Emit(begin, "");
        var balance = new Stack<char>();
        while (true)
        {
            if (pos >= src.Length) throw Error(begin == Tok.VarBegin ? "unexpected end of template, expected 'end of print statement'." : "unexpected end of template, expected 'end of statement block'.");
            char c = src[pos];
            if (balance.Count == 0 && TryTagEnd(begin)) return;
            if (PyStr.IsSpace(c)) { if (c == '\n') line++; pos++; continue; }
            if (char.IsAsciiDigit(c)) { LexNumber(); continue; }
            if (char.IsLetter(c) || c == '_') { int s = pos; while (pos < src.Length && (char.IsLetterOrDigit(src[pos]) || src[pos] == '_')) pos++; Emit(Tok.Name, src[s..pos]); continue; }
            if (c is '\'' or '"') { LexString(c); continue; }
            string? op = Array.Find(Operators, o => string.CompareOrdinal(src, pos, o, 0, o.Length) == 0);
            if (op is null) throw Error($"unexpected char {PyOps.Repr(c.ToString())} at {pos}");
            if (op is "(" or "[" or "{") balance.Push(op[0]);
            else if (op is ")" or "]" or "}")
            {
                char want = op == ")" ? '(' : op == "]" ? '[' : '{';
                if (balance.Count == 0 || balance.Pop() != want) throw Error($"unexpected '{op}'");
            }
            Emit(Tok.Op, op);
            pos += op.Length;
        }
    }

    bool TryTagEnd(Tok begin)
    {
        string end = begin == Tok.VarBegin ? "}}" : "%}";
        bool strip = src[pos] == '-' && string.CompareOrdinal(src, pos + 1, end, 0, 2) == 0;
        bool keep = src[pos] == '+' && string.CompareOrdinal(src, pos + 1, end, 0, 2) == 0 && begin == Tok.BlockBegin;
        if (!strip && !keep && string.CompareOrdinal(src, pos, end, 0, 2) != 0) return false;
        pos += strip || keep ? 3 : 2;
        Emit(begin == Tok.VarBegin ? Tok.VarEnd : Tok.BlockEnd, "");
        AfterTagEnd(strip, trim: begin == Tok.BlockBegin && !keep);
        return true;
    }

    void LexNumber()
    {
        int s = pos;
        while (pos < src.Length && (char.IsAsciiDigit(src[pos]) || src[pos] == '_')) pos++;
        bool isFloat = false;
        if (pos + 1 < src.Length && src[pos] == '.' && char.IsAsciiDigit(src[pos + 1]))
        {
            isFloat = true;
            pos++;
            while (pos < src.Length && (char.IsAsciiDigit(src[pos]) || src[pos] == '_')) pos++;
        }
        if (pos < src.Length && src[pos] is 'e' or 'E')
        {
            int p = pos + 1;
            if (p < src.Length && src[p] is '+' or '-') p++;
            if (p < src.Length && char.IsAsciiDigit(src[p]))
            {
                isFloat = true;
                pos = p;
                while (pos < src.Length && char.IsAsciiDigit(src[pos])) pos++;
            }
        }
        Emit(isFloat ? Tok.Float : Tok.Int, src[s..pos].Replace("_", ""));
    }

    void LexString(char quote)
    {
        var sb = new StringBuilder();
        pos++;
        while (true)
        {
            if (pos >= src.Length) throw Error("unexpected end of string");
            char c = src[pos];
            if (c == quote) { pos++; break; }
            if (c == '\n') line++;
            if (c != '\\' || pos + 1 >= src.Length) { sb.Append(c); pos++; continue; }
            char e = src[pos + 1];
            pos += 2;
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': line++; break;
                case 'x': sb.Append((char)HexEscape(2)); break;
                case 'u': sb.Append((char)HexEscape(4)); break;
                case 'U': sb.Append(char.ConvertFromUtf32(HexEscape(8))); break;
                default:
                    if (e is >= '0' and <= '7')
                    {
                        int v = e - '0', n = 1;
                        while (n < 3 && pos < src.Length && src[pos] is >= '0' and <= '7') { v = v * 8 + (src[pos++] - '0'); n++; }
                        sb.Append((char)v);
                    }
                    else sb.Append('\\').Append(e);
                    break;
            }
        }
        Emit(Tok.String, sb.ToString());
    }

    int HexEscape(int digits)
    {
        if (pos + digits > src.Length || !int.TryParse(src.AsSpan(pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v))
            throw Error("truncated \\x, \\u or \\U escape in a string literal");
        pos += digits;
        return v;
    }
}
