using Quanta.Templates.Jinja;

namespace Quanta.Tests.Templates;

/// <summary>Every case of ../shared/chat-templates/expected.json renders byte for byte as transformers renders it.</summary>
public class ChatCorpusTests
{
    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var c in ChatCorpus.CasesOrEmpty()) data.Add(c.Template, c.Conversation, c.AddGenerationPrompt);
        if (data.Count == 0) data.Add("(corpus absent)", "", false);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_like_transformers(string template, string conversation, bool addGenerationPrompt)
    {
        var corpus = ChatCorpus.Get();
        var expected = corpus.Cases.Single(c => c.Template == template && c.Conversation == conversation && c.AddGenerationPrompt == addGenerationPrompt);
        var info = corpus.Templates[template];
        var vars = ChatCorpus.Variables(info, corpus.Conversations[conversation], addGenerationPrompt);
        var parsed = JinjaTemplate.Parse(File.ReadAllText(info.Path));
        if (expected.Error is not null)
        {
            var ex = Assert.Throws<JinjaException>(() => parsed.Render(vars, ChatCorpus.PinnedNow));
            Assert.Equal(expected.Error, ex.Message);
            Assert.Equal(expected.ErrorType, ex.PyType);
        }
        else Assert.Equal(expected.Output, parsed.Render(vars, ChatCorpus.PinnedNow));
    }
}
