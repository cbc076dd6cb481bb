using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

public sealed class FaultTests
{
    private const string Url = "/acme/f/resolve/main/data.bin";
    private const int Size = 200_000;
    private static readonly SyntheticContent Content = SyntheticContent.Create(Size, seed: 11);

    private static InMemoryRepoStore Store(HubFaults? repoFaults = null, ResolveMode mode = ResolveMode.Direct) =>
        new InMemoryRepoStore()
            .AddRepo(RepoType.Model, "acme/f", r => r
                .File("data.bin", Content)
                .File("other.bin", SyntheticContent.Create(Size, seed: 12))
                .Settings(s => s with { ResolveMode = mode, Faults = repoFaults }))
            .AddRepo(RepoType.Model, "acme/clean", r => r.File("data.bin", Content).Settings(s => s with { ResolveMode = mode }));

    private static Task<HubServer> StartAsync(HubFaults faults, InMemoryRepoStore? store = null, TimeProvider? clock = null) =>
        HubTestKit.StartAsync(store ?? Store(), o => o with { Faults = faults, TimeProvider = clock ?? TimeProvider.System });

    /// <summary>Reads a body as far as it goes; returns the bytes and whether it ended in an error.</summary>
    private static async Task<(byte[] Bytes, bool Failed, HttpStatusCode Status)> ReadAsync(HttpClient client, string url, string? range = null, CancellationToken cancellationToken = default)
    {
        using var request = HubTestKit.Request(HttpMethod.Get, url, range: range);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var received = new MemoryStream();
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            await body.CopyToAsync(received, cancellationToken);
            return (received.ToArray(), false, response.StatusCode);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return (received.ToArray(), true, response.StatusCode);
        }
    }

    [Theory]
    [InlineData(ResolveMode.Direct)]
    [InlineData(ResolveMode.Cdn)]
    public async Task An_unservable_file_stays_in_the_listing_while_its_resolve_answers_404_entry_not_found(ResolveMode mode)
    {
        await using var server = await StartAsync(HubFaults.None, Store(HubFaults.None with { UnservableFiles = ["data.bin"] }, mode));
        using var client = HubTestKit.Client(server);

        using var tree = await client.SendAsync(HttpMethod.Get, "/api/models/acme/f/tree/main");
        using var resolve = await client.SendAsync(HttpMethod.Get, Url);
        using var other = await client.SendAsync(HttpMethod.Head, "/acme/f/resolve/main/other.bin");

        Assert.Contains("data.bin", (await tree.JsonAsync()).EnumerateArray().Select(e => e.GetProperty("path").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, resolve.StatusCode);
        Assert.Equal("EntryNotFound", resolve.Header("X-Error-Code"));
        Assert.Matches("^[0-9a-f]{40}$", resolve.Header("X-Repo-Commit"));
        Assert.True(other.StatusCode is HttpStatusCode.OK or HttpStatusCode.Found, other.StatusCode.ToString());
    }

    [Fact]
    public async Task Dropped_connection_cuts_the_first_transfer_of_a_file_only()
    {
        await using var server = await StartAsync(HubFaults.None with { DropConnection = new DropConnectionFault(AfterBytes: 70_000) });
        using var client = HubTestKit.Client(server);

        var first = await ReadAsync(client, Url);
        var second = await ReadAsync(client, Url);
        var otherFile = await ReadAsync(client, "/acme/f/resolve/main/other.bin");

        Assert.True(first.Failed);
        Assert.Equal(70_000, first.Bytes.Length);
        Assert.Equal(Content.ToArray().AsSpan(0, 70_000).ToArray(), first.Bytes);
        Assert.False(second.Failed);
        Assert.Equal(Content.ToArray(), second.Bytes);
        Assert.True(otherFile.Failed);
        var logged = await server.Requests.WaitForAsync(r => r.Aborted, TimeSpan.FromSeconds(10));
        Assert.Equal(70_000, logged.BodyBytesSent);
    }

    [Fact]
    public async Task Dropped_connection_every_time_or_at_random_is_deterministic_for_a_seed()
    {
        await using var always = await StartAsync(HubFaults.None with { DropConnection = new DropConnectionFault(1000) { Repeat = FaultRepeat.Always } });
        using var alwaysClient = HubTestKit.Client(always);
        Assert.True((await ReadAsync(alwaysClient, Url)).Failed);
        Assert.True((await ReadAsync(alwaysClient, Url)).Failed);

        async Task<string> PatternAsync()
        {
            await using var server = await StartAsync(HubFaults.None with { Seed = 7, DropConnection = new DropConnectionFault(1000) { Repeat = FaultRepeat.Random, Probability = 0.5 } });
            using var client = HubTestKit.Client(server);
            var pattern = "";
            for (var i = 0; i < 12; i++)
            {
                pattern += (await ReadAsync(client, Url)).Failed ? "x" : ".";
            }
            return pattern;
        }
        var one = await PatternAsync();
        Assert.Equal(one, await PatternAsync());
        Assert.Contains("x", one);
        Assert.Contains(".", one);
    }

    [Theory]
    [InlineData(503)]
    [InlineData(500)]
    public async Task Server_errors_answer_the_first_requests_then_recover(int status)
    {
        await using var server = await StartAsync(HubFaults.None with { ServerErrors = new StatusFault(status) { FirstRequests = 2 } });
        using var client = HubTestKit.Client(server);

        var statuses = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.SendAsync(HttpMethod.Get, Url);
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal([status, status, 200], statuses);
        Assert.All(server.Requests.Snapshot(), r => Assert.Equal("127.0.0.1:" + server.Endpoint.Port, r.Headers["Host"]));
    }

    [Fact]
    public async Task Server_errors_can_target_the_cdn_only()
    {
        await using var server = await StartAsync(
            HubFaults.None with { ServerErrors = new StatusFault(502) { FirstRequests = 1, Targets = FaultTargets.Cdn } },
            Store(mode: ResolveMode.Cdn));
        using var client = HubTestKit.Client(server);

        using var redirect = await client.SendAsync(HttpMethod.Get, Url);
        using var cdnFirst = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri);
        using var cdnSecond = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri);

        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        Assert.Equal(HttpStatusCode.BadGateway, cdnFirst.StatusCode);
        Assert.Equal(HttpStatusCode.OK, cdnSecond.StatusCode);
    }

    [Fact]
    public async Task Rate_limit_answers_429_with_retry_after_and_an_empty_quota()
    {
        await using var server = await StartAsync(HubFaults.None with { TooManyRequests = new RateLimitFault { FirstRequests = 1, RetryAfterSeconds = 7 } });
        using var client = HubTestKit.Client(server);

        using var limited = await client.SendAsync(HttpMethod.Get, "/api/models/acme/f/tree/main");
        using var next = await client.SendAsync(HttpMethod.Get, "/api/models/acme/f/tree/main");

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("7", limited.Header("Retry-After"));
        Assert.Equal("\"api\";r=0;t=7", limited.Header("RateLimit"));
        Assert.True((await limited.JsonAsync()).TryGetProperty("error", out _));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task Per_repo_faults_replace_the_global_ones()
    {
        var store = Store(repoFaults: HubFaults.None with { ServerErrors = new StatusFault(503) { FirstRequests = 100 } });
        await using var server = await StartAsync(HubFaults.None, store);
        using var client = HubTestKit.Client(server);

        using var faulty = await client.SendAsync(HttpMethod.Get, Url);
        using var clean = await client.SendAsync(HttpMethod.Get, "/acme/clean/resolve/main/data.bin");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, faulty.StatusCode);
        Assert.Equal(HttpStatusCode.OK, clean.StatusCode);
    }

    [Fact]
    public async Task Ignored_range_answers_200_with_the_whole_body()
    {
        await using var server = await StartAsync(HubFaults.None with { IgnoreRange = true });
        using var client = HubTestKit.Client(server);

        var (bytes, failed, status) = await ReadAsync(client, Url, range: "bytes=100-199");

        Assert.False(failed);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Size, bytes.Length);
    }

    [Fact]
    public async Task Content_length_larger_than_the_body_ends_in_a_cut_connection()
    {
        await using var server = await StartAsync(HubFaults.None with { WrongContentLength = new ContentLengthFault(+10) });
        using var client = HubTestKit.Client(server);

        var (bytes, failed, _) = await ReadAsync(client, Url);

        Assert.True(failed);
        Assert.Equal(Size, bytes.Length);
    }

    [Fact]
    public async Task Content_length_smaller_than_the_body_sends_only_the_announced_bytes()
    {
        await using var server = await StartAsync(HubFaults.None with { WrongContentLength = new ContentLengthFault(-10) });
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, Url);
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(Size - 10, response.Content.Headers.ContentLength);
        Assert.Equal(Size - 10, bytes.Length);
    }

    [Fact]
    public async Task Corruption_flips_one_byte_at_the_file_offset_also_inside_ranges()
    {
        await using var server = await StartAsync(HubFaults.None with { Corrupt = new CorruptionFault(Offset: 150_000) });
        using var client = HubTestKit.Client(server);
        var expected = Content.ToArray();

        var whole = await ReadAsync(client, Url);
        var part = await ReadAsync(client, Url, range: "bytes=149990-150009");

        var differences = Enumerable.Range(0, Size).Where(i => whole.Bytes[i] != expected[i]).ToList();
        Assert.Equal([150_000], differences);
        Assert.Equal((byte)(expected[150_000] ^ 0xFF), whole.Bytes[150_000]);
        Assert.Equal((byte)(expected[150_000] ^ 0xFF), part.Bytes[10]);
        using var head = await client.SendAsync(HttpMethod.Head, Url);
        Assert.Equal($"\"{Content.Sha256}\"", head.Headers.ETag!.ToString());
    }

    [Fact]
    public async Task Stall_pauses_the_body_then_resumes()
    {
        await using var server = await StartAsync(HubFaults.None with { Stall = new StallFault(AfterBytes: 50_000) { Duration = TimeSpan.FromMilliseconds(400) } });
        using var client = HubTestKit.Client(server);
        var watch = Stopwatch.StartNew();

        var (bytes, failed, _) = await ReadAsync(client, Url);

        Assert.False(failed);
        Assert.Equal(Content.ToArray(), bytes);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(350), watch.Elapsed.ToString());
    }

    [Fact]
    public async Task Stall_forever_holds_the_body_until_the_client_gives_up()
    {
        await using var server = await StartAsync(HubFaults.None with { Stall = new StallFault(AfterBytes: 30_000) });
        using var client = HubTestKit.Client(server);
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadAsync(client, Url, cancellationToken: giveUp.Token));

        var logged = await server.Requests.WaitForAsync(r => r.PathAndQuery == Url && r.Aborted, TimeSpan.FromSeconds(10));
        Assert.Equal(30_000, logged.BodyBytesSent);
    }

    [Fact]
    public async Task Latency_delays_every_response()
    {
        await using var server = await StartAsync(HubFaults.None with { Latency = TimeSpan.FromMilliseconds(300) });
        using var client = HubTestKit.Client(server);
        var watch = Stopwatch.StartNew();

        using var response = await client.SendAsync(HttpMethod.Get, "/api/models/acme/f");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(290), watch.Elapsed.ToString());
    }

    [Fact]
    public async Task Per_connection_cap_limits_throughput()
    {
        await using var server = await StartAsync(HubFaults.None with { PerConnectionBytesPerSecond = 250_000 });
        using var client = HubTestKit.Client(server);
        var watch = Stopwatch.StartNew();

        var (bytes, _, _) = await ReadAsync(client, Url);

        // 200 kB at 250 kB/s, less the initial burst of 1/20 s: at least ~0.7 s.
        Assert.Equal(Size, bytes.Length);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(700), watch.Elapsed.ToString());
    }

    [Fact]
    public async Task Global_cap_is_shared_by_all_connections()
    {
        await using var server = await StartAsync(HubFaults.None with { GlobalBytesPerSecond = 500_000 });
        var watch = Stopwatch.StartNew();

        var downloads = Enumerable.Range(0, 3).Select(async _ =>
        {
            using var client = HubTestKit.Client(server);
            return (await ReadAsync(client, Url)).Bytes.Length;
        }).ToList();
        var sizes = await Task.WhenAll(downloads);

        // 600 kB through one 500 kB/s bucket: at least ~1.1 s, whatever the number of connections.
        Assert.All(sizes, s => Assert.Equal(Size, s));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(1100), watch.Elapsed.ToString());
        Assert.Equal(3L * Size, server.Requests.Snapshot().Sum(r => r.BodyBytesSent));
    }

    [Fact]
    public async Task Signed_urls_expire_after_the_fault_lifetime()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(HubFaults.None with { SignedUrlLifetime = TimeSpan.FromSeconds(5) }, Store(mode: ResolveMode.Cdn), clock);
        using var client = HubTestKit.Client(server);
        using var redirect = await client.SendAsync(HttpMethod.Get, Url);

        clock.Advance(TimeSpan.FromSeconds(6));
        using var expired = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri);

        Assert.Equal(HttpStatusCode.Forbidden, expired.StatusCode);
    }

    [Fact]
    public async Task Request_log_counts_the_body_bytes_of_ranges()
    {
        await using var server = await StartAsync(HubFaults.None);
        using var client = HubTestKit.Client(server);

        await ReadAsync(client, Url, range: "bytes=1000-1999");

        var logged = Assert.Single(server.Requests.Snapshot());
        Assert.Equal(("hub", "GET", 206, 1000L, "bytes=1000-1999"), (logged.Listener, logged.Method, logged.StatusCode, logged.BodyBytesSent, logged.Range));
    }

    [Fact]
    public void Folder_settings_can_declare_faults()
    {
        using var document = JsonDocument.Parse("""
            {"perConnectionBytesPerSecond": 1000, "latencyMs": 5, "ignoreRange": true, "seed": 3,
             "dropConnection": {"afterBytes": 10, "repeat": "always"}, "stall": {"afterBytes": 20, "durationMs": 100},
             "serverErrors": {"statusCode": 500, "firstRequests": 2, "targets": "cdn"},
             "tooManyRequests": {"firstRequests": 1, "retryAfterSeconds": 3}, "corrupt": {"offset": 4},
             "contentLengthDelta": -1, "signedUrlLifetimeSeconds": 30}
            """);

        var faults = HubFaultsJson.Read(document.RootElement, "test");

        Assert.Equal(1000, faults.PerConnectionBytesPerSecond);
        Assert.Equal(FaultRepeat.Always, faults.DropConnection!.Repeat);
        Assert.Equal(TimeSpan.FromMilliseconds(100), faults.Stall!.Duration);
        Assert.Equal(FaultTargets.Cdn, faults.ServerErrors!.Targets);
        Assert.Equal(3, faults.TooManyRequests!.RetryAfterSeconds);
        Assert.Equal(4, faults.Corrupt!.Offset);
        Assert.Equal(-1, faults.WrongContentLength!.Delta);
        Assert.Equal(TimeSpan.FromSeconds(30), faults.SignedUrlLifetime);
    }

    [Fact]
    public async Task Gzip_when_accepted_compresses_chunks_and_ignores_range_like_cloudfront()
    {
        await using var server = await StartAsync(HubFaults.None with { GzipWhenAccepted = true });
        using var client = HubTestKit.Client(server);
        using var request = HubTestKit.Request(HttpMethod.Get, Url, range: "bytes=0-99");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate");

        using var gzipped = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var identity = await client.SendAsync(HttpMethod.Get, Url, range: "bytes=0-99");

        Assert.Equal(HttpStatusCode.OK, gzipped.StatusCode);
        Assert.Equal("gzip", gzipped.Content.Headers.ContentEncoding.Single());
        Assert.True(gzipped.Headers.TransferEncodingChunked);
        await using var unzip = new System.IO.Compression.GZipStream(await gzipped.Content.ReadAsStreamAsync(), System.IO.Compression.CompressionMode.Decompress);
        var decompressed = new MemoryStream();
        await unzip.CopyToAsync(decompressed);
        Assert.Equal(Content.ToArray(), decompressed.ToArray());
        Assert.Equal(HttpStatusCode.PartialContent, identity.StatusCode);
    }
}
