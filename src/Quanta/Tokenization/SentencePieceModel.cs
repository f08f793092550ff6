using System.Text;
using Quanta.Model;

namespace Quanta.Tokenization;

/// <summary>SentencePiece piece types (sentencepiece_model.proto).</summary>
internal enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>The parts of a SentencePiece <c>tokenizer.model</c> (ModelProto) that encoding and decoding need.</summary>
internal sealed class SentencePieceModel
{
    public required string[] Pieces { get; init; }       // [vocab]
    public required float[] Scores { get; init; }        // [vocab]
    public required PieceType[] Types { get; init; }     // [vocab]
    public int ModelType { get; init; } = 1;            // 1 unigram, 2 bpe, 3 word, 4 char
    public bool ByteFallback { get; init; }
    public int UnkId { get; init; }
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;
    public string NormalizerName { get; init; } = "";
    public bool HasCharsMap { get; init; }
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    /// <summary>Parses ModelProto bytes; <paramref name="file"/> names the source in errors.</summary>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> data, string file)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        int modelType = 1, unk = 0, bos = 1, eos = 2;
        bool byteFallback = false, dummy = true, removeWs = true, escapeWs = true, charsMap = false;
        string normName = "";

        var r = new ProtoReader(data, file);
        while (r.More)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 2)
            {
                var p = r.Sub();
                string piece = ""; float score = 0; int type = 1;
                while (p.More)
                {
                    var (f, w) = p.Tag();
                    if (f == 1 && w == 2) piece = Encoding.UTF8.GetString(p.Bytes());
                    else if (f == 2 && w == 5) score = p.Float();
                    else if (f == 3 && w == 0) type = (int)p.Varint();
                    else p.Skip(w);
                }
                if (type < 1 || type > 6) throw new ModelLoadException($"{file}: piece {pieces.Count} has unknown type {type}");
                pieces.Add(piece); scores.Add(score); types.Add((PieceType)type);
            }
            else if (field == 2 && wire == 2)
            {
                var t = r.Sub();
                while (t.More)
                {
                    var (f, w) = t.Tag();
                    if (w != 0) { t.Skip(w); continue; }
                    long v = t.Varint();
                    switch (f)
                    {
                        case 3: modelType = (int)v; break;
                        case 35: byteFallback = v != 0; break;
                        case 40: unk = (int)v; break;
                        case 41: bos = (int)v; break;
                        case 42: eos = (int)v; break;
                    }
                }
            }
            else if (field == 3 && wire == 2)
            {
                var n = r.Sub();
                while (n.More)
                {
                    var (f, w) = n.Tag();
                    if (f == 1 && w == 2) normName = Encoding.UTF8.GetString(n.Bytes());
                    else if (f == 2 && w == 2) charsMap = n.Bytes().Length > 0;
                    else if (f == 3 && w == 0) dummy = n.Varint() != 0;
                    else if (f == 4 && w == 0) removeWs = n.Varint() != 0;
                    else if (f == 5 && w == 0) escapeWs = n.Varint() != 0;
                    else n.Skip(w);
                }
            }
            else r.Skip(wire);
        }
        if (pieces.Count == 0) throw new ModelLoadException($"{file}: no pieces (not a SentencePiece model?)");
        return new SentencePieceModel
        {
            Pieces = [.. pieces], Scores = [.. scores], Types = [.. types],
            ModelType = modelType, ByteFallback = byteFallback, UnkId = unk, BosId = bos, EosId = eos,
            NormalizerName = normName, HasCharsMap = charsMap,
            AddDummyPrefix = dummy, RemoveExtraWhitespaces = removeWs, EscapeWhitespaces = escapeWs,
        };
    }
}

/// <summary>Minimal protobuf wire-format reader.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data, string file)
{
    readonly ReadOnlySpan<byte> _d = data;
    int _p;

    public readonly bool More => _p < _d.Length;

    public (int Field, int Wire) Tag()
    {
        long t = Varint();
        return ((int)(t >> 3), (int)(t & 7));
    }

    public long Varint()
    {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_p >= _d.Length) throw Truncated();
            byte b = _d[_p++];
            v |= (long)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw new ModelLoadException($"{file}: malformed protobuf varint at byte {_p}");
    }

    public float Float()
    {
        if (_p + 4 > _d.Length) throw Truncated();
        float f = BitConverter.ToSingle(_d.Slice(_p, 4));
        _p += 4;
        return f;
    }

    public ReadOnlySpan<byte> Bytes()
    {
        long n = Varint();
        if (n < 0 || _p + n > _d.Length) throw Truncated();
        var s = _d.Slice(_p, (int)n);
        _p += (int)n;
        return s;
    }

    public ProtoReader Sub() => new(Bytes(), file);

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(); break;
            case 1: _p += 8; break;
            case 2: Bytes(); break;
            case 5: _p += 4; break;
            default: throw new ModelLoadException($"{file}: unsupported protobuf wire type {wire} at byte {_p}");
        }
        if (_p > _d.Length) throw Truncated();
    }

    readonly ModelLoadException Truncated() => new($"{file}: truncated protobuf at byte {_p}");
}
