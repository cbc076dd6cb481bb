using System.Diagnostics;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Download;

/// <summary>
/// A real small file system (tmpfs, mounted for the test; this needs root, as CI has) that runs out of space.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly List<string> _mounts = [];

    public void Dispose()
    {
        foreach (var mount in _mounts)
        {
            Run("umount", "-l", mount);
        }
        _temp.Dispose();
    }

    private string MountTmpfs(string name, long bytes)
    {
        var path = _temp.Combine(name);
        Directory.CreateDirectory(path);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", path);
        Assert.True(code == 0, $"This test mounts a small tmpfs and needs root (CI runs as root): mount said {output}");
        _mounts.Add(path);
        return path;
    }

    private static (int Code, string Output) Run(string file, params string[] args) => Tool.Run(file, args);

    [Fact]
    public async Task A_full_xet_chunk_cache_is_said_once_and_the_download_goes_on_without_it()
    {
        var (old, edited) = Xet.XetDownloadTests.TwoRevisions(seed: 57);
        await using var server = await Hfdl.IntegrationTests.Hub.HubTestKit.StartAsync(Xet.XetDownloadTests.RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        var cacheDisk = MountTmpfs("small-cache", 256 * 1024);
        var cli = new CliRunner(server, _temp);
        cli.Environment["HF_XET_CACHE"] = cacheDisk;

        var result = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(edited, File.ReadAllBytes(_temp.Combine("out", "model.safetensors")));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(result.Error, "The Xet chunk cache in '.*' cannot be written"));
        Assert.DoesNotContain("Native Xet failed", result.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(cacheDisk, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_cache_on_a_read_only_file_system_gets_one_paragraph_that_says_where_to_write_instead()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/small", repo => repo.File("config.json", "{}\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var disk = MountTmpfs("read-only", 1024 * 1024);
        Directory.CreateDirectory(Path.Combine(disk, "home"));
        var (code, output) = Run("mount", "-o", "remount,ro", disk);
        Assert.True(code == 0, output);
        var cli = new CliRunner(server, _temp);
        cli.Environment["HF_HOME"] = Path.Combine(disk, "home");

        var result = await cli.RunAsync("download", "acme/small", "--hf-cache");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("hfdl cannot write there. Choose a place it can write: -d or --local-dir", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Too_little_space_is_refused_before_anything_is_downloaded()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/huge", repo => repo
            .File("model.safetensors", SyntheticContent.Create(40_000_000, seed: 41)));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var disk = MountTmpfs("small-disk", 16 * 1024 * 1024);

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/huge", "--local-dir", Path.Combine(disk, "out"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Not enough disk space", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Requests.Snapshot(), r => r.Listener == "cdn");
    }

    [Fact]
    public async Task A_disk_that_fills_during_the_run_stops_cleanly_keeps_verified_files_and_resumes()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/many", repo =>
        {
            for (var i = 0; i < 10; i++)
            {
                repo.File($"shard-{i}.txt", SyntheticContent.Create(1_500_000, seed: (ulong)(50 + i)), lfs: false);
            }
            repo.Settings(s => s with { Faults = HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 } });
        });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var disk = MountTmpfs("filling-disk", 20 * 1024 * 1024);
        var target = Path.Combine(disk, "out");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/many", "--local-dir", target, "-t", "2"];

        var run = cli.RunAsync(args);
        while (!run.IsCompleted && !Directory.EnumerateFiles(disk, "shard-*", SearchOption.AllDirectories).Any())
        {
            await Task.Delay(20);
        }
        // Something else on the machine takes the rest of the disk.
        var filler = Path.Combine(disk, "filler");
        for (var attempt = 0; !File.Exists(filler); attempt++)
        {
            // hfdl keeps writing meanwhile, so the free space can shrink between the look and the allocation.
            var free = new DriveInfo(disk).AvailableFreeSpace;
            try
            {
                using (File.OpenHandle(filler, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: Math.Max(1, free - ((attempt + 1) * 128 * 1024))))
                {
                }
            }
            catch (IOException) when (attempt < 20)
            {
                File.Delete(filler);
            }
        }
        var result = await run;

        Assert.Equal(1, result.ExitCode);
        Assert.True(result.Error.Contains("The disk is full", StringComparison.Ordinal), result.ToString());
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
        var kept = Directory.GetFiles(target, "shard-*").Select(Path.GetFileName).ToList();
        Assert.NotEmpty(kept);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/many"), target, only: kept!);
        Assert.Empty(Directory.GetFiles(target, "*.hfdl-part", SearchOption.AllDirectories));

        File.Delete(filler);
        server.Requests.Clear();
        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/many"), target);
        Assert.Contains($"Downloaded {10 - kept.Count} files", rerun.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_resumed_big_file_needs_no_more_space_than_its_reserved_temporary_file_holds()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/big", repo => repo
            .File("model.safetensors", SyntheticContent.Create(24_000_000, seed: 43))
            .Settings(s => s with { Faults = HubFaults.None with { PerConnectionBytesPerSecond = 2_000_000 } }));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var disk = MountTmpfs("nearly-full", 32 * 1024 * 1024);
        var target = Path.Combine(disk, "out");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/big", "--local-dir", target, "--file-size-threshold", "1"];

        using (var first = HfdlProcess.Start(cli.Environment, args))
        {
            await first.WaitUntilAsync(() => Directory.Exists(target) && Directory.EnumerateFiles(target, "*.hfdl-part").Any()
                && File.Exists(Path.Combine(target, ".download_state")) && File.ReadAllText(Path.Combine(target, ".download_state")).Contains("ranges", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), "part of the big file recorded");
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        // Something else takes the disk down to 2 MB free: less than the bytes still to fetch, but the temporary file
        // holds the whole size already.
        var free = new DriveInfo(disk).AvailableFreeSpace;
        using (File.OpenHandle(Path.Combine(disk, "filler"), FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: free - (2 * 1024 * 1024)))
        {
        }

        var dryRun = await cli.RunAsync([.. args, "--dry-run"]);
        var rerun = await cli.RunAsync(args);

        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/big"), target);
    }
}
