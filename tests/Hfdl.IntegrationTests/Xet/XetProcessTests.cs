using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Xet;

/// <summary>Native Xet across processes: a kill -9 mid download, and several hfdl processes sharing one chunk cache.</summary>
public sealed class XetProcessTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static long RecordedBytes(string stateFile, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(stateFile));
            return document.RootElement.GetProperty("files").TryGetProperty(path, out var entry) && entry.TryGetProperty("ranges", out var ranges)
                ? ranges.EnumerateArray().Sum(r => r[1].GetInt64() - r[0].GetInt64())
                : 0;
        }
        catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return 0;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_sigkill_mid_xet_download_the_rerun_fetches_only_the_bytes_not_recorded(bool chunkCache)
    {
        const int Size = 12 * 1024 * 1024;
        const int Connections = 4;
        var weights = SyntheticContent.Create(Size, seed: 61);
        var content = new byte[Size];
        weights.ReadAt(0, content);
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("model.safetensors", weights)
            .Settings(s => s with { Xet = true, Faults = HubFaults.None with { PerConnectionBytesPerSecond = 1_500_000 } }));
        // Random bytes stored uncompressed: xorb bytes are file bytes (plus 8 per chunk), so they can be compared.
        await using var server = await HubTestKit.StartAsync(store, o => o with { Xet = o.Xet with { MaxXorbChunks = 12, ChunkStorage = XetChunkStorage.Smallest } });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        // Without a chunk cache, the journal alone must keep the rerun from fetching what was written; with one (the
        // default), the half-written units must not be fetched whole again either (the cache has none of them).
        string[] args = ["download", "acme/xet", "--local-dir", target, "--file-size-threshold", "1", "--speed-test-duration", "0", "-t", $"{Connections}",
            .. chunkCache ? new[] { "--xet-cache-size", "100" } : ["--xet-cache-size", "0"]];

        using (var first = HfdlProcess.Start(cli.Environment, args))
        {
            await first.WaitUntilAsync(() => RecordedBytes(state, "model.safetensors") >= 4 * 1024 * 1024, TimeSpan.FromSeconds(60), "4 MiB of the Xet file recorded as on disk");
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        var recorded = RecordedBytes(state, "model.safetensors");
        await server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
        server.Requests.Clear();

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(content, File.ReadAllBytes(Path.Combine(target, "model.safetensors")));
        var fetched = XetDownloadTests.XorbBytes(server) + XetDownloadTests.BridgeBytes(server);
        var chunkHeaders = 8L * (Size / (8 * 1024) + 1);
        // What was recorded is not fetched again. A signed xorb range can only be fetched whole, so a unit the first run
        // left half-written is finished over plain HTTPS, which fetches exactly its missing bytes: nothing in flight
        // costs more than its unrecorded bytes.
        Assert.True(fetched <= Size - recorded + chunkHeaders,
            $"the rerun fetched {fetched} bytes (xorbs and plain), but only {Size - recorded} file bytes were left");
        Assert.DoesNotContain(RepoAssert.ListFiles(target), f => f.EndsWith(".hfdl-part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_hfdl_processes_share_one_chunk_cache_safely()
    {
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 62);
        await using var server = await HubTestKit.StartAsync(XetDownloadTests.RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        var cli = new CliRunner(server, _temp);
        string[] Args(string folder, string revision) => ["download", "acme/versions", "--revision", revision, "--local-dir", _temp.Combine(folder), "--file-size-threshold", "1", "-q"];

        // Both at once, into one cache: the same entries are written twice, read while others are written, and evicted
        // by whichever ends first (a bound below what both need makes eviction run).
        cli.Environment["HF_HOME"] = _temp.Combine("shared-home");
        string[] small = ["--xet-cache-size", "3"];
        using (var a = HfdlProcess.Start(cli.Environment, [.. Args("a", "v1"), .. small]))
        using (var b = HfdlProcess.Start(cli.Environment, [.. Args("b", "main"), .. small]))
        {
            Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, await b.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }
        Assert.Equal(old, File.ReadAllBytes(_temp.Combine("a", "model.safetensors")));
        Assert.Equal(edited, File.ReadAllBytes(_temp.Combine("b", "model.safetensors")));
        var folder = Path.Combine(_temp.Combine("shared-home"), "xet", "hfdl-chunks");
        Assert.Empty(Directory.GetFiles(folder, "*.tmp", SearchOption.AllDirectories));
        Assert.True(Directory.GetFiles(folder, "*-*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) <= 3_000_000);

        // Then both again, from a cache big enough for both: every range was fetched at most once more.
        server.Requests.Clear();
        using (var c = HfdlProcess.Start(cli.Environment, Args("c", "v1")))
        using (var d = HfdlProcess.Start(cli.Environment, Args("d", "main")))
        {
            Assert.Equal(0, await c.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, await d.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }
        server.Requests.Clear();
        var e = await cli.RunAsync(Args("e", "v1"));
        var f = await cli.RunAsync(Args("f", "main"));

        Assert.Equal(0, e.ExitCode);
        Assert.Equal(0, f.ExitCode);
        Assert.Equal(old, File.ReadAllBytes(_temp.Combine("c", "model.safetensors")));
        Assert.Equal(edited, File.ReadAllBytes(_temp.Combine("d", "model.safetensors")));
        Assert.Equal(old, File.ReadAllBytes(_temp.Combine("e", "model.safetensors")));
        Assert.Equal(edited, File.ReadAllBytes(_temp.Combine("f", "model.safetensors")));
        Assert.Equal(0, XetDownloadTests.XorbBytes(server));
    }
}
