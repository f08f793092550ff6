using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Quanta.Server;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

/// <summary>Every non-2xx answer has a JSON body in its route family's shape; body limits; the request log.</summary>
public class HttpErrorTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    TestServer S => fx.S;

    static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Res)> Send(HttpClient c, HttpMethod method, string path, string? body = null)
    {
        var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        var res = await c.SendAsync(req, Ct);
        var text = await res.Content.ReadAsStringAsync(Ct);
        Assert.True(text.Length > 0, $"{method} {path}: {(int)res.StatusCode} with an empty body");
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        return (res.StatusCode, JsonExt.Parse(text), res);
    }

    static void AssertTgi(JsonElement body, string errorType)
    {
        Assert.Equal(errorType, body.GetProperty("error_type").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("error").GetString()));
    }

    static JsonElement AssertOpenAi(JsonElement body, string type)
    {
        var error = body.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        return error;
    }

    [Fact]
    public async Task Routing_errors_have_json_bodies_in_the_route_familys_shape()
    {
        var (status, body, _) = await Send(S.Client, HttpMethod.Get, "/nope");
        Assert.Equal(HttpStatusCode.NotFound, status);
        AssertTgi(body, "not_found");

        var (status405, body405, res405) = await Send(S.Client, HttpMethod.Get, "/generate");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, status405);
        AssertTgi(body405, "method_not_allowed");
        Assert.Contains("POST", res405.Content.Headers.Allow);

        var (status404, body404, _) = await Send(S.Client, HttpMethod.Get, "/v1/nope");
        Assert.Equal(HttpStatusCode.NotFound, status404);
        AssertOpenAi(body404, "invalid_request_error");

        var (statusModel, bodyModel, _) = await Send(S.Client, HttpMethod.Get, "/v1/models/x");
        Assert.Equal(HttpStatusCode.NotFound, statusModel);
        Assert.Equal("model_not_found", AssertOpenAi(bodyModel, "invalid_request_error").GetProperty("code").GetString());
        var card = JsonExt.Parse(await S.Client.GetStringAsync("/v1/models/hash-model", Ct));
        Assert.Equal("hash-model", card.GetProperty("id").GetString());

        using var head = await S.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/health"), Ct);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }

    [Fact]
    public async Task Oversized_headers_and_request_lines_get_json_431_and_414()
    {
        using var big = new HttpRequestMessage(HttpMethod.Get, "/info");
        big.Headers.Add("X-Big", new string('a', 40_000));
        using var res = await S.Client.SendAsync(big, Ct);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, res.StatusCode);
        AssertTgi(JsonExt.Parse(await res.Content.ReadAsStringAsync(Ct)), "headers_too_large");

        var (status, body, _) = await Send(S.Client, HttpMethod.Get, "/v1/models?x=" + new string('a', 10_000));
        Assert.Equal(HttpStatusCode.RequestUriTooLong, status);
        Assert.Equal("uri_too_long", AssertOpenAi(body, "invalid_request_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Validation_errors_on_v1_are_400_naming_the_param()
    {
        var (status, body, _) = await Send(S.Client, HttpMethod.Post, "/v1/completions", """{"prompt": "a", "top_k": -1}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("top_k", AssertOpenAi(body, "invalid_request_error").GetProperty("param").GetString());
        var (bad, badBody, _) = await Send(S.Client, HttpMethod.Post, "/v1/completions", "{not json");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        AssertOpenAi(badBody, "invalid_request_error");
    }

    [Fact]
    public async Task A_body_over_the_payload_limit_is_413_and_not_a_generation_failure()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { PayloadLimit = 1000 });
        string big = JsonSerializer.Serialize(new { inputs = new string('a', 5000) });
        var (status, body, _) = await Send(s.Client, HttpMethod.Post, "/generate", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        AssertTgi(body, "payload_too_large");
        var (statusAi, bodyAi, _) = await Send(s.Client, HttpMethod.Post, "/v1/completions", JsonSerializer.Serialize(new { prompt = new string('a', 5000) }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, statusAi);
        Assert.Equal("payload_too_large", AssertOpenAi(bodyAi, "invalid_request_error").GetProperty("code").GetString());

        // Without a Content-Length (chunked), the limit stops the read.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/generate")
        { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))) };
        chunked.Content.Headers.ContentType = new("application/json");
        chunked.Headers.TransferEncodingChunked = true;
        using var res = await s.Client.SendAsync(chunked, Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);

        var metrics = await s.Client.GetStringAsync("/metrics", Ct);
        Assert.Contains("tgi_request_failure{err=\"payload_too_large\"} 3", metrics);
        Assert.DoesNotContain("err=\"generation\"", metrics);
        var ok = await s.PostJsonAsync("/generate", new { inputs = "fine", parameters = new { max_new_tokens = 2 } });
        Assert.Equal(HashRunner.Reference("fine", 2, out _), ok.GetProperty("generated_text").GetString());
    }

    [Fact]
    public async Task A_body_that_arrives_too_slowly_is_408()
    {
        await using var s = await TestServer.StartAsync(new ServerOptions { MinRequestBodyRate = 100, RequestBodyGracePeriod = TimeSpan.FromSeconds(1.5) });
        var uri = new Uri(s.Server.Address);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port, Ct);
        var stream = tcp.GetStream();
        var head = "POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"inputs\":";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), Ct);
        var reply = await new StreamReader(stream).ReadToEndAsync(Ct);   // the server answers and closes
        Assert.StartsWith("HTTP/1.1 408", reply);
        Assert.Contains("\"error_type\":\"request_timeout\"", reply);
        Assert.Contains("tgi_request_failure{err=\"request_timeout\"} 1", await s.Client.GetStringAsync("/metrics", Ct));
    }

    [Fact]
    public async Task Each_request_logs_one_line_and_failures_their_cause()
    {
        await using var s = await TestServer.StartAsync(throwOnToken: '~' + 3);
        await s.PostJsonAsync("/generate", new { inputs = "log me", parameters = new { max_new_tokens = 3 } });
        using (var bad = await s.PostAsync("/generate", new { inputs = "x", parameters = new { top_k = -1 } })) { }
        using (var failed = await s.PostAsync("/generate", new { inputs = "boom~", parameters = new { max_new_tokens = 2 } }))
            Assert.Equal(HttpStatusCode.FailedDependency, failed.StatusCode);
        using (var missing = await s.Client.GetAsync("/missing", Ct)) { }

        var lines = s.Logs.Requests;
        Assert.Equal(4, lines.Count);
        var ok = lines[0].Values;
        Assert.Equal(("POST", "/generate", 200), ((string)ok["Method"]!, (string)ok["Route"]!, (int)ok["Status"]!));
        Assert.Equal((7, 3, "-"), ((int)ok["PromptTokens"]!, (int)ok["GeneratedTokens"]!, (string)ok["ErrorType"]!));
        Assert.True((double)ok["TotalMs"]! > 0 && (double)ok["QueueMs"]! >= 0);
        Assert.Equal(LogLevel.Information, lines[0].Level);
        Assert.Equal((422, "validation"), ((int)lines[1].Values["Status"]!, (string)lines[1].Values["ErrorType"]!));
        Assert.Equal(LogLevel.Error, lines[2].Level);
        Assert.Equal("generation", lines[2].Values["ErrorType"]);
        Assert.Contains("hash runner failure", lines[2].Message);
        Assert.Equal((404, "/missing"), ((int)lines[3].Values["Status"]!, (string)lines[3].Values["Route"]!));
    }
}
