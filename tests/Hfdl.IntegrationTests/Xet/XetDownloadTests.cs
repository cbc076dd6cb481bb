using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Xet;

/// <summary>Native Xet downloads by the engine from a real Hfdl.Hub in Xet mode on loopback.</summary>
public sealed class XetDownloadTests
{
    private static readonly byte[] Weights = XetContent.Mixed(3_000_000, seed: 21);

    internal static DownloadOptions Options(string cache, long threshold = 1) => Engine.FastOptions with
    {
        BigFileThreshold = threshold,
        XetCacheFolder = cache,
    };

    internal static long XorbBytes(HubServer server) =>
        server.Requests.Snapshot().Where(r => r.Listener == "cdn" && r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent);

    internal static long BridgeBytes(HubServer server) =>
        server.Requests.Snapshot().Where(r => r.Listener == "cdn" && !r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent);

    [Theory]
    [InlineData(XetChunkStorage.Mixed)]
    [InlineData(XetChunkStorage.Smallest)]
    public async Task A_xet_backed_file_is_downloaded_natively_and_bit_exact(XetChunkStorage storage)
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", repo => repo
            .File("config.json", "{}\n")
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true }));
        await using var server = await HubTestKit.StartAsync(store, o => o with { Xet = o.Xet with { MaxXorbChunks = 8, ChunkStorage = storage } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, Options(cache.Path));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.True(XorbBytes(server) > 0);
        Assert.Equal(0, BridgeBytes(server));
        Assert.Equal(XorbBytes(server) + 3, summary.BytesFetched);
        Assert.Equal(0, summary.BytesFromCache);
    }
}
