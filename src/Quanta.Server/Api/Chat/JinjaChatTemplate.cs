using Quanta.Model;
using Quanta.Templates;
using Quanta.Templates.Jinja;

namespace Quanta.Server.Api.Chat;

/// <summary>
/// A Jinja chat template (the model's own, or a file), rendered as transformers renders it with the tokenizer's
/// bos/eos token texts. A template that fails to parse or raises makes the request fail with a 422 naming its message.
/// </summary>
internal sealed class JinjaChatTemplate : ChatTemplate
{
    // End-of-turn markers of common templates: generation stops at them even where the tokenizer's EOS differs.
    static readonly string[] TurnEnds = ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|eom_id|>"];

    readonly ChatTemplateRenderer? renderer;
    readonly JinjaException? parseError;

    public JinjaChatTemplate(string name, string source)
    {
        Name = name;
        Source = source;
        try { renderer = new ChatTemplateRenderer(source); }
        catch (JinjaException e) { parseError = e; }
        Stops = TurnEnds.Where(source.Contains).ToList();
    }

    public override string Name { get; }
    public override IReadOnlyList<string> Stops { get; }
    /// <summary>The template text (tool-call parsers are chosen from it).</summary>
    public string Source { get; }

    /// <summary>The rendered prompt text.</summary>
    public string Render(ChatPrompt prompt, ITokenizer tokenizer)
    {
        if (renderer is null) throw TemplateError(parseError!);
        try
        {
            return renderer.Render(new ChatRenderInput
            {
                Messages = prompt.Messages,
                Tools = prompt.Tools,
                AddGenerationPrompt = prompt.AddGenerationPrompt,
                ContinueFinalMessage = prompt.ContinueFinalMessage,
                BosToken = SpecialText(tokenizer, tokenizer.BosId),
                EosToken = SpecialText(tokenizer, tokenizer.EosId),
                Extra = prompt.Kwargs,
            });
        }
        catch (JinjaException e) { throw TemplateError(e); }
        catch (ArgumentException e) { throw ApiException.Validation(e.Message); }
    }

    public override int[] Encode(ChatPrompt prompt, ITokenizer tokenizer) =>
        EncodeRendered(Render(prompt, tokenizer), tokenizer);

    static ApiException TemplateError(JinjaException e) => ApiException.Validation($"Chat template error: {e.Message}");

    static string? SpecialText(ITokenizer t, int id) => id >= 0 && id < t.VocabSize ? t.TokenText(id) : null;

    /// <summary>
    /// Tokenizes rendered text: BOS is added unless the text already starts with it, and the BOS/EOS texts inside
    /// it become their ids (a tokenizer without added-token matching would otherwise spell them out).
    /// </summary>
    internal static int[] EncodeRendered(string text, ITokenizer tokenizer)
    {
        string? bos = SpecialText(tokenizer, tokenizer.BosId), eos = SpecialText(tokenizer, tokenizer.EosId);
        var ids = new List<int>();
        bool addBos = true;
        if (!string.IsNullOrEmpty(bos) && text.StartsWith(bos, StringComparison.Ordinal)) text = text[bos.Length..];
        int pos = 0;
        while (true)
        {
            int next = -1, nextId = -1, nextLen = 0;
            foreach (var (s, id) in new[] { (bos, tokenizer.BosId), (eos, tokenizer.EosId) })
            {
                if (string.IsNullOrEmpty(s)) continue;
                int at = text.IndexOf(s, pos, StringComparison.Ordinal);
                if (at >= 0 && (next < 0 || at < next)) (next, nextId, nextLen) = (at, id, s.Length);
            }
            string segment = next < 0 ? text[pos..] : text[pos..next];
            if (segment.Length > 0 || addBos) ids.AddRange(tokenizer.Encode(segment, addBos));
            addBos = false;
            if (next < 0) return ids.ToArray();
            ids.Add(nextId);
            pos = next + nextLen;
        }
    }
}
