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

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

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
}
