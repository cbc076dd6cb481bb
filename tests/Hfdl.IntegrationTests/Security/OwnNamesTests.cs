using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// A repo that holds names hfdl or huggingface_hub keep for themselves in a download folder (someone uploaded a
/// download folder): only the files asked for are judged, so such a repo can still be listed, downloaded without those
/// files, or downloaded whole into the HF cache, where they collide with nothing.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class OwnNamesTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static InMemoryRepoStore Store() => new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/uploaded", repo => repo
        .File("ok.txt", "ok\n")
        .File(".download_state", "{}\n")
        .File(".cache/huggingface/download/ok.txt.metadata", "0000\n")
        .File("sub/.hfdl.lock", "")
        .File("weights.bin", "w\n")
        .File("weights.bin.hfdl-copy", "not a copy\n"));

    [Fact]
    public async Task Own_names_are_refused_only_when_asked_for_and_never_in_the_hf_cache()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        var whole = _temp.Combine("whole");
        var rest = _temp.Combine("rest");
        var cache = _temp.Combine("cache");

        var list = await cli.RunAsync("ls", "acme/uploaded");
        var refused = await cli.RunAsync("download", "acme/uploaded", "--local-dir", whole);
        var withoutThem = await cli.RunAsync("download", "acme/uploaded", "--local-dir", rest, "--exclude", ".download_state", "--exclude", ".cache/", "--exclude", "sub/");
        cli.Environment["HF_HUB_DISABLE_SYMLINKS"] = "1";
        var inCache = await cli.RunAsync("download", "acme/uploaded", "--cache-dir", cache);

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains(".download_state", list.Out, StringComparison.Ordinal);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("refuses to write", refused.Error, StringComparison.Ordinal);
        Assert.Contains("exclude it to download the rest, or download into the Hugging Face cache", refused.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(whole), "nothing was created");
        Assert.True(withoutThem.ExitCode == 0, withoutThem.ToString());
        Assert.Equal(["ok.txt", "weights.bin", "weights.bin.hfdl-copy"], RepoAssert.ListFiles(rest));
        Assert.Equal("not a copy\n", File.ReadAllText(Path.Combine(rest, "weights.bin.hfdl-copy")));
        Assert.True(inCache.ExitCode == 0, inCache.ToString());
        var main = store.MainSnapshot(RepoType.Model, "acme/uploaded");
        // Every file, the copies made through temporary names that cannot be the repo's 'weights.bin.hfdl-copy'.
        RepoAssert.BitExact(main, Path.Combine(cache, "models--acme--uploaded", "snapshots", main.CommitId));
    }

    [Fact]
    public async Task A_legacy_repo_whose_folder_holds_another_download_does_not_overwrite_it()
    {
        // -d puts the legacy repo 'org1' in downloads/org1, around the download of 'org1/name1'.
        var store = new InMemoryRepoStore()
            .AddRepo(RepoType.Model, "org1/name1", repo => repo.File("cfg.txt", "genuine\n"))
            .AddRepo(RepoType.Model, "org1", repo => repo.File("name1/cfg.txt", "other\n").File("readme.txt", "hi\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        var downloads = _temp.Combine("downloads");

        var first = await cli.RunAsync("download", "org1/name1", "-d", downloads);
        var legacy = await cli.RunAsync("download", "org1", "-d", downloads);
        var dryRun = await cli.RunAsync("download", "org1", "-d", downloads, "--dry-run");

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(1, legacy.ExitCode);
        Assert.Contains("its folder 'name1/' holds another download", legacy.Error, StringComparison.Ordinal);
        Assert.Equal(1, dryRun.ExitCode);
        Assert.Equal("genuine\n", File.ReadAllText(Path.Combine(downloads, "org1", "name1", "cfg.txt")));
        Assert.False(File.Exists(Path.Combine(downloads, "org1", "readme.txt")), "the plan failed before any file was written");
    }

    [Fact]
    public async Task A_download_nested_in_another_folder_is_not_that_folder_s_extra_files()
    {
        var store = new InMemoryRepoStore()
            .AddRepo(RepoType.Model, "gpt2", repo => repo.File("config.json", "{}\n"))
            .AddRepo(RepoType.Model, "acme/inner", repo => repo.File("inner.txt", "inner\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        var outer = _temp.Combine("outer");
        var stray = Path.Combine(outer, "stray", "mine.txt");

        var first = await cli.RunAsync("download", "gpt2", "--local-dir", outer);
        var inner = await cli.RunAsync("download", "acme/inner", "--local-dir", Path.Combine(outer, "x"));
        Directory.CreateDirectory(Path.GetDirectoryName(stray)!);
        File.WriteAllText(stray, "mine\n");
        var verify = await cli.RunAsync("download", "gpt2", "--local-dir", outer, "--verify", "--json");

        Assert.True(first.ExitCode == 0 && inner.ExitCode == 0, first + inner.ToString());
        // Only the stray file of no download is extra; the nested download's files and metadata are not.
        Assert.Equal(1, verify.ExitCode);
        var extras = verify.Out.Split('\n').Where(l => l.Contains("\"status\":\"extra\"", StringComparison.Ordinal)).ToList();
        var extra = Assert.Single(extras);
        Assert.Contains("stray/mine.txt", extra, StringComparison.Ordinal);
        // Nothing to fix: --fix-broken is not offered for an extra file, what to do about it is said instead.
        Assert.DoesNotContain("--fix-broken", verify.Error, StringComparison.Ordinal);
        Assert.Contains("hfdl never deletes it: remove it, or leave it out with --exclude", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_download_into_a_folder_inside_one_in_progress_leaves_that_download_s_temporary_files_alone()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/inner", repo => repo.File("inner.txt", "inner\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        var outer = _temp.Combine("outer");
        var sub = Path.Combine(outer, "sub");
        Directory.CreateDirectory(sub);
        // The outer download, in progress: its lock held, its big file's temporary file in sub/, which it keeps writing.
        var outerPart = Path.Combine(sub, ".big.bin.0123abcd.hfdl-part");
        File.WriteAllText(outerPart, "half of big.bin");
        CliResult inner;
        using (Hfdl.Core.Storage.RepoFolderLock.TryAcquire(outer, out _))
        {
            inner = await cli.RunAsync("download", "acme/inner", "--local-dir", sub);
        }

        Assert.True(inner.ExitCode == 0, inner.ToString());
        Assert.Contains($"A download in progress into '{outer}'", inner.Error, StringComparison.Ordinal);
        Assert.Equal("half of big.bin", File.ReadAllText(outerPart)); // deleting it failed the outer download (QA)
        var afterwards = await cli.RunAsync("download", "acme/inner", "--local-dir", sub, "--force-download");
        // With nothing in progress above, a temporary file no journal names is an interrupted run's, and goes.
        Assert.True(afterwards.ExitCode == 0, afterwards.ToString());
        Assert.False(File.Exists(outerPart));
    }

    [Fact]
    public async Task Verify_while_another_hfdl_downloads_into_the_folder_says_so()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/busy", repo => repo.File("config.json", "{}\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        var target = _temp.Combine("busy");
        var first = await cli.RunAsync("download", "acme/busy", "--local-dir", target);

        string withLock;
        using (await Hfdl.Core.Storage.RepoFolderLock.AcquireAsync(target, null, TimeProvider.System, CancellationToken.None))
        {
            withLock = (await cli.RunAsync("download", "acme/busy", "--local-dir", target, "--verify")).Error;
        }
        var alone = await cli.RunAsync("download", "acme/busy", "--local-dir", target, "--verify");

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("is downloading into", withLock, StringComparison.Ordinal);
        Assert.Contains("Verify again once it is done.", withLock, StringComparison.Ordinal);
        Assert.True(alone.ExitCode == 0, alone.ToString());
        Assert.DoesNotContain("is downloading into", alone.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task What_a_kill_while_writing_a_record_leaves_is_hfdl_s_own_and_the_next_download_deletes_it()
    {
        // A kill between the write and the rename of the journal, the lock's record, metadata or a ref (QA: helper-58 #1).
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/records", repo => repo.File("config.json", "{}\n").File("sub/a.txt", "a\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        var target = _temp.Combine("records");
        var cache = _temp.Combine("cache");
        const string Hex = "0123456789abcdef0123456789abcdef";
        var first = await cli.RunAsync("download", "acme/records", "--local-dir", target);
        var firstCache = await cli.RunAsync("download", "acme/records", "--cache-dir", cache);
        var commit = store.MainSnapshot(RepoType.Model, "acme/records").CommitId;
        string[] stale =
        [
            Path.Combine(target, $"..download_state.{Hex}.tmp"),
            Path.Combine(target, $"..hfdl.lock.info.{Hex}.tmp"),
            Path.Combine(target, ".cache", "huggingface", "download", "sub", $".a.txt.metadata.{Hex}.tmp"),
        ];
        var refs = Path.Combine(cache, "models--acme--records", "refs");
        string[] staleInCache = [Path.Combine(refs, $".main.{Hex}.tmp"), Path.Combine(refs, ".v1.fedcba9876543210fedcba9876543210.tmp"), Path.Combine(cache, "models--acme--records", $"..download_state.{Hex}.tmp")];
        foreach (var path in stale)
        {
            File.WriteAllText(path, "{\"half\":");
        }
        File.WriteAllText(staleInCache[0], commit);
        File.WriteAllText(staleInCache[1], "");
        File.WriteAllText(staleInCache[2], "{");
        // The user's own file, of a temporary file's shape but of no record of hfdl's: theirs, never deleted.
        var mine = Path.Combine(target, $".notes.txt.{Hex}.tmp");

        var verify = await cli.RunAsync("download", "acme/records", "--local-dir", target, "--verify");
        var dryRun = await cli.RunAsync("download", "acme/records", "--local-dir", target, "--dry-run");
        var list = await cli.RunAsync("cache", "ls", "--cache-dir", cache);
        File.WriteAllText(mine, "mine\n");
        var again = await cli.RunAsync("download", "acme/records", "--local-dir", target);
        var againCache = await cli.RunAsync("download", "acme/records", "--cache-dir", cache);

        Assert.True(first.ExitCode == 0 && firstCache.ExitCode == 0, first + firstCache.ToString());
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.DoesNotContain(".tmp", verify.All, StringComparison.Ordinal);
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.DoesNotContain(".tmp", dryRun.All, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.DoesNotContain(".tmp", list.All, StringComparison.Ordinal);
        Assert.DoesNotContain("bad ref", list.All, StringComparison.Ordinal);
        Assert.True(again.ExitCode == 0 && againCache.ExitCode == 0, again + againCache.ToString());
        Assert.All(stale.Concat(staleInCache), path => Assert.False(File.Exists(path), path));
        Assert.Equal("mine\n", File.ReadAllText(mine));
        Assert.Equal(commit, File.ReadAllText(Path.Combine(refs, "main")));
    }
}
