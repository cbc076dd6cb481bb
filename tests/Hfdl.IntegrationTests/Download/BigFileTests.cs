using System.Diagnostics;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Download;

public sealed class BigFileHub : IAsyncLifetime
{
    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Store.AddRepo(RepoType.Model, "acme/big", repo => repo
            .File("config.json", "{}\n")
            .File("model-00001.safetensors", SyntheticContent.Create(24L * 1024 * 1024 + 12345, seed: 11))
            .File("model-00002.safetensors", SyntheticContent.Create(9L * 1024 * 1024 + 1, seed: 12)));
        Store.AddRepo(RepoType.Model, "acme/direct-big", repo => repo
            .File("weights.bin", SyntheticContent.Create(7L * 1024 * 1024 + 3, seed: 13))
            .Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        Store.AddRepo(RepoType.Model, "acme/tiny-sizes", repo => repo
            .File("one.bin", new byte[] { 42 })
            .File("zero.bin", Array.Empty<byte>())
            .File("odd.bin", SyntheticContent.Create(3 * 65536 + 7, seed: 14)));
        // A model repo whose small files are slow to answer (1.5 s before each response of the hub's file routes, so
        // 3 s for a 307 and its 200) while the CDN answers at once.
        Store.AddRepo(RepoType.Model, "acme/slow-small-files", repo => repo
            .File("config.json", "{\"model_type\": \"gpt2\"}\n")
            .File("tokenizer_config.json", "{}\n")
            .File("model.safetensors", SyntheticContent.Create(4L * 1024 * 1024 + 5, seed: 16))
            .Settings(s => s with { Faults = HubFaults.None with { Latency = TimeSpan.FromSeconds(1.5), LatencyTargets = FaultTargets.Resolve } }));
        Store.AddRepo(RepoType.Model, "acme/throttled", repo => repo
            .File("weights.bin", SyntheticContent.Create(3_000_000, seed: 15)));
        Server = await HubServer.StartAsync(new HubServerOptions { Store = Store });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Big files: segmented over several connections, verified, whatever their size.</summary>
public sealed class BigFileTests(BigFileHub hub) : IClassFixture<BigFileHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CliRunner Cli() => new(hub.Server, _temp);

    private string Target(string name = "out") => _temp.Combine(name);

    [Fact]
    public async Task A_big_file_is_fetched_in_ranges_over_several_connections_and_is_bit_exact()
    {
        hub.Server.Requests.Clear();

        var result = await Cli().RunAsync("download", "acme/big", "--local-dir", Target(),
            "--file-size-threshold", "1", "--chunk-size", "1048576", "--speed-test-duration", "0", "-t", "8");

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/big"), Target());
        var ranged = hub.Server.Requests.Snapshot().Where(r => r.Listener == "cdn" && r.Range is not null).ToList();
        Assert.True(ranged.Count >= 8, $"expected many range requests, got {ranged.Count}");
        Assert.DoesNotContain(RepoAssert.ListFiles(Target()), f => f.EndsWith(".hfdl-part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Big_files_arrive_while_small_files_are_still_in_flight_and_threads_bound_both_together()
    {
        hub.Server.Requests.Clear();

        var result = await Cli().RunAsync("download", "acme/slow-small-files", "--local-dir", Target(),
            "--file-size-threshold", "1", "--chunk-size", "262144", "--speed-test-duration", "0", "-t", "3");

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/slow-small-files"), Target());
        // Recorded when each response ended: the shard's bytes came from the CDN before the small files' slow
        // responses ended, not after them.
        var requests = hub.Server.Requests.Snapshot().ToList();
        var lastCdn = requests.FindLastIndex(r => r.Listener == "cdn");
        var lastSmall = requests.FindLastIndex(r => r.Listener == "hub" && r.PathAndQuery.Contains("config.json", StringComparison.Ordinal));
        Assert.True(lastCdn >= 0 && lastCdn < lastSmall, string.Join("\n", requests.Select(r => $"{r.Listener} {r.Method} {r.PathAndQuery} {r.Range}")));
        // Two small files in flight left one connection of -t 3 to the shard.
        Assert.InRange(hub.Server.Requests.PeakInFlight, 2, 3);
    }

    [Fact]
    public async Task A_big_file_served_directly_by_the_hub_is_fetched_in_ranges_too()
    {
        var result = await Cli().RunAsync("download", "acme/direct-big", "--local-dir", Target(),
            "--file-size-threshold", "1", "--chunk-size", "1048576", "--speed-test-duration", "0");

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/direct-big"), Target());
    }

    [Fact]
    public async Task One_byte_zero_byte_and_odd_sized_files_are_right_as_big_files()
    {
        var result = await Cli().RunAsync("download", "acme/tiny-sizes", "--local-dir", Target(),
            "--file-size-threshold", "0", "--chunk-size", "65536");

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/tiny-sizes"), Target());
    }

    [Fact]
    public async Task Max_speed_bounds_the_total_rate()
    {
        // 3 MB at 1.5 MB/s needs about 2 s; allow for the first bucket of tokens but not for an unthrottled run.
        var watch = Stopwatch.StartNew();
        var result = await Cli().RunAsync("download", "acme/throttled", "--local-dir", Target(),
            "--file-size-threshold", "1", "--chunk-size", "262144", "--max-speed", "1.5", "--speed-test-duration", "0");
        watch.Stop();

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/throttled"), Target());
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.5), $"3 MB at 1.5 MB/s took only {watch.Elapsed}");
    }

    [Fact]
    public async Task A_second_run_after_a_big_download_fetches_nothing()
    {
        var args = new[] { "download", "acme/big", "--local-dir", Target(), "--file-size-threshold", "1", "--speed-test-duration", "0" };
        var first = await Cli().RunAsync(args);
        hub.Server.Requests.Clear();

        var second = await Cli().RunAsync(args);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(0, hub.Server.Requests.TotalBodyBytesSent - hub.Server.Requests.Snapshot().Where(r => r.PathAndQuery.StartsWith("/api/", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent));
    }
}
