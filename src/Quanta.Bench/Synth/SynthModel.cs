using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Quanta.IO.Safetensors;
using Quanta.Model;

namespace Quanta.Bench.Synth;

/// <summary>
/// Random weights of a real architecture: fp16 N(0, 0.02)-like dense layers, or GPTQ 4-bit with uniform
/// codes and per-group scales that give the same spread; norms are 1. Activations stay finite.
/// </summary>
/// <param name="c">the architecture to write.</param>
/// <param name="groupSize">GPTQ group size (-1 = per channel); null writes fp16 linears.</param>
/// <param name="actOrder">GPTQ act-order: shuffled g_idx, desc_act = true.</param>
/// <param name="seed">the random seed; the same seed writes the same bytes.</param>
public sealed class SynthModel(LlamaConfig c, int? groupSize, bool actOrder, ulong seed)
{
    /// <summary>The architecture of llama-2-7b, llama-2-13b or llama-3-8b.</summary>
    public static LlamaConfig Preset(string name) => name switch
    {
        "llama-2-7b" => new LlamaConfig { HiddenSize = 4096, IntermediateSize = 11008, NumLayers = 32, NumHeads = 32, NumKvHeads = 32, VocabSize = 32000, MaxPositionEmbeddings = 4096 },
        "llama-2-13b" => new LlamaConfig { HiddenSize = 5120, IntermediateSize = 13824, NumLayers = 40, NumHeads = 40, NumKvHeads = 40, VocabSize = 32000, MaxPositionEmbeddings = 4096 },
        "llama-3-8b" => new LlamaConfig { HiddenSize = 4096, IntermediateSize = 14336, NumLayers = 32, NumHeads = 32, NumKvHeads = 8, VocabSize = 128256, MaxPositionEmbeddings = 8192, RopeTheta = 500000f, BosTokenId = 128000, EosTokenIds = [128001] },
        _ => throw new ArgumentException($"--preset must be llama-2-7b, llama-2-13b or llama-3-8b, not '{name}'"),
    };

    const float Std = 0.02f;
    const int Chunk = 1 << 24;  // bytes generated per piece

    /// <summary>Writes config.json, quantize_config.json (GPTQ), model.safetensors and the tokenizer if given; returns bytes written.</summary>
    public long Write(string dir, string? tokenizer, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        var specs = new List<TensorSpec>();
        var fills = new Dictionary<string, Action<Span<byte>, long>>();
        int h = c.HiddenSize, hd = h / c.NumHeads, kv = c.NumKvHeads * hd, ffn = c.IntermediateSize;
        void Dense(string name, long rows, long cols, Action<Span<byte>, long> fill) { specs.Add(new TensorSpec(name, DType.F16, [rows, cols])); fills[name] = fill; }
        void Vector(string name, long n) { specs.Add(new TensorSpec(name, DType.F16, [n])); fills[name] = (s, _) => MemoryMarshal.Cast<byte, Half>(s).Fill((Half)1f); }
        void Linear(string p, int outF, int inF)
        {
            if (groupSize is not { } g) { Dense(p + ".weight", outF, inF, Normal); return; }
            int gs = g == -1 ? inF : g, groups = inF / gs;
            Add(p + ".qweight", DType.I32, [inF / 8, outF], RandomBits);
            Add(p + ".qzeros", DType.I32, [groups, outF / 8], (s, _) => MemoryMarshal.Cast<byte, uint>(s).Fill(0x77777777u)); // zero 8
            Add(p + ".scales", DType.F16, [groups, outF], Scales);
            Add(p + ".g_idx", DType.I32, [inF], (s, off) => GIdx(s, off, inF, gs, p));
        }
        void Add(string name, DType t, long[] shape, Action<Span<byte>, long> fill) { specs.Add(new TensorSpec(name, t, shape)); fills[name] = fill; }

        Dense("model.embed_tokens.weight", c.VocabSize, h, Normal);
        for (int l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            Vector(p + "input_layernorm.weight", h);
            Linear(p + "self_attn.q_proj", h, h);
            Linear(p + "self_attn.k_proj", kv, h);
            Linear(p + "self_attn.v_proj", kv, h);
            Linear(p + "self_attn.o_proj", h, h);
            Vector(p + "post_attention_layernorm.weight", h);
            Linear(p + "mlp.gate_proj", ffn, h);
            Linear(p + "mlp.up_proj", ffn, h);
            Linear(p + "mlp.down_proj", h, ffn);
        }
        Vector("model.norm.weight", h);
        Dense("lm_head.weight", c.VocabSize, h, Normal);

        long total = 0;
        var buf = new byte[Chunk];
        using (var w = new SafetensorsWriter(Path.Combine(dir, "model.safetensors"), specs, new Dictionary<string, string> { ["format"] = "pt" }))
            foreach (var s in specs)
                w.WriteChunk(s.Name, sink =>
                {
                    for (long off = 0; off < s.ByteLength; off += Chunk)
                    {
                        ct.ThrowIfCancellationRequested();
                        var piece = buf.AsSpan(0, (int)Math.Min(Chunk, s.ByteLength - off));
                        fills[s.Name](piece, off);
                        sink(piece);
                        total += piece.Length;
                    }
                });
        File.WriteAllText(Path.Combine(dir, "config.json"), Config().ToJsonString(new() { WriteIndented = true }));
        if (groupSize is not null) File.WriteAllText(Path.Combine(dir, "quantize_config.json"), Quant().ToJsonString(new() { WriteIndented = true }));
        if (tokenizer is not null) File.Copy(tokenizer, Path.Combine(dir, "tokenizer.model"), true);
        return total;
    }

