using System.Diagnostics;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Facade;

/// <summary>
/// A target the file system will not take reaches a library caller as an <see cref="HfdlException"/> whose message
/// names the place and what to do, never as a raw System.IO exception; a file in the way is refused before anything
/// is asked. Mounts a read-only tmpfs (needs root, as CI has).
/// </summary>
public sealed class HfdlClientFileSystemTests : IAsyncLifetime, IDisposable
{
    private const string Repo = "acme/fs";
    private readonly TempFolder _temp = new();
    private readonly List<string> _mounts = [];
    private HubServer _server = null!;

    public async Task InitializeAsync() => _server = await HubServer.StartAsync(new HubServerOptions
    {
        Store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, repo => repo.File("config.json", "{}\n")),
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        foreach (var mount in _mounts)
        {
            Run("umount", "-l", mount);
        }
        _temp.Dispose();
    }

    private HfdlClient Client(string? cache = null) =>
        new(new HfdlClientOptions { Endpoint = _server.Endpoint, Download = Engine.FastOptions with { Threads = 2 }, CacheFolder = cache });

    private static DownloadRequest Request(string target, LayoutKind layout = LayoutKind.Folder) =>
        new() { RepoType = RepoType.Model, RepoId = RepoId.Parse(Repo), TargetFolder = target, Layout = layout };

    [Fact]
    public async Task A_target_below_a_file_is_refused_naming_TargetFolder_before_anything_is_asked()
    {
        File.WriteAllText(_temp.Combine("afile"), "x");
        using var hfdl = Client();
        await _server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = _server.Requests.Count;

        foreach (var call in new Func<DownloadRequest, Task>[] { r => hfdl.PlanAsync(r), r => hfdl.DownloadAsync(r), r => hfdl.VerifyAsync(r) })
        {
            var error = await Assert.ThrowsAsync<InvalidOptionException>(() => call(Request(_temp.Combine("afile", "sub"))));
            Assert.Equal("TargetFolder", error.Option);
            Assert.Contains("on the way there is a file", error.Message, StringComparison.Ordinal);
        }
        Assert.Equal(before, _server.Requests.Count);
    }

    [Fact]
    public void A_cache_folder_that_is_a_file_is_refused_by_the_constructor()
    {
        File.WriteAllText(_temp.Combine("afile"), "x");

        var error = Assert.Throws<InvalidOptionException>(() => Client(cache: _temp.Combine("afile")));

        Assert.Equal("CacheFolder", error.Option);
        Assert.Contains("which is a file; it must be a folder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_target_the_file_system_refuses_is_an_HfdlException_that_names_the_place_and_what_to_do()
    {
        var disk = _temp.Combine("ro");
        Directory.CreateDirectory(disk);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", "size=1048576", "tmpfs", disk);
        Assert.True(code == 0, $"This test mounts a tmpfs and needs root (CI runs as root): mount said {output}");
        _mounts.Add(disk);
        Directory.CreateDirectory(Path.Combine(disk, "cache"));
        (code, output) = Run("mount", "-o", "remount,ro", disk);
        Assert.True(code == 0, output);
        using var hfdl = Client(cache: Path.Combine(disk, "cache"));

        var readOnly = await Assert.ThrowsAsync<LocalFileSystemException>(() => hfdl.DownloadAsync(Request(Path.Combine(disk, "out"))));
        Assert.True(readOnly.CannotWrite);
        Assert.Equal(Path.Combine(disk, "out"), readOnly.Folder);
        Assert.Contains("hfdl cannot write there", readOnly.Message, StringComparison.Ordinal);
        Assert.Contains("TargetFolder", readOnly.Message, StringComparison.Ordinal);

        // An existing folder on it: the lock cannot be taken, an error callers can catch by name.
        var locked = await Assert.ThrowsAsync<LockUnavailableException>(() => hfdl.DownloadAsync(Request(Path.Combine(disk, "cache"))));
        Assert.True(typeof(LockUnavailableException).IsPublic, "callers can catch it by name");
        Assert.Equal(Path.Combine(disk, "cache", ".hfdl.lock"), locked.LockPath);
        Assert.Contains("read-only", locked.Message, StringComparison.Ordinal);

        var cache = await Assert.ThrowsAnyAsync<HfdlException>(() => hfdl.DownloadAsync(Request("", LayoutKind.HfCache)));
        Assert.Contains("read-only", cache.Message, StringComparison.Ordinal);

        // A place no folder can be made in (the disk-space check may be what says so first).
        var proc = await Assert.ThrowsAnyAsync<HfdlException>(() => hfdl.DownloadAsync(Request("/proc/hfdl-test/x")));
        Assert.Contains("/proc/hfdl-test/x", proc.Message, StringComparison.Ordinal);
    }

    private static (int Code, string Output) Run(string file, params string[] args) => Tool.Run(file, args);
}
