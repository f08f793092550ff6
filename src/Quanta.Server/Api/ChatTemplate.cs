using System.Text;
using Quanta.Model;
using Quanta.Server.Api.Chat;

namespace Quanta.Server.Api;

internal sealed record ChatMessage(string Role, string Content);

/// <summary>
/// How chat messages become prompt tokens: the model's own Jinja template (or a template file), or one of the two
/// built-in formats for models without one: Llama-2 [INST] (Meta's reference tokenization) and ChatML.
/// </summary>
internal abstract class ChatTemplate
{
    public abstract string Name { get; }
    /// <summary>Extra stop strings the format needs (ChatML's end of turn).</summary>
    public abstract IReadOnlyList<string> Stops { get; }
    public abstract int[] Encode(ChatPrompt prompt, ITokenizer tokenizer);

    /// <summary>
    /// <paramref name="option"/>: auto (the model's template, else llama2) | llama2 | chatml | a Jinja template file.
    /// </summary>
    public static ChatTemplate Select(string option, string? modelTemplate) => option switch
    {
        "llama2" => new Llama2(),
        "chatml" => new ChatMl(),
        "auto" => modelTemplate is not null ? new JinjaChatTemplate("model", modelTemplate) : new Llama2(),
        _ when File.Exists(option) => new JinjaChatTemplate(option, File.ReadAllText(option)),
        _ => throw new ArgumentException($"--chat-template must be auto, llama2, chatml or a template file, not '{option}' (no such file)"),
    };

    static IReadOnlyList<ChatMessage> CheckRoles(ChatPrompt prompt)
    {
        var messages = prompt.PlainMessages();
        foreach (var m in messages)
            if (m.Role is not ("system" or "user" or "assistant"))
                throw ApiException.Validation($"`messages`: role '{m.Role}' needs a chat template (the built-in formats take system, user or assistant)");
        return messages;
    }

    sealed class Llama2 : ChatTemplate
    {
        public override string Name => "llama2";
        public override IReadOnlyList<string> Stops => [];

        public override int[] Encode(ChatPrompt prompt, ITokenizer tokenizer)
        {
            var turns = CheckRoles(prompt).ToList();
            if (turns[0].Role == "system")
            {
                if (turns.Count < 2 || turns[1].Role != "user")
                    throw ApiException.Validation("`messages`: a system message must be followed by a user message");
                turns[1] = turns[1] with { Content = $"<<SYS>>\n{turns[0].Content.Trim()}\n<</SYS>>\n\n{turns[1].Content.Trim()}" };
                turns.RemoveAt(0);
            }
            if (turns[^1].Role != "user") throw ApiException.Validation("`messages`: the last message must be from the user");
            var ids = new List<int>();
            for (int i = 0; i < turns.Count; i++)
            {
                bool userTurn = i % 2 == 0;
                if (turns[i].Role != (userTurn ? "user" : "assistant"))
                    throw ApiException.Validation("`messages`: roles must alternate user/assistant/user/...");
                if (!userTurn) continue;
                if (i + 1 < turns.Count)
                {
                    ids.AddRange(tokenizer.Encode($"[INST] {turns[i].Content.Trim()} [/INST] {turns[i + 1].Content.Trim()} ", addBos: true));
                    ids.Add(tokenizer.EosId);
                }
                else ids.AddRange(tokenizer.Encode($"[INST] {turns[i].Content.Trim()} [/INST]", addBos: true));
            }
            return ids.ToArray();
        }
    }

    sealed class ChatMl : ChatTemplate
    {
        public override string Name => "chatml";
        public override IReadOnlyList<string> Stops => ["<|im_end|>"];

        public override int[] Encode(ChatPrompt prompt, ITokenizer tokenizer)
        {
            var messages = CheckRoles(prompt);
            var sb = new StringBuilder();
            foreach (var m in messages) sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
            sb.Append("<|im_start|>assistant\n");
            return tokenizer.Encode(sb.ToString(), addBos: true);
        }
    }
}
