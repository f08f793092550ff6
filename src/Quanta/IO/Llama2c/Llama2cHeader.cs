using Quanta.Model;

namespace Quanta.IO.Llama2c;

/// <summary>The 7-int32 header of a llama2.c v0 checkpoint.</summary>
internal sealed record Llama2cHeader(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int Vocab, int SeqLen, bool Shared)
{
    public int HeadSize => Dim / Heads;
    public int KvDim => Dim * KvHeads / Heads;

    public static unsafe Llama2cHeader Parse(string path, nint basePtr, long fileLength)
    {
        var h = new ReadOnlySpan<int>((void*)basePtr, 7);
        if ((uint)h[0] == 0x616b3432u)   // "ak42": the newer versioned export
            throw new ModelLoadException($"{path}: llama2.c versioned export (magic ak42) is not supported (only the v0 legacy header)");
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv = h[4], vocab = h[5], seq = h[6];
        void Bad(string field, int v) => throw new ModelLoadException($"{path}: header field {field} = {v} is invalid");
        if (dim <= 0) Bad("dim", dim);
        if (hidden <= 0) Bad("hidden_dim", hidden);
        if (layers <= 0 || layers > 4096) Bad("n_layers", layers);
        if (heads <= 0 || dim % heads != 0 || (dim / heads) % 2 != 0) Bad("n_heads", heads);
        if (kv <= 0 || heads % kv != 0) Bad("n_kv_heads", kv);
        if (vocab == 0 || vocab == int.MinValue) Bad("vocab_size", vocab);
        if (seq <= 0) Bad("seq_len", seq);
        return new Llama2cHeader(dim, hidden, layers, heads, kv, Math.Abs(vocab), seq, vocab > 0);
    }

    /// <summary>
    /// llama2.c's run.c ends a generation when the model predicts BOS (id 1), which its training data places
    /// between stories, so BOS is an end-of-sequence id here beside the tokenizer's EOS (2).
    /// </summary>
    public LlamaConfig ToConfig() => new()
    {
        HiddenSize = Dim, IntermediateSize = HiddenDim, NumLayers = Layers, NumHeads = Heads, NumKvHeads = KvHeads,
        VocabSize = Vocab, HeadDim = HeadSize, MaxPositionEmbeddings = SeqLen, RmsNormEps = 1e-5f, RopeTheta = 10000f,
        RopeStyle = RopeStyle.Interleaved, TieWordEmbeddings = Shared, BosTokenId = 1, EosTokenIds = [2, 1],
    };
}
