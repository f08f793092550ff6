using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Quanta.Cli;
using static Quanta.Tests.Server.TestCt;

namespace Quanta.Tests.Server;

public class ServeCommandTests
{
    static readonly string CliDll = typeof(CliCommands).Assembly.Location;

    [Fact]
    public void The_users_seed_command_parses_unchanged()
    {
        var root = new RootCommand();
        CliCommands.AddAll(root);
        var pr = root.Parse("serve --model-id /models/llama --hostname 0.0.0.0 --port 5001 --max-concurrent-requests 256 --quantize gptq " +
                            "--trust-remote-code --max-batch-total-tokens 30000 --sharded false --max-input-length 1024 --validation-workers 4");
        Assert.Empty(pr.Errors);
        var more = root.Parse("serve --max-input-tokens 100 --max-total-tokens 200 --max-batch-prefill-tokens 300 --max-num-batched-tokens 256 --max-stop-sequences 2 " +
                              "--max-best-of 1 --waiting-served-ratio 1.2 --max-waiting-tokens 10 --dtype float16 --device cpu " +
                              "--api-key k --block-size 32 --chat-template chatml --cuda-memory-fraction 0.5 --disable-prefix-caching --max-batch-size 8 " +
                              "--payload-limit 1000 --log-format json --log-level warn --max-client-batch-size 2");
        Assert.Empty(more.Errors);
    }

    static Process Start(string args)
    {
        var psi = new ProcessStartInfo("dotnet", $"\"{CliDll}\" {args}")
        { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment.Remove("QUANTA_API_KEY");
        return Process.Start(psi)!;
    }

    [Fact]
    public async Task Bad_flags_fail_with_one_line()
    {
        foreach (var (args, needle) in new[] { ("serve --sharded true", "--sharded"), ("serve --device tpu --port 0", "--device"),
                                               ("serve --max-input-tokens 600 --port 0 --max-batch-total-tokens 4096", "--max-input-tokens"),
                                               ("serve --log-format xml --port 0", "--log-format"), ("serve --log-level loud --port 0", "--log-level") })
        {
            using var p = Start(args);
            var err = await p.StandardError.ReadToEndAsync(Ct);
            await p.WaitForExitAsync(Ct);
            Assert.Equal(1, p.ExitCode);
            var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:")).ToList();
            Assert.Single(lines);
            Assert.Contains(needle, lines[0]);
            Assert.DoesNotContain("   at ", err);
        }
    }

    [Fact]
    public async Task Sigterm_lets_the_in_flight_stream_finish_then_exits_zero()
    {
        using var p = Start("serve --port 0 --device cpu --max-batch-total-tokens 4096 --max-num-batched-tokens 300 --log-format json");
        string? address = null;
        var log = new StringBuilder();
        while (address is null && await p.StandardError.ReadLineAsync(Ct) is { } line)
        {
            log.AppendLine(line);
            if (line.StartsWith("listening on ")) address = line["listening on ".Length..].Trim();
        }
        Assert.True(address is not null, log.ToString());
        Assert.Contains("max_batch_total_tokens=4096", log.ToString());
        Assert.Contains("max_num_batched_tokens=300", log.ToString());
        using var client = new HttpClient { BaseAddress = new Uri(address) };
        var body = JsonSerializer.Serialize(new { inputs = "Once upon a time", parameters = new { max_new_tokens = 500, ignore_eos = true } });
        using var res = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/generate_stream")
        { Content = new StringContent(body, Encoding.UTF8, "application/json") }, HttpCompletionOption.ResponseHeadersRead, Ct);
        var reader = new StreamReader(await res.Content.ReadAsStreamAsync(Ct));
        Assert.StartsWith("data:", await reader.ReadLineAsync(Ct));
        using (var kill = Process.Start("kill", $"-TERM {p.Id}")) await kill.WaitForExitAsync(Ct);
        var events = await TestServer.ReadEventsAsync(reader, Ct);
        Assert.Equal(499, events.Count);
        var last = JsonDocument.Parse(events[^1]).RootElement;
        Assert.Equal(500, last.GetProperty("index").GetInt32());
        Assert.Equal(JsonValueKind.String, last.GetProperty("generated_text").ValueKind);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        await p.WaitForExitAsync(timeout.Token);
        Assert.Equal(0, p.ExitCode);
        // The request log: one JSON object per line on stdout.
        var request = (await p.StandardOutput.ReadToEndAsync(Ct)).Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('{'))
            .Select(l => JsonDocument.Parse(l).RootElement).Single(e => e.GetProperty("Category").GetString() == "Quanta.Server.Requests");
        var state = request.GetProperty("State");
        Assert.Equal(("/generate_stream", 200, 500), (state.GetProperty("Route").GetString(), state.GetProperty("Status").GetInt32(),
                                                      state.GetProperty("GeneratedTokens").GetInt32()));
    }
}
