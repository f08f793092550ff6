namespace Quanta.IO.Tokenizers;

/// <summary>Opens the tokenizer that belongs to a checkpoint.</summary>
public static class TokenizerFactory
{
    /// <summary>From a Hugging Face folder: tokenizer.json when present, else tokenizer.model (SentencePiece).</summary>
    public static ITokenizer FromModelDirectory(string dir) => throw new NotImplementedException("tokenizers: pending");

    /// <summary>From a llama2.c tokenizer .bin (e.g. tok512.bin) with the model's vocabulary size.</summary>
    public static ITokenizer FromLlama2cFile(string path, int vocabSize) => throw new NotImplementedException("tokenizers: pending");
}
