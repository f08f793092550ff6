using static Quanta.Tests.Server.TestCt;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Quanta.Tests.Server;

public class ValidationTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    TestServer S => fx.S;

    public static TheoryData<string, string> BadParameters => new()
    {
        { """{"temperature": 0}""", "`temperature` must be strictly positive" },
        { """{"temperature": -1}""", "`temperature` must be strictly positive" },
        { """{"temperature": 1e309}""", "`temperature` must be finite" },
        { """{"repetition_penalty": 1e309}""", "`repetition_penalty` must be finite" },
        { """{"presence_penalty": 1e38}""", "`presence_penalty` must be >= -2.0 and <= 2.0" },
        { """{"frequency_penalty": -1e309}""", "`frequency_penalty` must be >= -2.0 and <= 2.0" },
        { """{"repetition_penalty": 0}""", "`repetition_penalty` must be strictly positive" },
        { """{"frequency_penalty": 3}""", "`frequency_penalty` must be >= -2.0 and <= 2.0" },
        { """{"top_p": 1.0}""", "`top_p` must be > 0.0 and < 1.0" },
        { """{"top_p": 0}""", "`top_p` must be > 0.0 and < 1.0" },
        { """{"typical_p": 1.5}""", "`typical_p` must be > 0.0 and < 1.0" },
        { """{"top_k": 0}""", "`top_k` must be strictly positive" },
        { """{"max_new_tokens": 0}""", "`max_new_tokens` must be strictly positive" },
        { """{"max_new_tokens": 600}""", "`inputs` tokens + `max_new_tokens` must be <= 512. Given: 3 `inputs` tokens and 600 `max_new_tokens`" },
        { """{"stop": ["a","b","c","d","e"]}""", "`stop` supports up to 4 stop sequences. Given: 5" },
        { """{"best_of": 2}""", "you must use sampling when `best_of` is > 1" },
        { """{"best_of": 3, "do_sample": true}""", "`best_of` must be > 0 and <= 2. Given: 3" },
        { """{"best_of": 2, "do_sample": true, "seed": 1}""", "`seed` must not be set when `best_of` > 1" },
        { """{"top_n_tokens": 6}""", "`top_n_tokens` must be >= 0 and <= 5. Given: 6" },
        { """{"truncate": 0}""", "`truncate` must be strictly positive and less than 511. Given: 0" },
        { """{"truncate": 1000}""", "`truncate` must be strictly positive and less than 511. Given: 1000" },
    };

    [Theory]
    [MemberData(nameof(BadParameters))]
    public async Task Invalid_parameters_get_422_naming_the_field(string parameters, string message)
    {
        var body = $$"""{"inputs": "ab", "parameters": {{parameters}}}""";
        using var res = await S.Client.PostAsync("/generate", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, res.StatusCode);
        var json = await res.JsonAsync();
        Assert.Equal(message, json.GetProperty("error").GetString());
        Assert.Equal("validation", json.GetProperty("error_type").GetString());
    }

    [Theory]
    [InlineData("/v1/chat/completions", "presence_penalty", "1e38")]
    [InlineData("/v1/chat/completions", "temperature", "1e309")]
    [InlineData("/v1/completions", "frequency_penalty", "1e38")]
    [InlineData("/v1/completions", "top_p", "1e38")]
    [InlineData("/v1/completions", "repetition_penalty", "-1e309")]
    public async Task Openai_routes_share_the_range_checks(string path, string field, string value)
    {
        string prompt = path.Contains("chat") ? "\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]" : "\"prompt\": \"a\"";
        var body = $"{{{prompt}, \"max_tokens\": 2, \"{field}\": {value}}}";
        using var res = await S.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var error = (await res.JsonAsync()).GetProperty("error");
        Assert.Equal(field, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Long_inputs_and_stream_only_rules_are_rejected()
    {
        var r1 = await S.PostAsync("/generate", new { inputs = new string('a', 600), parameters = new { max_new_tokens = 1 } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, r1.StatusCode);
        Assert.Contains("must be <= 512", (await r1.JsonAsync()).GetProperty("error").GetString());
        var r2 = await S.PostAsync("/generate", new { inputs = "", parameters = new { max_new_tokens = 1 } });
        Assert.Equal("`inputs` cannot be empty", (await r2.JsonAsync()).GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/generate_stream", """{"decoder_input_details": true}""", "`decoder_input_details` == true is not supported when streaming tokens")]
    [InlineData("/generate_stream", """{"best_of": 2, "do_sample": true}""", "`best_of` != 1 is not supported when streaming tokens")]
    [InlineData("/generate_stream", """{"top_k": 0}""", "`top_k` must be strictly positive")]
    [InlineData("/generate_stream", """{"max_new_tokens": 600}""", "`inputs` tokens + `max_new_tokens` must be <= 512. Given: 2 `inputs` tokens and 600 `max_new_tokens`")]
    [InlineData("/", """{"temperature": 0}""", "`temperature` must be strictly positive")]
    public async Task Stream_validation_errors_are_one_sse_event_as_tgi_sends(string path, string parameters, string message)
    {
        var before = await S.MetricAsync("tgi_request_count");
        var body = JsonDocument.Parse($$"""{"inputs": "a", "stream": true, "parameters": {{parameters}}}""").RootElement;
        var events = await S.PostSseAsync(path, body);   // HTTP 200, text/event-stream
        var json = JsonExt.Parse(Assert.Single(events));
        Assert.Equal(["error", "error_type"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(message, json.GetProperty("error").GetString());
        Assert.Equal("validation", json.GetProperty("error_type").GetString());
        Assert.True(await S.MetricAsync("tgi_request_count") > before);
        Assert.Equal(0, await S.MetricAsync("quanta_requests_in_flight"));
    }

    [Fact]
    public async Task Truncate_keeps_the_last_tokens()
    {
        var json = await S.PostJsonAsync("/generate", new { inputs = "0123456789", parameters = new { truncate = 4, max_new_tokens = 2, details = true, decoder_input_details = true } });
        var prefill = json.GetProperty("details").GetProperty("prefill");
        Assert.Equal("6789", string.Concat(prefill.EnumerateArray().Select(t => t.GetProperty("text").GetString())));
    }

    [Theory]
    [InlineData("{not json", 400, null)]
    [InlineData("""{"parameters": {}}""", 422, "inputs")]
    [InlineData("""{"inputs": 5}""", 422, "inputs")]
    [InlineData("""{"inputs": "a", "parameters": {"top_k": "many"}}""", 422, "parameters.top_k: invalid type: expected an integer")]
    [InlineData("""{"inputs": "a", "parameters": {"max_new_tokens": -3.5}}""", 422, "parameters.max_new_tokens")]
    [InlineData("null", 422, null)]
    public async Task Malformed_bodies_get_the_error_shape(string body, int status, string? field)
    {
        foreach (var path in new[] { "/generate", "/generate_stream", "/", "/tokenize" })
        {
            using var res = await S.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(status, (int)res.StatusCode);
            var json = await res.JsonAsync();
            Assert.Equal("validation", json.GetProperty("error_type").GetString());
            if (field is not null) Assert.Contains(field, json.GetProperty("error").GetString());
        }
        // The server is unharmed.
        var ok = await S.PostJsonAsync("/generate", new { inputs = "still fine", parameters = new { max_new_tokens = 2 } });
        Assert.Equal(HashRunner.Reference("still fine", 2, out _), ok.GetProperty("generated_text").GetString());
    }

    [Fact]
    public async Task Failures_are_counted_in_metrics()
    {
        double before = await S.MetricAsync("tgi_request_count");
        using var _ = await S.PostAsync("/generate", new { inputs = "a", parameters = new { top_k = -1 } });
        Assert.True(await S.MetricAsync("tgi_request_count") > before);
        Assert.Contains("tgi_request_failure{err=\"validation\"}", await S.Client.GetStringAsync("/metrics", Ct));
    }
}
