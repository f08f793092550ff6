using System.Globalization;
using System.Text;

namespace Quanta.Tests.Server;

/// <summary>
/// Request bodies for the fuzz test: well-formed requests with fields of wrong types and extreme values, random
/// JSON, deep nesting, huge strings, invalid UTF-8 and truncated text.
/// </summary>
internal static class BodyFuzzer
{
    static readonly string[] TgiFields = ["best_of", "temperature", "repetition_penalty", "frequency_penalty", "presence_penalty", "top_k",
        "top_p", "typical_p", "do_sample", "max_new_tokens", "return_full_text", "stop", "truncate", "seed", "details",
        "decoder_input_details", "top_n_tokens", "ignore_eos", "watermark"];
    static readonly string[] OpenAiFields = ["model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop",
        "stream", "stream_options", "n", "frequency_penalty", "presence_penalty", "repetition_penalty", "ignore_eos", "min_tokens",
        "echo", "logprobs", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls", "response_format"];
    static readonly string[] Numbers = ["0", "1", "2", "-1", "3", "0.5", "1e-45", "1e309", "-1e309", "1e38", "2147483648", "-2147483649",
        "18446744073709551616", "1.0000001", "4", "0.0", "-0", "3.5", "1e-5", "7"];
    static readonly string[] Words = ["\"\"", "\"a\"", "\"#\"", "\"stop\"", "\"\\u0000\"", "\"\\ud800\"", "\"💥\"", "true", "false", "null", "[]", "{}",
        "[\"x\"]", "[1,2]", "{\"a\":1}", "{\"include_usage\":true}", "\"required\"", "\"none\"", "\"auto\"",
        "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}",
        "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}]",
        "{\"type\":\"json_object\"}"];

    public static byte[] Make(Random rng, string path) => rng.Next(10) switch
    {
        0 => Encoding.UTF8.GetBytes(RandomJson(rng, depth: 0)),
        1 => Encoding.UTF8.GetBytes(Deep(rng, path)),
        2 => InvalidUtf8(rng, path),
        3 => Truncated(rng, path),
        4 => Encoding.UTF8.GetBytes(Request(rng, path, Huge(rng))),
        5 or 6 => Encoding.UTF8.GetBytes(Request(rng, path, Prompt(rng))),
        _ => Encoding.UTF8.GetBytes(Plausible(rng, path)),
    };

    /// <summary>A request a client would send: values in range, a short prompt, a few tokens.</summary>
    static string Plausible(Random rng, string path)
    {
        string prompt = "\"tell " + rng.Next(1000) + "\"";
        string temperature = rng.Next(3) == 0 ? "" : $",\"temperature\":{rng.Next(1, 20) / 10.0:0.0}";
        string tokens = rng.Next(1, 9).ToString(CultureInfo.InvariantCulture);
        string stop = rng.Next(4) == 0 ? ",\"stop\":[\"e\"]" : "";
        bool stream = rng.Next(2) == 0;
        return path switch
        {
            "/v1/chat/completions" => $"{{\"messages\":[{{\"role\":\"user\",\"content\":{prompt}}}],\"max_tokens\":{tokens}{temperature}{stop}," +
                                      $"\"n\":{rng.Next(1, 3)},\"stream\":{(stream ? "true" : "false")},\"logprobs\":true,\"top_logprobs\":{rng.Next(0, 4)}}}",
            "/v1/completions" => $"{{\"prompt\":{(rng.Next(2) == 0 ? prompt : "[" + prompt + "," + prompt + "]")},\"max_tokens\":{tokens}{temperature}{stop}," +
                                 $"\"stream\":{(stream ? "true" : "false")},\"logprobs\":{rng.Next(0, 3)},\"echo\":{(rng.Next(2) == 0 ? "true" : "false")}}}",
            _ => $"{{\"inputs\":{prompt},\"parameters\":{{\"max_new_tokens\":{tokens}{temperature}{stop},\"details\":true," +
                 $"\"top_n_tokens\":{rng.Next(0, 3)},\"seed\":{rng.Next(100)}}}}}",
        };
    }

    /// <summary>A request of the route's family: its prompt field, then a few fields with random values.</summary>
    static string Request(Random rng, string path, string prompt)
    {
        var sb = new StringBuilder("{");
        bool tgi = !path.StartsWith("/v1", StringComparison.Ordinal);
        if (rng.Next(12) > 0)
            sb.Append(path switch
            {
                "/v1/chat/completions" => $"\"messages\":[{{\"role\":{Role(rng)},\"content\":{prompt}}}]",
                "/v1/completions" => "\"prompt\":" + (rng.Next(4) == 0 ? Ids(rng) : prompt),
                _ => "\"inputs\":" + prompt,
            });
        else sb.Append("\"x\":1");
        var fields = new List<string>();
        int n = rng.Next(6);
        for (int i = 0; i < n; i++)
        {
            var names = tgi ? TgiFields : OpenAiFields;
            fields.Add($"\"{names[rng.Next(names.Length)]}\":{Value(rng)}");
        }
        if (rng.Next(4) > 0) fields.Add(tgi ? $"\"max_new_tokens\":{rng.Next(1, 9)}" : $"\"max_tokens\":{rng.Next(1, 9)}");
        if (tgi) { if (fields.Count > 0) sb.Append(",\"parameters\":{").Append(string.Join(',', fields)).Append('}'); }
        else foreach (var f in fields) sb.Append(',').Append(f);
        if (path == "/generate_stream" && rng.Next(3) == 0) sb.Append(",\"stream\":").Append(Value(rng));
        return sb.Append('}').ToString();
    }

    static string Value(Random rng) => rng.Next(3) == 0 ? Words[rng.Next(Words.Length)] : Numbers[rng.Next(Numbers.Length)];

    static string Role(Random rng) => rng.Next(6) switch { 0 => "\"robot\"", 1 => "\"system\"", 2 => "3", _ => "\"user\"" };

    static string Prompt(Random rng) => rng.Next(8) switch
    {
        0 => Words[rng.Next(Words.Length)],
        1 => Numbers[rng.Next(Numbers.Length)],
        _ => "\"" + new string(Enumerable.Range(0, rng.Next(1, 40)).Select(_ => (char)rng.Next(32, 127)).Where(c => c is not ('"' or '\\')).ToArray()) + "\"",
    };

    static string Ids(Random rng) => rng.Next(3) switch
    {
        0 => "[" + string.Join(',', Enumerable.Range(0, rng.Next(0, 6)).Select(_ => rng.Next(-2, 300))) + "]",
        1 => "[[1,40,41],[" + rng.Next(0, 1000) + "]]",
        _ => "[\"a\",[1]]",
    };

    /// <summary>A string prompt of 10 KB to 90 KB (under the fuzz server's payload limit, far over its max input).</summary>
    static string Huge(Random rng) => "\"" + new string((char)('a' + rng.Next(26)), rng.Next(10_000, 90_000)) + "\"";

    static string RandomJson(Random rng, int depth)
    {
        if (depth > 4) return Value(rng);
        return rng.Next(4) switch
        {
            0 => "[" + string.Join(',', Enumerable.Range(0, rng.Next(4)).Select(_ => RandomJson(rng, depth + 1))) + "]",
            1 => "{" + string.Join(',', Enumerable.Range(0, rng.Next(4)).Select(i =>
                     $"\"{(rng.Next(2) == 0 ? "inputs" : "k" + i.ToString(CultureInfo.InvariantCulture))}\":{RandomJson(rng, depth + 1)}")) + "}",
            _ => Value(rng),
        };
    }

    /// <summary>Nesting deeper than the JSON reader allows (64), in a place the request reads.</summary>
    static string Deep(Random rng, string path)
    {
        int depth = rng.Next(60, 2000);
        string nest = new string('[', depth) + new string(']', depth);
        return path.StartsWith("/v1", StringComparison.Ordinal) ? $"{{\"prompt\":{nest},\"messages\":{nest}}}" : $"{{\"inputs\":\"a\",\"parameters\":{{\"stop\":{nest}}}}}";
    }

    static byte[] InvalidUtf8(Random rng, string path)
    {
        var text = Encoding.UTF8.GetBytes(Request(rng, path, "\"ab__cd\""));
        int at = Array.IndexOf(text, (byte)'_');
        byte[][] bad = [[0xFF, 0xFE], [0xC3, 0x28], [0xED, 0xA0], [0xF0, 0x90, 0x80]];
        var b = bad[rng.Next(bad.Length)];
        return at < 0 ? text : [.. text[..at], .. b, .. text[(at + 2)..]];
    }

    static byte[] Truncated(Random rng, string path)
    {
        var text = Encoding.UTF8.GetBytes(Request(rng, path, Prompt(rng)));
        return text[..rng.Next(0, text.Length)];
    }
}
