using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Xet;

/// <summary>Every Xet fault of the hub either recovers within Xet or falls back to plain HTTPS; never a wrong file.</summary>
public sealed class XetFallbackTests
{
    private static readonly byte[] Weights = XetContent.Mixed(3_000_000, seed: 41);

    private static Task<HubServer> StartAsync(HubFaults faults, string? privateToken = null) =>
        HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("config.json", "{}\n")
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true, Faults = faults, Private = privateToken is not null, AllowedTokens = privateToken is null ? [] : [privateToken] })),
            o => o with { Xet = o.Xet with { MaxXorbChunks = 6 } });

    private static IEnumerable<RecordedRequest> Cas(HubServer server) => server.Requests.Snapshot().Where(r => r.Listener == "cas");

    private static async Task<(DownloadSummary Summary, List<DownloadEvent> Events)> DownloadAsync(HubServer server, TempFolder target, TempFolder cache, string? token = null) =>
        await Engine.DownloadAsync(server, "acme/xet", target.Path, XetDownloadTests.Options(cache.Path), token: token);

    private static void AssertFallback(HubServer server, TempFolder target, DownloadSummary summary, List<DownloadEvent> events)
    {
        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        var warning = Assert.Single(events.OfType<Warning>());
        Assert.StartsWith("Native Xet failed for 'model.safetensors' (", warning.Message, StringComparison.Ordinal);
        Assert.EndsWith("); hfdl fetches the rest of it over plain HTTPS.", warning.Message, StringComparison.Ordinal);
        Assert.True(XetDownloadTests.BridgeBytes(server) > 0, "the plain-HTTPS bridge served the rest");
        Assert.Empty(Directory.GetFiles(target.Path, "*.hfdl-part", SearchOption.AllDirectories));
    }

    private static void AssertRecovered(HubServer server, TempFolder target, DownloadSummary summary, List<DownloadEvent> events)
    {
        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.Equal(0, XetDownloadTests.BridgeBytes(server));
    }

    [Fact]
    public async Task Stopping_the_run_during_a_xet_transfer_is_not_reported_as_a_xet_failure()
    {
        // One xorb, so the file is one unit: in flight when the run stops, with nothing left to hand out. Cutting it
        // short left bytes unwritten, which was taken for a reconstruction that skipped some.
        await using var server = await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet-stop", r => r
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true, Faults = HubFaults.None with { PerConnectionBytesPerSecond = 200_000 } })));
        using var target = new TempFolder();
        using var cache = new TempFolder();
        using var stop = new CancellationTokenSource();
        var warnings = new System.Collections.Concurrent.ConcurrentQueue<Warning>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Engine.DownloadAsync(server, "acme/xet-stop", target.Path, XetDownloadTests.Options(cache.Path),
            cancellationToken: stop.Token,
            onEvent: e =>
            {
                if (e is Warning warning)
                {
                    warnings.Enqueue(warning);
                }
                else if (e is FileProgress { Path: "model.safetensors", BytesDone: > 0 })
                {
                    // As Ctrl+C does, from another thread than the transfer's.
                    ThreadPool.QueueUserWorkItem(_ => stop.Cancel());
                }
            }));

        Assert.Empty(warnings);
        Assert.True(XetDownloadTests.XorbBytes(server) > 0, "the file was on its way over Xet");
        Assert.Equal(0, XetDownloadTests.BridgeBytes(server));
    }

    [Fact]
    public async Task A_401_on_the_reconstruction_renews_the_read_token_and_goes_on()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { UnauthorizedReconstructions = 1 } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        AssertRecovered(server, target, summary, events);
        Assert.Equal(2, server.Requests.Snapshot().Count(r => r.PathAndQuery.Contains("/xet-read-token/", StringComparison.Ordinal)));
        Assert.Equal([401, 200], Cas(server).Select(r => r.StatusCode));
    }

    [Fact]
    public async Task A_cas_that_keeps_refusing_the_token_makes_the_file_fall_back_to_plain_https()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { UnauthorizedReconstructions = 1000 } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        AssertFallback(server, target, summary, events);
        Assert.Equal(3, Cas(server).Count());
    }

    [Fact]
    public async Task A_hub_that_refuses_the_xet_read_token_makes_the_file_fall_back_to_plain_https()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { RefuseTokens = true } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        AssertFallback(server, target, summary, events);
        Assert.Empty(Cas(server));
    }

    [Fact]
    public async Task Expired_xorb_urls_are_renewed_from_a_fresh_reconstruction()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { ExpiredXorbUrls = 2 } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, XetDownloadTests.Options(cache.Path) with { Threads = 2 });

        AssertRecovered(server, target, summary, events);
        Assert.Contains(server.Requests.Snapshot(), r => r.Listener == "cdn" && r.StatusCode == 403);
        Assert.True(Cas(server).Count() >= 2, "the reconstruction was asked for again");
    }

    [Fact]
    public async Task A_connection_dropped_mid_xorb_range_is_retried_with_the_whole_signed_range()
    {
        await using var server = await StartAsync(HubFaults.None with { DropConnection = new DropConnectionFault(AfterBytes: 40_000) });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        AssertRecovered(server, target, summary, events);
        var xorbs = server.Requests.Snapshot().Where(r => r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).ToList();
        Assert.Contains(xorbs, r => r.Aborted);
        // Each request names exactly the range its URL was signed for, retries included: a signed range is never resumed mid-way.
        Assert.All(xorbs, r => Assert.Contains(Uri.EscapeDataString(r.Range!), r.PathAndQuery, StringComparison.Ordinal));
        Assert.Contains(events, e => e is FileRetrying);
    }

    [Fact]
    public async Task A_xorb_server_that_cuts_every_range_short_is_retried_with_pauses_and_the_file_falls_back_instead_of_a_retry_storm()
    {
        // Every answer is cut after 300 kB. A unit is fetched whole again on each attempt, so its first 300 kB came
        // every time and counted as progress: the same signed range was asked for again at once, dozens of times a
        // second (QA saw 24 GB pulled for an 8 MB file). Bytes had already are not progress: pauses, then plain HTTPS.
        await using var server = await StartAsync(HubFaults.None with { DropConnection = new DropConnectionFault(AfterBytes: 300_000) { Repeat = FaultRepeat.Always } });
        using var target = new TempFolder();
        using var cache = new TempFolder();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, XetDownloadTests.Options(cache.Path), cancellationToken: deadline.Token);

        AssertFallback(server, target, summary, events);
        var xorbs = server.Requests.Snapshot().Count(r => r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal) && r.Aborted);
        Assert.InRange(xorbs, 1, 40);
        Assert.Contains(events, e => e is FileRetrying { Path: "model.safetensors" });
    }

    public static TheoryData<string, string> CdnFaults => new()
    {
        { "contentLength", "The server's answer for bytes 0-" },
        { "drop", "The server kept cutting the transfer of 'model.safetensors' short" },
        { "ignoreRange", "The server ignored the range request for bytes 0-" },
    };

    [Theory]
    [MemberData(nameof(CdnFaults))]
    public async Task The_fallback_warning_of_a_file_of_one_xet_unit_names_the_transfer_failure_that_left_its_bytes_unwritten(string fault, string cause)
    {
        // One xorb: the file is one unit, and its failure left nothing in flight. The check for a finished file ran
        // first and blamed the reconstruction for the unwritten bytes (QA saw that for all three faults).
        var faults = fault switch
        {
            "contentLength" => HubFaults.None with { WrongContentLength = new ContentLengthFault(-1000) },
            "drop" => HubFaults.None with { DropConnection = new DropConnectionFault(AfterBytes: 300_000) { Repeat = FaultRepeat.Always } },
            _ => HubFaults.None with { IgnoreRange = true },
        };
        await using var server = await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet-one", r => r
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true, Faults = faults })));
        using var target = new TempFolder();
        using var cache = new TempFolder();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        var (_, events) = await Engine.DownloadAsync(server, "acme/xet-one", target.Path, XetDownloadTests.Options(cache.Path), cancellationToken: deadline.Token);

        Assert.Single(server.Requests.Snapshot().Where(r => r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).Select(r => r.PathAndQuery).Distinct());
        var warning = Assert.Single(events.OfType<Warning>());
        Assert.True(warning.Message.StartsWith($"Native Xet failed for 'model.safetensors' ({cause}", StringComparison.Ordinal), warning.Message);
        Assert.DoesNotContain("Exception", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_xorb_range_refused_with_503_is_retried_naming_the_xet_storage_not_the_hub()
    {
        await using var server = await StartAsync(HubFaults.None with { ServerErrors = new StatusFault(503) { FirstRequests = 4, Targets = FaultTargets.Cdn } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        AssertRecovered(server, target, summary, events);
        var retries = events.OfType<FileRetrying>().ToList();
        Assert.NotEmpty(retries);
        var storage = $"The Xet storage at {server.CdnEndpoint.GetLeftPart(UriPartial.Authority)} answered 503 Service Unavailable for xorb ";
        Assert.All(retries, r => Assert.StartsWith(storage, r.Reason, StringComparison.Ordinal));
        Assert.All(retries, r => Assert.Contains(" of 'model.safetensors'. The server may be having trouble; try again later.", r.Reason, StringComparison.Ordinal));
        Assert.All(retries, r => Assert.Equal(503, r.ServerStatus));
    }

    [Fact]
    public async Task A_corrupt_xorb_range_never_reaches_the_final_name()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { CorruptXorbRanges = true } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.True(XetDownloadTests.BridgeBytes(server) > 0, "the plain-HTTPS bridge served it in the end");
        // A flipped byte either breaks a chunk's decoding (a fallback) or decodes to wrong bytes the sha256 catches
        // (the second attempt goes plain): either way the cache keeps nothing the server sent.
        Assert.True(events.OfType<Warning>().Any() || events.OfType<FileRetrying>().Any(r => r.Reason.Contains("did not match", StringComparison.Ordinal)));
        Assert.Empty(Directory.Exists(Path.Combine(cache.Path, "hfdl-chunks")) ? Directory.GetFiles(Path.Combine(cache.Path, "hfdl-chunks"), "*-*", SearchOption.AllDirectories) : []);
    }

    [Theory]
    [InlineData(XetReconstructionLie.ByteRange)]
    [InlineData(XetReconstructionLie.UnpackedLength)]
    public async Task A_reconstruction_that_lies_about_lengths_never_reaches_the_final_name(XetReconstructionLie lie)
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { Lie = lie } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache);

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.True(XetDownloadTests.BridgeBytes(server) > 0);
        Assert.Contains(events, e => e is Warning w && w.Message.StartsWith("Native Xet failed for 'model.safetensors'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_hub_token_goes_to_the_hub_only_the_cas_gets_the_xet_token_and_xorb_urls_nothing()
    {
        await using var server = await StartAsync(HubFaults.None, privateToken: HubTestKit.ValidToken);
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await DownloadAsync(server, target, cache, token: HubTestKit.ValidToken);

        AssertRecovered(server, target, summary, events);
        var requests = server.Requests.Snapshot();
        Assert.All(requests.Where(r => r.Listener == "hub"), r => Assert.Equal($"Bearer {HubTestKit.ValidToken}", r.Authorization));
        Assert.All(requests.Where(r => r.Listener == "cas"), r => Assert.StartsWith("Bearer xet_", r.Authorization, StringComparison.Ordinal));
        Assert.All(requests.Where(r => r.Listener == "cdn"), r => Assert.Null(r.Authorization));
        Assert.Contains(requests, r => r.Listener == "cdn" && r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal));
    }
}
