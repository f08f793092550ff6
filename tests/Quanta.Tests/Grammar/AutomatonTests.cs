using Quanta.Grammar;

namespace Quanta.Tests.Grammar;

public class AutomatonTests
{
    static Dfa Regex(string pattern) => GrammarCache.Compile(new GrammarSpec(GrammarKind.Regex, pattern));
    static Dfa Schema(string schema) => GrammarCache.Compile(new GrammarSpec(GrammarKind.Json, schema));

    [Theory]
    [InlineData("abc", "abc", true)]
    [InlineData("abc", "ab", false)]
    [InlineData("abc", "abcd", false)]
    [InlineData("^a|b$", "b", true)]
    [InlineData("a(b|c)*d", "abcbcd", true)]
    [InlineData("a(b|c)*d", "abxd", false)]
    [InlineData("\\d{2,3}", "12", true)]
    [InlineData("\\d{2,3}", "1234", false)]
    [InlineData("\\d{2,}", "12345", true)]
    [InlineData("[a-c]+x?", "abcab", true)]
    [InlineData("[^a-c]", "d", true)]
    [InlineData("[^a-c]", "b", false)]
    [InlineData("[^a-c]", "é", true)]
    [InlineData(".", "\n", false)]
    [InlineData(".", "日", true)]
    [InlineData("\\w+@\\w+\\.com", "ab_1@x.com", true)]
    [InlineData("\\s\\S", " x", true)]
    [InlineData("(?:ab)+", "ababab", true)]
    [InlineData("(?<year>\\d{4})-\\d\\d", "2024-01", true)]
    [InlineData("a{2}b{0,1}", "aab", true)]
    [InlineData("a{2}b{0,1}", "abb", false)]
    [InlineData("[\\d.]+", "1.5", true)]
    [InlineData("x{", "x{", true)]
    [InlineData("\\u00e9|\\x41", "A", true)]
    [InlineData("a+?b*?", "aab", true)]
    public void Regex_matches_whole_text_only(string pattern, string text, bool match)
    {
        Assert.Equal(match, Regex(pattern).Matches(text));
        Assert.Equal(match, System.Text.RegularExpressions.Regex.IsMatch(text, $"^(?:{pattern.TrimStart('^').TrimEnd('$')})$"));
    }

    [Theory]
    [InlineData("(a)\\1", "backreferences")]
    [InlineData("a(?=b)", "lookahead")]
    [InlineData("(?<!a)b", "lookbehind")]
    [InlineData("\\bword", "word boundaries")]
    [InlineData("(?i)abc", "inline flags")]
    public void Unsupported_regex_constructs_are_named(string pattern, string named)
    {
        var e = Assert.Throws<GrammarException>(() => Regex(pattern));
        Assert.Contains(e.Unsupported, u => u.Contains(named));
    }

