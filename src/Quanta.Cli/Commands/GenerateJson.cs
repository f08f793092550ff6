using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Quanta.Engine;

namespace Quanta.Cli.Commands;

/// <summary>TGI's /generate response body with details, as printed by <c>quanta generate --json</c>.</summary>
internal static class GenerateJson
{
    public static string Response(GenerationFinished f, IReadOnlyList<TokenInfo> tokens, bool sampled)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("generated_text", f.Text);        // TGI keeps a matched stop sequence
            w.WriteStartObject("details");
            w.WriteString("finish_reason", f.Reason.TgiName());
            w.WriteNumber("generated_tokens", f.GeneratedTokens);
            if (sampled) w.WriteNumber("seed", f.Seed); else w.WriteNull("seed");
            w.WriteStartArray("prefill");
            if (f.Prefill.Skip(1).Any(t => !float.IsNaN(t.Logprob)))
                foreach (var t in f.Prefill) Token(w, t, special: false);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            foreach (var t in tokens) Token(w, t, special: true);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void Token(Utf8JsonWriter w, TokenInfo t, bool special)
    {
        w.WriteStartObject();
        w.WriteNumber("id", t.Id);
        w.WriteString("text", t.Text);
        if (!float.IsFinite(t.Logprob)) w.WriteNull("logprob"); else w.WriteNumber("logprob", t.Logprob);
        if (special) w.WriteBoolean("special", t.Special);
        w.WriteEndObject();
    }
}
