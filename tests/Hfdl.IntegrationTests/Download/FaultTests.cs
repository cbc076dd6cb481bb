using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Hfdl.Core.Progress;

namespace Hfdl.IntegrationTests.Download;

/// <summary>Every fault a real network or server produces ends with bit-exact files and nothing corrupt under a final name.</summary>
public sealed class FaultTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static InMemoryRepoStore Store(HubFaults faults, ResolveMode mode = ResolveMode.Realistic) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/faulty", repo => repo
            .File("config.json", "{\"a\":1}\n")
            .File("small.bin", SyntheticContent.Create(300_000, seed: 21))
            .File("big.safetensors", SyntheticContent.Create(6L * 1024 * 1024 + 17, seed: 22))
            .Settings(s => s with { ResolveMode = mode, Faults = faults }));

    private static Core.Transfer.DownloadOptions BigAt1MB => Engine.FastOptions with { BigFileThreshold = 1_000_000, ChunkSize = 1024 * 1024 };

    private async Task<(HubServer Server, InMemoryRepoStore Store)> StartAsync(HubFaults faults, ResolveMode mode = ResolveMode.Realistic)
    {
        var store = Store(faults, mode);
        return (await HubServer.StartAsync(new HubServerOptions { Store = store }), store);
    }

    [Fact]
    public async Task A_server_that_corrupts_bytes_leaves_no_final_file_and_the_cli_exits_non_zero()
    {
        var (server, store) = await StartAsync(HubFaults.None with { Corrupt = new CorruptionFault(Offset: 1000) });
        await using var _ = server;

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/faulty", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("small.bin", result.Error, StringComparison.Ordinal);
        Assert.Contains("big.safetensors", result.Error, StringComparison.Ordinal);
        RepoAssert.NoFinalFile(_temp.Combine("out"), "small.bin");
        RepoAssert.NoFinalFile(_temp.Combine("out"), "big.safetensors");
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"), only: ["config.json"]);
        Assert.DoesNotContain(RepoAssert.ListFiles(_temp.Combine("out")), f => f.EndsWith(".hfdl-part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_listed_file_the_hub_cannot_serve_is_reported_as_the_hubs_problem_not_as_a_wrong_name()
    {
        // On the real Hub, a file whose storage object is missing is in the listing but its resolve answers 404
        // EntryNotFound; the message said "does not exist ... Check the file name in the repo's file list" (QA: helper-50).
        var (server, store) = await StartAsync(HubFaults.None with { UnservableFiles = ["config.json", "big.safetensors"] });
        await using var _ = server;

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/faulty", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1");

        Assert.True(result.ExitCode == 1, result.ToString());
        foreach (var name in new[] { "config.json", "big.safetensors" })
        {
            Assert.Contains($"The Hub lists '{name}' in model 'acme/faulty' at commit '", result.Error, StringComparison.Ordinal);
        }
        Assert.Contains("but answered 404 when asked for it: the problem is on the Hub's side, not in the file name. Try again later", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Check the file name", result.Error, StringComparison.Ordinal);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"), only: ["small.bin"]);
    }

    [Theory]
    [InlineData(404, "answered 404 Not Found for 'small.bin' of model 'acme/faulty'. The Hub lists the file, so the problem is on the Hub's side, not in the file name.")]
    [InlineData(500, "answered 500 Internal Server Error for 'small.bin' of model 'acme/faulty'. The server may be having trouble; try again later.")]
    public async Task An_error_from_the_cdn_is_reported_as_the_cdns_not_as_the_hubs(int status, string said)
    {
        // The CDN's 404 was reported as "The Hub answered 404 Not Found ... Check the name, revision and repo type",
        // and its 5xx as the Hub's, though the Hub had answered and listed the file (left open by stop 29).
        var (server, store) = await StartAsync(HubFaults.None with { ServerErrors = new StatusFault(status) { FirstRequests = 1000, Targets = FaultTargets.Cdn } });
        await using var _ = server;

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(2, summary.FilesFailed);
        foreach (var path in new[] { "small.bin", "big.safetensors" })
        {
            var error = Assert.Single(events.OfType<FileFailed>(), f => f.Path == path).Error;
            Assert.True(error.Contains($"The download server {server.CdnEndpoint.GetLeftPart(UriPartial.Authority)}, where the Hub sent hfdl for it, {said.Replace("small.bin", path, StringComparison.Ordinal)}", StringComparison.Ordinal), error);
            Assert.DoesNotContain("The Hub answered", error, StringComparison.Ordinal);
            Assert.DoesNotContain("Check the name", error, StringComparison.Ordinal);
        }
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"), only: ["config.json"]);
    }

    [Fact]
    public async Task Bytes_corrupted_once_are_fetched_again_and_the_file_ends_right()
    {
        var (server, store) = await StartAsync(HubFaults.None with { Corrupt = new CorruptionFault(Offset: 5000) { Repeat = FaultRepeat.OncePerFile } });
        await using var _ = server;

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
        Assert.Contains(events, e => e is FileRetrying { Reason: var reason } && reason.Contains("hash", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_dropped_connection_resumes_from_the_last_byte()
    {
        var (server, store) = await StartAsync(HubFaults.None with { DropConnection = new DropConnectionFault(AfterBytes: 150_000) });
        await using var _ = server;

        var (summary, _) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
        var total = store.MainSnapshot(RepoType.Model, "acme/faulty").Files.Sum(f => f.Content.Length);
        Assert.True(server.Requests.TotalBodyBytesSent < total + 2_000_000, $"sent {server.Requests.TotalBodyBytesSent} for {total}");
    }

    [Fact]
    public async Task A_stalled_connection_is_replaced_and_the_file_completes()
    {
        var (server, store) = await StartAsync(HubFaults.None with { Stall = new StallFault(AfterBytes: 100_000) });
        await using var _ = server;

        var (summary, _) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB, readTimeout: TimeSpan.FromSeconds(1));

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
    }

    [Fact]
    public async Task A_cdn_that_accepts_a_ranged_request_and_never_answers_is_timed_out_and_the_segment_fetched_again()
    {
        var (server, store) = await StartAsync(HubFaults.None with { Silence = new SilenceFault { FirstRequests = 1 } });
        await using var _ = server;
        // Before the response-header timeout covered segments, this download never ended.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB, readTimeout: TimeSpan.FromSeconds(1), cancellationToken: deadline.Token);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
        Assert.Single(server.Requests.Snapshot(), r => r.Listener == "cdn" && r.Range is not null && r.Aborted && r.BodyBytesSent == 0);
        Assert.Contains(events, e => e is FileRetrying { Path: "big.safetensors" } retry && retry.Reason.Contains("no response", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_that_sends_only_a_small_part_per_attempt_cannot_keep_a_file_retrying()
    {
        // Every response stops after 128 KiB and stays silent: each attempt delivers a little, which used to reset
        // the retry budget, so a file of gigabytes kept retrying (one read timeout per 128 KiB) for days. A 1 MiB
        // segment needs 8 such attempts; 6 in a row without real progress are allowed.
        var (server, store) = await StartAsync(HubFaults.None with { Stall = new StallFault(AfterBytes: 128 * 1024) { Repeat = FaultRepeat.Always } });
        await using var _ = server;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB, readTimeout: TimeSpan.FromMilliseconds(300), cancellationToken: deadline.Token);

        Assert.Equal(1, summary.FilesFailed);
        var failed = Assert.Single(events.OfType<FileFailed>());
        Assert.Equal("big.safetensors", failed.Path);
        Assert.Contains("kept cutting the transfer of 'big.safetensors' short", failed.Error, StringComparison.Ordinal);
        // Each connection gave up after its retries (Polly's budget of 5 after the first attempt), not after 6 MB / 128 KiB requests.
        var attempts = server.Requests.Snapshot().Count(r => r.Listener == "cdn" && r.PathAndQuery.Contains("big.safetensors", StringComparison.Ordinal));
        Assert.InRange(attempts, 6, 4 * 6);
        RepoAssert.NoFinalFile(_temp.Combine("out"), "big.safetensors");
        // A smaller file whose attempts each deliver a good part of what is left still completes.
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"), only: ["config.json", "small.bin"]);
    }

    [Fact]
    public async Task A_server_that_ignores_range_still_yields_correct_files()
    {
        var (server, store) = await StartAsync(HubFaults.None with { IgnoreRange = true, DropConnection = new DropConnectionFault(AfterBytes: 200_000) });
        await using var _ = server;

        var (summary, _) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
    }

    [Fact]
    public async Task A_server_that_answers_a_resumed_range_with_the_whole_file_cut_at_the_same_place_is_retried_with_pauses_then_given_up()
    {
        // Every answer is cut after 200 kB, and a resume (Range from there) gets the file from its start again: the
        // 200 kB it "delivers" were on disk already. That counted as progress, so the file was retried at once, with
        // no pause and no retry line, over a hundred times a second until the run's budget ran out.
        var (server, _) = await StartAsync(HubFaults.None with { IgnoreRange = true, DropConnection = new DropConnectionFault(AfterBytes: 200_000) { Repeat = FaultRepeat.Always } });
        await using var _ = server;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), cancellationToken: deadline.Token);

        Assert.Equal(2, summary.FilesFailed);
        var attempts = server.Requests.Snapshot().Count(r => r.Listener == "cdn" && r.PathAndQuery.Contains("small.bin", StringComparison.Ordinal));
        Assert.InRange(attempts, 2, 12);
        Assert.Contains(events, e => e is FileRetrying { Path: "small.bin" });
        var failure = Assert.Single(events.OfType<FileFailed>(), f => f.Path == "small.bin").Error;
        Assert.Contains("The response ended prematurely", failure, StringComparison.Ordinal);
        // .NET's error code name ("(ResponseEnded)") says nothing to a user.
        Assert.DoesNotContain("(ResponseEnded)", failure, StringComparison.Ordinal);
        Assert.All(events.OfType<FileRetrying>(), r => Assert.DoesNotContain("(ResponseEnded)", r.Reason, StringComparison.Ordinal));
        RepoAssert.NoFinalFile(_temp.Combine("out"), "small.bin");
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    public async Task Server_errors_are_retried(int status)
    {
        var (server, store) = await StartAsync(HubFaults.None with { ServerErrors = new StatusFault(status) { FirstRequests = 3, Targets = FaultTargets.Files } });
        await using var _ = server;

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
        Assert.Contains(events, e => e is FileRetrying);
    }

    [Fact]
    public async Task A_429_waits_as_the_server_says_and_then_succeeds()
    {
        var (server, store) = await StartAsync(HubFaults.None with { TooManyRequests = new RateLimitFault { FirstRequests = 1, RetryAfterSeconds = 1, Targets = FaultTargets.Files } });
        await using var _ = server;

        var (summary, events) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
        // The 429 strikes a file's GET, or the HEAD that resolves a big file's URL (a metadata call, retried on its own).
        var delay = Assert.Single(events.OfType<FileRetrying>().Select(r => r.Delay).Concat(events.OfType<RequestRetrying>().Select(r => r.Delay)));
        Assert.True(delay >= TimeSpan.FromSeconds(2), $"a 429 with RateLimit t=1 waits t+1 s, not {delay}");
    }

    [Fact]
    public async Task Expired_cdn_urls_are_resolved_again()
    {
        var (server, store) = await StartAsync(
            HubFaults.None with { SignedUrlLifetime = TimeSpan.FromMilliseconds(300), PerConnectionBytesPerSecond = 2_000_000 },
            ResolveMode.Cdn);
        await using var _ = server;

        var (summary, _) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB with { Threads = 2 });

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
        Assert.Contains(server.Requests.Snapshot(), r => r.Listener == "cdn" && r.StatusCode == 403);
    }

    [Fact]
    public async Task A_body_shorter_than_its_content_length_is_retried_and_ends_right()
    {
        var (server, store) = await StartAsync(HubFaults.None with { WrongContentLength = new ContentLengthFault(Delta: 1000) { Repeat = FaultRepeat.OncePerFile } });
        await using var _ = server;

        var (summary, _) = await Engine.DownloadAsync(server, "acme/faulty", _temp.Combine("out"), BigAt1MB);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/faulty"), _temp.Combine("out"));
    }
}
