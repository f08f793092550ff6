using Quanta.Grammar;
using Quanta.IO;
using Quanta.Tests.Engine;

namespace Quanta.Tests.Grammar;

/// <summary>Masks over real vocabularies: a token is allowed iff its bytes keep the automaton alive; EOS iff complete.</summary>
public class TokenMaskTests
{
    static TokenVocabulary Llama2Vocabulary()
    {
        var model = ConstrainedGenerationTests.RandomWeights();
        return new TokenVocabulary(model.Tokenizer, model.Config.VocabSize, [model.Tokenizer.EosId]);
    }

    static TokenVocabulary StoriesVocabulary()
    {
        var model = GenerateCommandTests.Stories();
        return new TokenVocabulary(model.Tokenizer, model.Config.VocabSize, [model.Tokenizer.EosId]);
    }

    /// <summary>Walks random allowed tokens; at each state checks every token's bit against a direct byte walk.</summary>
    static void CheckMasks(TokenVocabulary vocab, GrammarSpec spec, int seed, int steps)
    {
        var grammar = new GrammarCache(vocab).Get(spec);
        var dfa = GrammarCache.Compile(spec);   // an independent automaton for the reference walk
        var rng = new Random(seed);
        int state = grammar.Start, refState = dfa.Start;
        for (int step = 0; step < steps; step++)
        {
            var mask = grammar.Mask(state, budget: int.MaxValue);
            var allowed = new List<int>();
            for (int id = 0; id < vocab.Size; id++)
            {
                bool expected = vocab.IsEos(id) ? dfa.Accepts(refState) : !vocab.Bytes(id).IsEmpty && dfa.Walk(refState, vocab.Bytes(id)) != Dfa.Dead;
                Assert.True(expected == GrammarMask.Allows(mask, id), $"token {id} at step {step}: expected allowed={expected}");
                if (expected && !vocab.IsEos(id)) allowed.Add(id);
            }
            if (allowed.Count == 0) { Assert.True(dfa.Accepts(refState)); return; }
            int pick = allowed[rng.Next(allowed.Count)];
            state = grammar.Next(state, pick);
            refState = dfa.Walk(refState, vocab.Bytes(pick));
        }
    }

    [Theory]
    [InlineData(GrammarKind.Json, """{"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer","minimum":-20,"maximum":300}},"required":["n"]}""")]
    [InlineData(GrammarKind.Json, """{"type":"array","items":{"type":"string","format":"date"}}""")]
    [InlineData(GrammarKind.Regex, "[a-z ]+(, [0-9]{1,3})?")]
    public void Llama2_masks_allow_exactly_the_tokens_that_keep_the_output_alive(GrammarKind kind, string value) =>
        CheckMasks(Llama2Vocabulary(), new GrammarSpec(kind, value), seed: 1, steps: 8);

    [Fact]
    public void Stories_masks_allow_exactly_the_tokens_that_keep_the_output_alive() =>
        CheckMasks(StoriesVocabulary(), GrammarSpec.AnyJsonObject, seed: 2, steps: 40);

    [Fact]
    public void Complete_output_with_nothing_to_add_allows_only_eos()
    {
        var vocab = StoriesVocabulary();
        var grammar = new GrammarCache(vocab).Get(new GrammarSpec(GrammarKind.Regex, "ab"));
        int state = grammar.Start;
        foreach (byte b in "ab"u8) state = grammar.Next(state, Enumerable.Range(0, vocab.Size).First(id => vocab.Bytes(id).SequenceEqual([b])));
        var mask = grammar.Mask(state, budget: 100).ToArray();
        var allowed = Enumerable.Range(0, vocab.Size).Where(id => GrammarMask.Allows(mask, id)).ToArray();
        Assert.Equal(vocab.EosIds, allowed);
    }

    [Fact]
    public void A_short_budget_allows_only_tokens_that_can_still_complete()
    {
        var vocab = Llama2Vocabulary();
        var grammar = new GrammarCache(vocab).Get(new GrammarSpec(GrammarKind.Json, """{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"""));
        int state = grammar.Next(grammar.Start, Enumerable.Range(0, vocab.Size).First(id => vocab.Bytes(id).SequenceEqual("{\""u8.ToArray())));
        for (int budget = 1; budget < 12; budget++)
        {
            var mask = grammar.Mask(state, budget);
            for (int id = 0; id < vocab.Size; id++)
                if (GrammarMask.Allows(mask, id) && !vocab.IsEos(id))
                    Assert.True(grammar.Distance(grammar.Next(state, id)) <= Math.Max(budget - 1, grammar.Distance(state) - 1), $"budget {budget}, token {id}");
        }
    }

    [Fact]
    public void Cache_keeps_the_most_recently_used_grammars()
    {
        var cache = new GrammarCache(StoriesVocabulary(), capacity: 2);
        var a = cache.Get(new GrammarSpec(GrammarKind.Regex, "a+"));
        var b = cache.Get(new GrammarSpec(GrammarKind.Regex, "b+"));
        Assert.Same(a, cache.Get(new GrammarSpec(GrammarKind.Regex, "a+")));
        cache.Get(new GrammarSpec(GrammarKind.Regex, "c+"));   // drops b, the least recently used
        Assert.Equal(2, cache.Count);
        Assert.Same(a, cache.Get(new GrammarSpec(GrammarKind.Regex, "a+")));
        Assert.NotSame(b, cache.Get(new GrammarSpec(GrammarKind.Regex, "b+")));
    }

    [Fact]
    public void Mask_application_sets_ruled_out_logits_to_minus_infinity()
    {
        var logits = Enumerable.Range(0, 70).Select(i => (float)i).ToArray();
        uint[] mask = [0xFFFFFFFF, 0, 0b101];
        GrammarMask.Apply(logits, mask);
        for (int i = 0; i < 70; i++)
            Assert.Equal(i < 32 || i == 64 || i == 66 ? i : float.NegativeInfinity, logits[i]);
    }
}
