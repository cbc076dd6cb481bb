using System.Diagnostics;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Hfdl.Core.Storage;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// A hostile or broken server: every lie is refused with a clear error, in bounded time, and leaves nothing corrupt
/// behind (no final file that did not verify, no temporary file).
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class HostileServerTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Target => _temp.Combine("out");

    private static InMemoryRepoStore Store(HostileFaults hostile, ResolveMode mode = ResolveMode.Realistic) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/hostile", repo => repo
            .File("config.json", "{\"architectures\":[\"Tiny\"],\"hidden_size\":64}\n")
            .File("data.bin", SyntheticContent.Create(300_000, seed: 5))
            .File("big.safetensors", SyntheticContent.Create(3_000_000, seed: 6))
            .Settings(s => s with { ResolveMode = mode, Faults = HubFaults.None with { Hostile = hostile } }));

    private async Task<CliResult> RunAsync(HostileFaults hostile, ResolveMode mode = ResolveMode.Realistic)
    {
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = Store(hostile, mode) });
        var watch = Stopwatch.StartNew();
        var result = await new CliRunner(server, _temp)
            .RunAsync("download", "acme/hostile", "--local-dir", Target, "--file-size-threshold", "1")
            .WaitAsync(Bound);
        Assert.True(watch.Elapsed < Bound, $"took {watch.Elapsed}");
        return result;
    }

    /// <summary>Only hfdl's own bookkeeping may be in the folder: no repo file, no temporary file.</summary>
    private void NothingWritten() => RepoAssert.NothingButBookkeeping(Target);

    /// <summary>
    /// No failed file under its final name, and no stray temporary file: a big file's partial data may stay only as
    /// the journal's resumable record (its ranges say which bytes are real), exactly as after Ctrl+C.
    /// </summary>
    private void NoCorruptFile(params string[] failed)
    {
        foreach (var path in failed)
        {
            RepoAssert.NoFinalFile(Target, path);
        }
        var statePath = Path.Combine(Target, DownloadState.FileName);
        var journaled = new HashSet<string?>();
        if (File.Exists(statePath))
        {
            using var state = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(statePath));
            foreach (var file in state.RootElement.GetProperty("files").EnumerateObject())
            {
                if (file.Value.GetProperty("status").GetString() == FileState.Partial)
                {
                    journaled.Add(file.Value.GetProperty("tempFile").GetString());
                }
            }
        }
        Assert.All(RepoAssert.ListFiles(Target).Where(f => f.EndsWith(".hfdl-part", StringComparison.Ordinal)),
            temp => Assert.Contains(Path.GetFileName(temp), journaled));
    }

    [Fact]
    public async Task A_negative_size_fails_the_plan_before_anything_is_written()
    {
        var result = await RunAsync(new HostileFaults { ListedSize = -5 });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("negative size", result.Error, StringComparison.Ordinal);
        NothingWritten();
    }

    [Fact]
    public async Task A_size_larger_than_the_disk_fails_before_any_file_is_written()
    {
        var result = await RunAsync(new HostileFaults { ListedSize = 1_000_000_000_000_000_000 });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("disk space", result.Error, StringComparison.Ordinal);
        NothingWritten();
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(-7)]
    public async Task Sizes_that_disagree_between_listing_and_resolve_are_refused_and_leave_nothing_corrupt(long delta)
    {
        var result = await RunAsync(new HostileFaults { ListedSizeDelta = delta });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("config.json", result.Error, StringComparison.Ordinal);
        Assert.Contains("big.safetensors", result.Error, StringComparison.Ordinal);
        Assert.Matches("announced|wrong range|more than|arrived with", result.Error);
        NoCorruptFile("config.json", "data.bin", "big.safetensors");
    }

    [Theory]
    [InlineData(ResolveMode.Realistic)]
    [InlineData(ResolveMode.Direct)]
    public async Task Wrong_hashes_are_refused_and_no_unverified_file_gets_a_final_name(ResolveMode mode)
    {
        var result = await RunAsync(new HostileFaults { WrongHashes = true }, mode);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("but the Hub lists", result.Error, StringComparison.Ordinal);
        NoCorruptFile("config.json", "data.bin", "big.safetensors");
    }

    [Fact]
    public async Task Malformed_json_is_a_clear_error()
    {
        var result = await RunAsync(new HostileFaults { MalformedJson = true });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("malformed JSON", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        NothingWritten();
    }

    [Fact]
    public async Task A_gigantic_json_listing_is_refused_without_reading_it_all()
    {
        var before = GC.GetTotalAllocatedBytes(precise: false);

        var result = await RunAsync(new HostileFaults { GiganticJsonBytes = 200_000_000 });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("larger than 64 MiB", result.Error, StringComparison.Ordinal);
        Assert.True(GC.GetTotalAllocatedBytes(precise: false) - before < 150_000_000, "the listing was refused before it was buffered");
        NothingWritten();
    }

    [Fact]
    public async Task A_pagination_loop_is_detected()
    {
        var result = await RunAsync(new HostileFaults { PaginationLoop = true });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("loops", result.Error, StringComparison.Ordinal);
        NothingWritten();
    }

    [Fact]
    public async Task A_redirect_loop_is_detected()
    {
        var result = await RunAsync(new HostileFaults { RedirectLoop = true });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("redirects loop", result.Error, StringComparison.Ordinal);
        NoCorruptFile("config.json", "data.bin", "big.safetensors");
    }

    [Fact]
    public async Task Ten_redirects_are_followed_and_eleven_are_refused()
    {
        var ten = await RunAsync(new HostileFaults { RedirectHops = 10 }, ResolveMode.Direct);
        Assert.True(ten.ExitCode == 0, ten.ToString());

        Directory.Delete(Target, recursive: true);
        var eleven = await RunAsync(new HostileFaults { RedirectHops = 11 }, ResolveMode.Direct);
        Assert.Equal(1, eleven.ExitCode);
        Assert.Contains("more than 10 times", eleven.Error, StringComparison.Ordinal);
        NoCorruptFile("config.json", "data.bin", "big.safetensors");
    }

    private async Task<DownloadSummary> RawDownloadAsync(RawHub raw)
    {
        using var client = new HubClient(new HubClientOptions { Endpoint = raw.Endpoint, ReadTimeout = TimeSpan.FromSeconds(5) });
        var downloader = new RepoDownloader(client, Engine.FastOptions);
        return await downloader.DownloadAsync(new DownloadRequest { RepoType = RepoType.Model, RepoId = RepoId.Parse("acme/raw"), TargetFolder = Target }, null, CancellationToken.None).WaitAsync(Bound);
    }

    [Fact]
    public async Task Bytes_after_the_content_length_never_reach_the_file()
    {
        var content = new byte[50_000];
        Random.Shared.NextBytes(content);
        await using var raw = new RawHub(content, c => RawHub.Response(
            $"HTTP/1.1 200 OK\nContent-Length: {c.Length}\nConnection: close\n", [.. c, .. new byte[4096]]));

        var summary = await RawDownloadAsync(raw);

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(content, File.ReadAllBytes(Path.Combine(Target, "file.bin")));
    }

    [Fact]
    public async Task A_body_that_runs_past_the_listed_size_is_refused()
    {
        var content = new byte[50_000];
        Random.Shared.NextBytes(content);
        await using var raw = new RawHub(content, c => RawHub.Response("HTTP/1.1 200 OK\nConnection: close\n", [.. c, .. new byte[100_000]]));

        var summary = await RawDownloadAsync(raw);

        Assert.Equal(1, summary.FilesFailed);
        NoCorruptFile("file.bin");
    }

    [Fact]
    public async Task A_content_length_larger_than_the_listed_size_is_refused_before_the_body_is_read()
    {
        var content = new byte[50_000];
        await using var raw = new RawHub(content, c => RawHub.Response(
            $"HTTP/1.1 200 OK\nContent-Length: {c.Length + 10_000_000}\nConnection: close\n", [.. c, .. new byte[10_000]]));

        var summary = await RawDownloadAsync(raw);

        Assert.Equal(1, summary.FilesFailed);
        NoCorruptFile("file.bin");
    }

    [Fact]
    public void The_standalone_hub_binds_to_loopback_unless_told_otherwise()
    {
        Assert.Equal("127.0.0.1", StandaloneArguments.Parse(["--root", "/tmp/x"]).Bind);
        Assert.Equal("127.0.0.1", new HubServerOptions { Store = new InMemoryRepoStore() }.BindAddress);
    }
}
