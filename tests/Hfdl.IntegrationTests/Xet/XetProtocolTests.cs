using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Xet;

/// <summary>The parts of the Xet protocol a Hub or CAS may answer differently: detection, reconstruction versions, windows.</summary>
public sealed class XetProtocolTests
{
    private static readonly byte[] Weights = XetContent.Mixed(3_000_000, seed: 61);

    private static Task<HubServer> StartAsync(XetFaults faults) =>
        HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("config.json", "{}\n")
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true, Faults = HubFaults.None with { Xet = faults } })),
            o => o with { Xet = o.Xet with { MaxXorbChunks = 6 } });

    private static List<RecordedRequest> Cas(HubServer server) => [.. server.Requests.Snapshot().Where(r => r.Listener == "cas")];

    private static void AssertNative(HubServer server, TempFolder target, DownloadSummary summary, List<DownloadEvent> events)
    {
        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.True(XetDownloadTests.XorbBytes(server) > 0, "the file came from xorbs");
        Assert.Equal(0, XetDownloadTests.BridgeBytes(server));
    }

    [Fact]
    public async Task A_file_the_listing_does_not_mark_as_xet_is_fetched_natively_when_the_resolve_headers_do()
    {
        await using var server = await StartAsync(new XetFaults { UnlistedHashes = true });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, XetDownloadTests.Options(cache.Path));

        AssertNative(server, target, summary, events);
        // The resolve HEAD that found the Xet hash is the one the download needed anyway: one per file.
        Assert.Single(server.Requests.Snapshot(), r => r.Method == "HEAD" && r.PathAndQuery.EndsWith("/model.safetensors", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_cas_without_reconstruction_v2_is_asked_with_v1()
    {
        await using var server = await StartAsync(new XetFaults { NoV2 = true });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, XetDownloadTests.Options(cache.Path));

        AssertNative(server, target, summary, events);
        var cas = Cas(server);
        Assert.StartsWith("/v2/reconstructions/", cas[0].PathAndQuery, StringComparison.Ordinal);
        Assert.Equal(404, cas[0].StatusCode);
        Assert.All(cas.Skip(1), r => Assert.StartsWith("/v1/reconstructions/", r.PathAndQuery, StringComparison.Ordinal));
        Assert.All(cas.Skip(1), r => Assert.Equal(200, r.StatusCode));
    }

    [Fact]
    public async Task A_file_larger_than_the_window_is_reconstructed_window_by_window()
    {
        await using var server = await StartAsync(new XetFaults());
        using var target = new TempFolder();
        using var cache = new TempFolder();
        var options = XetDownloadTests.Options(cache.Path) with { XetWindowBytes = 1_000_000 };

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, options);

        AssertNative(server, target, summary, events);
        Assert.Equal(["bytes=0-999999", "bytes=1000000-1999999", "bytes=2000000-2999999"], Cas(server).Select(r => r.Range).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_fetch_of_several_signed_ranges_is_asked_for_exactly_as_signed_and_read_as_multipart()
    {
        // Both revisions share the first's xorbs: the other one uses their chunks with gaps where the edits are, so its
        // reconstruction names several ranges of one xorb under one signed URL.
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 71);
        await using var server = await HubTestKit.StartAsync(XetDownloadTests.RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 40 } });
        using var first = new TempFolder();
        using var second = new TempFolder();

        var (v1, _) = await Engine.DownloadAsync(server, "acme/versions", first.Path, Engine.FastOptions with { BigFileThreshold = 1 }, revision: "v1");
        var (main, events) = await Engine.DownloadAsync(server, "acme/versions", second.Path, Engine.FastOptions with { BigFileThreshold = 1 });

        Assert.Equal(0, v1.FilesFailed + main.FilesFailed);
        Assert.Equal(old, File.ReadAllBytes(first.Combine("model.safetensors")));
        Assert.Equal(edited, File.ReadAllBytes(second.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.Equal(0, XetDownloadTests.BridgeBytes(server));
        var xorbs = server.Requests.Snapshot().Where(r => r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).ToList();
        var multi = xorbs.Where(r => r.Range!.Contains(',', StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(multi);
        Assert.All(multi, r => Assert.Equal(206, r.StatusCode));
        // Every request names exactly the ranges its URL was signed for, all of them.
        Assert.All(xorbs, r => Assert.Contains("X-Xet-Signed-Range=" + Uri.EscapeDataString(r.Range!) + "&", r.PathAndQuery, StringComparison.Ordinal));
    }
}