    [Theory]
    [InlineData("(ab")]
    [InlineData("[ab")]
    [InlineData("*a")]
    [InlineData("a{3,1}")]
    public void Bad_regex_syntax_is_an_error(string pattern) => Assert.Throws<GrammarException>(() => Regex(pattern));

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-5, 5)]
    [InlineData(7, 1234)]
    [InlineData(-1000, -3)]
    [InlineData(99, 100)]
    [InlineData(-1, 0)]
    public void Integer_ranges_are_exact(long lo, long hi)
    {
        var dfa = new Dfa(new Nfa(IntegerRange.Of(lo, hi)));
        for (long v = lo - 50; v <= hi + 50; v++) Assert.Equal(v >= lo && v <= hi, dfa.Matches(v.ToString()));
        Assert.False(dfa.Matches("-0"));
        Assert.False(dfa.Matches("007"));
    }

    [Fact]
    public void Object_members_follow_schema_order_and_optional_ones_may_be_left_out()
    {
        var dfa = Schema("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},"required":["b"],"additionalProperties":false}""");
        Assert.True(dfa.Matches("""{"b":"x"}"""));
        Assert.True(dfa.Matches("""{"a":1,"b":"x"}"""));
        Assert.True(dfa.Matches("""{"a": 1, "b": "x", "c": true}"""));
        Assert.True(dfa.Matches("""{"b":"","c":false}"""));
        Assert.False(dfa.Matches("""{"a":1}"""));                 // b is required
        Assert.False(dfa.Matches("""{"b":"x","a":1}"""));         // schema order
        Assert.False(dfa.Matches("""{"b":"x","d":1}"""));         // no extra members
        Assert.False(dfa.Matches("""{,"b":"x"}"""));
        Assert.False(dfa.Matches("""{"b":"x"  }"""));             // whitespace: one space after ',' and ':' only
        Assert.False(dfa.Matches("{\n\"b\":\"x\"}"));
    }

    [Fact]
    public void Extra_members_never_repeat_a_declared_name()
    {
        var dfa = Schema("""{"properties":{"ab":{"type":"null"}},"additionalProperties":{"type":"integer"}}""");
        Assert.True(dfa.Matches("""{"ab":null,"a":1,"abc":2,"b":3}"""));
        Assert.True(dfa.Matches("""{"x":1}"""));
        Assert.False(dfa.Matches("""{"ab":null,"ab":1}"""));
        Assert.False(dfa.Matches("""{"x":null}"""));
    }

    [Fact]
    public void Strings_escape_and_count_characters()
    {
        var dfa = Schema("""{"type":"string","minLength":2,"maxLength":3}""");
        Assert.True(dfa.Matches("\"ab\""));
        Assert.True(dfa.Matches("\"a\\\"b\""));    // "a\"b" is 3 characters
        Assert.True(dfa.Matches("\"\\u00e9日\""));
        Assert.False(dfa.Matches("\"a\""));
        Assert.False(dfa.Matches("\"abcd\""));
        Assert.False(dfa.Matches("\"a\nb\""));     // raw control character
        Assert.False(dfa.Matches("\"\\ud800x\""));  // lone surrogate escape
    }

    [Fact]
    public void Patterns_apply_to_the_string_value_with_json_escapes()
    {
        var dfa = Schema("""{"type":"string","pattern":"^a\"[0-9]+\\\\$"}""");
        Assert.True(dfa.Matches("\"a\\\"12\\\\\""));
        Assert.False(dfa.Matches("\"a\"12\\\\\""));
    }

    [Theory]
    [InlineData("""{"type":"integer","minimum":-3,"exclusiveMaximum":10}""", "-3", true)]
    [InlineData("""{"type":"integer","minimum":-3,"exclusiveMaximum":10}""", "10", false)]
    [InlineData("""{"type":"integer","exclusiveMinimum":2.5}""", "3", true)]
    [InlineData("""{"type":"integer","exclusiveMinimum":2.5}""", "2", false)]
    [InlineData("""{"type":"number","minimum":0,"maximum":2.5}""", "1.75", true)]
    [InlineData("""{"type":"number","minimum":0,"maximum":2.5}""", "2.4", false)]
    [InlineData("""{"type":"number","minimum":0,"maximum":2.5}""", "2", true)]
    [InlineData("""{"type":"number","minimum":-1.5,"maximum":0}""", "-0.25", true)]
    [InlineData("""{"type":"number","minimum":-1.5,"maximum":0}""", "-1.25", false)]
    [InlineData("""{"type":"number","minimum":-1.5,"maximum":0}""", "-1", true)]
    [InlineData("""{"type":"number"}""", "-12.5", true)]
    [InlineData("""{"type":"number"}""", "01", false)]
    [InlineData("""{"type":["integer","null"]}""", "null", true)]
    [InlineData("""{"enum":["a",1,null,{"x":[true]}]}""", """{"x":[true]}""", true)]
    [InlineData("""{"const":"é\""}""", "\"é\\\"\"", true)]
    [InlineData("""{"type":"string","format":"date"}""", "\"2024-02-28\"", true)]
    [InlineData("""{"type":"string","format":"date"}""", "\"2024-02-30\"", false)]
    [InlineData("""{"type":"string","format":"date-time"}""", "\"2024-07-26T12:30:00Z\"", true)]
    [InlineData("""{"type":"string","format":"uuid"}""", "\"123e4567-e89b-12d3-a456-426614174000\"", true)]
    [InlineData("""{"type":"string","format":"email"}""", "\"a.b@ex-ample.org\"", true)]
    [InlineData("""{"anyOf":[{"type":"boolean"},{"type":"array","items":{"type":"integer"},"maxItems":2}]}""", "[1,2]", true)]
    [InlineData("""{"anyOf":[{"type":"boolean"},{"type":"array","items":{"type":"integer"},"maxItems":2}]}""", "[1,2,3]", false)]
    [InlineData("""{"type":"array","minItems":2}""", "[1, {}]", true)]
    [InlineData("""{"type":"array","minItems":2}""", "[1]", false)]
    [InlineData("""{"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/n"}},"required":["v"]}},"$ref":"#/$defs/n"}""", """{"v":1,"next":{"v":2,"next":{"v":3}}}""", true)]
    [InlineData("""{"type":"object"}""", """{"a":[1,{"b":null}],"c":"d"}""", true)]
    [InlineData("""{"type":"object"}""", """[]""", false)]
    public void Schemas_accept_and_reject(string schema, string json, bool match) => Assert.Equal(match, Schema(schema).Matches(json));

    [Fact]
    public void Unsupported_keywords_are_all_named()
    {
        var e = Assert.Throws<GrammarException>(() => Schema("""{"type":"object","properties":{"a":{"type":"array","uniqueItems":true},"b":{"type":"number","multipleOf":3}},"patternProperties":{}}"""));
        Assert.Equal(["multipleOf", "patternProperties", "uniqueItems"], e.Unsupported);
        Assert.Contains("multipleOf", e.Message);
    }

    [Fact]
    public void Free_values_nest_to_a_bounded_depth()
    {
        var dfa = Schema("""{"type":"object"}""");
        string nested = "{\"a\":" + new string('[', JsonSchemaCompiler.MaxFreeDepth - 1) + new string(']', JsonSchemaCompiler.MaxFreeDepth - 1) + "}";
        Assert.True(dfa.Matches(nested));
        Assert.False(dfa.Matches("{\"a\":" + new string('[', JsonSchemaCompiler.MaxFreeDepth + 1) + new string(']', JsonSchemaCompiler.MaxFreeDepth + 1) + "}"));
    }
}
