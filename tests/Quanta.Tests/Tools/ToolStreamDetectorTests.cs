using Quanta.Server.Api.Tools;

namespace Quanta.Tests.Tools;

/// <summary>How much of a partial output each format lets a stream send as content before generation ends.</summary>
public class ToolStreamDetectorTests
{
    /// <summary>Feeds <paramref name="output"/> one character at a time; returns the content released along the way.</summary>
    static string Released(IToolCallParser parser, string output)
    {
        int released = 0;
        for (int n = 0; n <= output.Length; n++)
        {
            int safe = parser.ContentLength(output.AsSpan(0, n), released);
            Assert.True(safe >= released && safe <= n, $"{safe} after {released} at {n}");
            released = safe;
        }
        return output[..released];
    }

    [Theory]
    [InlineData("Hello there, no calls.", "Hello there, no calls.")]
    [InlineData("Checking. <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", "Checking. ")]
    [InlineData("a <tool_ca", "a ")]                       // could still become a call
    [InlineData("a <tool_cat> b", "a <tool_cat> b")]        // cannot any more
    [InlineData("<<tool_call>", "<")]
    public void Hermes_holds_back_from_a_possible_marker(string output, string released)
        => Assert.Equal(released, Released(new HermesToolParser(), output));

    [Theory]
    [InlineData("[TOOL_CALLS] [{\"name\": \"f\"}]", "")]
    [InlineData("  [ {\"name\": \"f\"", "")]
    [InlineData("[1, 2] and so on", "[1, 2] and so on")]
    [InlineData("Sure! [TOOL_CALLS] [", "Sure! ")]
    [InlineData("Sure! [TOOL_CA", "Sure! ")]
    public void Mistral_holds_back_the_marker_and_an_opening_array_of_objects(string output, string released)
        => Assert.Equal(released, Released(new MistralToolParser(), output));

    [Theory]
    [InlineData("{\"name\": \"f\", \"parameters\": {}}", "")]
    [InlineData("\n <|python_tag|>{\"name\"", "")]
    [InlineData("<|python", "")]
    [InlineData("Hi! {\"name\": \"f\", \"parameters\": {}}", "Hi! {\"name\": \"f\", \"parameters\": {}}")]
    [InlineData("<|pythonic", "<|pythonic")]
    public void Llama3_holds_back_only_an_output_that_opens_like_a_call(string output, string released)
        => Assert.Equal(released, Released(new Llama3JsonToolParser(), output));

    [Fact]
    public void Constrained_outputs_are_held_whole()
    {
        Assert.Equal("", Released(new NamedCallParser("f", new HermesToolParser()), "{\"a\": 1}"));
        Assert.Equal("", Released(new RequiredCallsParser(new HermesToolParser()), "[{\"name\": \"f\", \"parameters\": {}}]"));
    }
}