    JsonObject Quant() => new()
    {
        ["bits"] = 4, ["group_size"] = groupSize, ["desc_act"] = actOrder, ["sym"] = true,
        ["quant_method"] = "gptq", ["checkpoint_format"] = "gptq",
    };

    JsonObject Config()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama",
            ["hidden_size"] = c.HiddenSize, ["intermediate_size"] = c.IntermediateSize, ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads, ["num_key_value_heads"] = c.NumKvHeads, ["vocab_size"] = c.VocabSize,
            ["max_position_embeddings"] = c.MaxPositionEmbeddings, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = c.RopeTheta,
            ["hidden_act"] = "silu", ["tie_word_embeddings"] = false, ["bos_token_id"] = c.BosTokenId, ["eos_token_id"] = c.EosTokenIds[0],
            ["torch_dtype"] = "float16",
        };
        if (groupSize is not null) o["quantization_config"] = Quant();
        return o;
    }

    /// <summary>A fast counter-based generator: every piece of a tensor is reproducible from its offset, so pieces fill in parallel.</summary>
    ulong Mix(long i)
    {
        ulong z = (ulong)i * 0x9E3779B97F4A7C15UL + seed * 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    void RandomBits(Span<byte> s, long off)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(s);
        long base0 = off / 8 + s.Length * 31L;
        var arr = new ulong[words.Length];
        Parallel.For(0, (arr.Length + 65535) / 65536, b =>
        {
            for (int i = b * 65536, e = Math.Min(arr.Length, i + 65536); i < e; i++) arr[i] = Mix(base0 + i);
        });
        arr.CopyTo(words);
    }

    /// <summary>fp16 values with std ≈ 0.02 (sum of two uniforms, triangular).</summary>
    void Normal(Span<byte> s, long off)
    {
        var dst = MemoryMarshal.Cast<byte, Half>(s);
        var arr = new Half[dst.Length];
        long base0 = off / 2 + 7;
        Parallel.For(0, (arr.Length + 65535) / 65536, b =>
        {
            for (int i = b * 65536, e = Math.Min(arr.Length, i + 65536); i < e; i++)
            {
                ulong r = Mix(base0 + i);
                float u = ((uint)r * (1f / uint.MaxValue)) + ((uint)(r >> 32) * (1f / uint.MaxValue)) - 1f;
                arr[i] = (Half)(u * Std * 2.449f);
            }
        });
        arr.CopyTo(dst);
    }

    /// <summary>Scales so that (q - 8) * scale has std ≈ 0.02: 0.02 / 4.6, ±20% per group and column.</summary>
    void Scales(Span<byte> s, long off)
    {
        var dst = MemoryMarshal.Cast<byte, Half>(s);
        for (int i = 0; i < dst.Length; i++) dst[i] = (Half)(Std / 4.61f * (0.8f + 0.4f * (uint)Mix(off / 2 + i + 3) / uint.MaxValue));
    }

    void GIdx(Span<byte> s, long off, int inF, int gs, string layer)
    {
        var g = new int[inF];
        for (int i = 0; i < inF; i++) g[i] = i / gs;
        if (actOrder) new Random((int)(Mix(layer.Aggregate(17L, (a, ch) => a * 31 + ch)) & 0x7fffffff)).Shuffle(g);
        MemoryMarshal.AsBytes(g.AsSpan()).Slice((int)off, s.Length).CopyTo(s);
    }
}
