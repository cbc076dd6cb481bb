using Hfdl.Cli;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Ecosystem;

/// <summary>
/// <c>hfdl cache rm</c> and <c>hfdl cache prune</c> on caches written by <c>hfdl download --cache-dir</c>: revisions
/// sharing blobs, a ref that moved, detached snapshots, links out of the cache, and a download running meanwhile.
/// </summary>
public sealed class CacheCleanTests(HfCompatHub hub) : IClassFixture<HfCompatHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Cache => _temp.Combine("hf-cache");

    private CliRunner Cli() => new(hub.Server, _temp);

    private string RepoFolder(string id) => Path.Combine(Cache, HfCacheLayout.FolderName(RepoType.Model, RepoId.Parse(id)));

    private string Snapshot(string id, string commit) => Path.Combine(RepoFolder(id), "snapshots", commit);

    private string Blob(string id, FileContent content, bool lfs = false) => Path.Combine(RepoFolder(id), "blobs", lfs ? content.Sha256 : content.GitSha1);

    private static FileContent Config(int generation) => $"{{\"generation\":{generation}}}\n";

    private static FileContent OnlyMain(int generation) => $"main at generation {generation}\n";

    private static FileContent TagOnly(int generation) => $"tag at generation {generation}\n";

    /// <summary>
    /// Publishes generation <paramref name="generation"/> of <paramref name="id"/>: main has config.json and
    /// only-main.txt of that generation plus shared.txt and weights.safetensors, the same in every generation; the tag
    /// v1 has main's files without only-main.txt, and tag-only.txt.
    /// </summary>
    private (string Main, string V1) Publish(string id, int generation, HubFaults? faults = null)
    {
        hub.Store.AddRepo(RepoType.Model, id, repo => repo
            .File("config.json", Config(generation))
            .File("only-main.txt", OnlyMain(generation))
            .File("shared.txt", "the same in every revision\n")
            .File("weights.safetensors", SyntheticContent.Create(300_000, seed: 9))
            .Settings(s => s with { Faults = faults })
            .Revision("v1", RevisionKind.Tag, r => r.Remove("only-main.txt").File("tag-only.txt", TagOnly(generation)), inheritMain: true));
        return (hub.Store.MainSnapshot(RepoType.Model, id).CommitId, hub.Store.At(RepoType.Model, id, "v1").CommitId);
    }

    private async Task DownloadAsync(string id, params string[] more)
    {
        var result = await Cli().RunAsync(["download", id, "--cache-dir", Cache, .. more]);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    /// <summary>
    /// Generation 1 of main (M1) and v1 (V1) downloaded, then generation 2 of main (M2): refs/main moved, so M1 is
    /// detached; V1 still shares config.json's blob with M1.
    /// </summary>
    private async Task<(string M1, string V1, string M2)> EvolveAsync(string id)
    {
        var (m1, v1) = Publish(id, 1);
        await DownloadAsync(id);
        await DownloadAsync(id, "--revision", "v1");
        var (m2, _) = Publish(id, 2);
        await DownloadAsync(id);
        Assert.Equal(m2, await File.ReadAllTextAsync(Path.Combine(RepoFolder(id), "refs", "main")));
        return (m1, v1, m2);
    }

    /// <summary>Bytes of the regular files under <paramref name="folder"/>, links not followed, the lock's files left out.</summary>
    private static long RegularBytes(string folder) =>
        Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Where(f => !Path.GetFileName(f).StartsWith(RepoFolderLock.FileName, StringComparison.Ordinal))
            .Sum(f => new FileInfo(f).Length);

    [Fact]
    public async Task Prune_removes_detached_revisions_and_unreferenced_blobs_and_never_a_blob_another_snapshot_links()
    {
        const string id = "acme/prune";
        var (m1, v1, m2) = await EvolveAsync(id);
        // An unreferenced blob, and entries of the detached snapshot that link out of the cache.
        var orphan = Path.Combine(RepoFolder(id), "blobs", new string('e', 64));
        await File.WriteAllBytesAsync(orphan, new byte[1000]);
        var outside = _temp.Combine("outside");
        Directory.CreateDirectory(Path.Combine(outside, "folder"));
        await File.WriteAllTextAsync(Path.Combine(outside, "keep.txt"), "not the cache's\n");
        await File.WriteAllTextAsync(Path.Combine(outside, "folder", "inner.txt"), "not the cache's either\n");
        File.CreateSymbolicLink(Path.Combine(Snapshot(id, m1), "outside.txt"), Path.Combine(outside, "keep.txt"));
        Directory.CreateSymbolicLink(Path.Combine(Snapshot(id, m1), "outside-folder"), Path.Combine(outside, "folder"));
        var freed = new FileInfo(Blob(id, OnlyMain(1))).Length + 1000 + new FileInfo(Path.Combine(RepoFolder(id), "trees", m1 + ".json")).Length;
        var before = HfCompatHub.Layout(Cache);

        var dryRun = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "--dry-run");

        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Contains($"model/{id}  1 revision and 2 blobs  {Units.Bytes(freed)}", dryRun.Out, StringComparison.Ordinal);
        Assert.Contains($"    {m1}  (detached)", dryRun.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(v1, dryRun.Out, StringComparison.Ordinal);
        Assert.Contains($"freeing {Units.Bytes(freed)}; nothing was deleted", dryRun.Error, StringComparison.Ordinal);
        Assert.Equal(before, HfCompatHub.Layout(Cache));

        var prune = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");

        Assert.True(prune.ExitCode == 0, prune.ToString());
        Assert.Contains($"Deleted 1 revision and 2 blobs; freed {Units.Bytes(freed)}.", prune.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Snapshot(id, m1)));
        Assert.True(Directory.Exists(Snapshot(id, v1)));
        Assert.True(Directory.Exists(Snapshot(id, m2)));
        Assert.False(File.Exists(Blob(id, OnlyMain(1))));
        Assert.False(File.Exists(orphan));
        Assert.True(File.Exists(Blob(id, Config(1))), "v1 still links generation 1's config.json");
        Assert.Equal("not the cache's\n", await File.ReadAllTextAsync(Path.Combine(outside, "keep.txt")));
        Assert.Equal("not the cache's either\n", await File.ReadAllTextAsync(Path.Combine(outside, "folder", "inner.txt")));
        var verify = await Cli().RunAsync("cache", "verify", id, "--cache-dir", Cache);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        foreach (var revision in new[] { "main", "v1" })
        {
            var offline = await Cli().RunAsync("download", id, "--revision", revision, "--cache-dir", Cache, "--offline");
            Assert.True(offline.ExitCode == 0, offline.ToString());
        }

        var again = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("nothing to prune", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rm_of_a_revision_takes_its_snapshot_its_refs_and_only_the_blobs_no_other_snapshot_links()
    {
        const string id = "acme/rm-revision";
        var (m1, v1, m2) = await EvolveAsync(id);
        // The ref v1 goes too, and counts: 40 bytes.
        var freed = new FileInfo(Blob(id, TagOnly(1))).Length + new FileInfo(Path.Combine(RepoFolder(id), "trees", v1 + ".json")).Length
            + new FileInfo(Path.Combine(RepoFolder(id), "refs", "v1")).Length;
        Assert.Equal(40, new FileInfo(Path.Combine(RepoFolder(id), "refs", "v1")).Length);

        var rm = await Cli().RunAsync("cache", "rm", id, "--revision", "v1", "--cache-dir", Cache, "-y");

        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Contains($"    {v1}  v1", rm.Out, StringComparison.Ordinal);
        Assert.Contains($"Deleted 1 revision and 1 blob; freed {Units.Bytes(freed)}.", rm.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Snapshot(id, v1)));
        Assert.False(File.Exists(Path.Combine(RepoFolder(id), "refs", "v1")));
        Assert.False(File.Exists(Blob(id, TagOnly(1))));
        Assert.True(File.Exists(Blob(id, Config(1))), "the detached generation-1 main still links it");
        Assert.True(Directory.Exists(Snapshot(id, m1)));
        Assert.True(Directory.Exists(Snapshot(id, m2)));

        // A commit id, as hf cache rm takes it: now generation 1's config.json goes too.
        var byCommit = await Cli().RunAsync("cache", "rm", m1, "--cache-dir", Cache, "-y");

        Assert.True(byCommit.ExitCode == 0, byCommit.ToString());
        Assert.False(Directory.Exists(Snapshot(id, m1)));
        Assert.False(File.Exists(Blob(id, Config(1))));
        Assert.False(File.Exists(Blob(id, OnlyMain(1))));
        Assert.True(File.Exists(Blob(id, Config(2))));
        var verify = await Cli().RunAsync("cache", "verify", id, "--cache-dir", Cache);
        Assert.True(verify.ExitCode == 0, verify.ToString());
    }

    [Fact]
    public async Task Rm_of_a_repo_by_hf_s_cache_id_removes_the_whole_folder_and_reports_the_space_freed()
    {
        const string id = "acme/rm-whole";
        await EvolveAsync(id);
        await DownloadAsync("acme/tiny");
        var freed = RegularBytes(RepoFolder(id));

        var rm = await Cli().RunAsync("cache", "rm", $"model/{id}", "--cache-dir", Cache, "-y");

        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Contains($"model/{id}  entire repo  {Units.Bytes(freed)}", rm.Out, StringComparison.Ordinal);
        Assert.Contains($"Deleted 1 repo; freed {Units.Bytes(freed)}.", rm.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(RepoFolder(id)));
        Assert.True(Directory.Exists(RepoFolder("acme/tiny")));
        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);
        Assert.DoesNotContain(id, list.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_takes_hf_s_cache_id_as_cache_rm_does()
    {
        await DownloadAsync("acme/tiny");

        var byCacheId = await Cli().RunAsync("cache", "verify", "model/acme/tiny", "--cache-dir", Cache);
        var otherType = await Cli().RunAsync("cache", "verify", "dataset/acme/tiny", "--cache-dir", Cache);

        Assert.True(byCacheId.ExitCode == 0, byCacheId.ToString());
        Assert.Contains("Verified", byCacheId.Error, StringComparison.Ordinal);
        Assert.Equal(1, otherType.ExitCode); // a dataset of that name is not cached: said so, not refused as an id
        Assert.DoesNotContain("not a valid repository id", otherType.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_of_a_repo_whose_only_download_fetched_nothing_says_so_where_ls_lists_it()
    {
        Publish("acme/tiny", 1);
        // A file that does not exist: as huggingface_hub, the cache gets refs/main and .no_exist, no snapshot.
        var failed = await Cli().RunAsync("download", "acme/tiny", "nope.txt", "--cache-dir", Cache);
        Assert.Equal(1, failed.ExitCode);

        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);
        var verify = await Cli().RunAsync("cache", "verify", "acme/tiny", "--cache-dir", Cache);

        Assert.Contains("acme/tiny", list.Out, StringComparison.Ordinal);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("holds no snapshot of model 'acme/tiny'", verify.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("holds no model", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_repo_listed_under_a_name_that_is_no_valid_repo_id_is_removed_by_that_name_and_only_it()
    {
        // Another tool wrote models--a--b--c; ls lists it as a/b/c, which no download could name.
        await DownloadAsync("acme/tiny");
        var odd = Path.Combine(Cache, "models--a--b--c");
        Directory.CreateDirectory(Path.Combine(odd, "snapshots", new string('c', 40)));
        File.WriteAllText(Path.Combine(odd, "snapshots", new string('c', 40), "f.txt"), "hi");
        var oddDataset = Path.Combine(Cache, "datasets--a--b--c");
        Directory.CreateDirectory(Path.Combine(oddDataset, "snapshots"));
        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);
        Assert.Contains("a/b/c", list.Out, StringComparison.Ordinal);

        var asListed = await Cli().RunAsync("cache", "rm", "a/b/c", "--cache-dir", Cache, "--dry-run");
        Assert.True(asListed.ExitCode == 0, asListed.ToString());
        Assert.Contains("model/a/b/c  entire repo", asListed.Out, StringComparison.Ordinal);
        Assert.True(Directory.Exists(odd));

        var byCacheId = await Cli().RunAsync("cache", "rm", "model/a/b/c", "--cache-dir", Cache, "-y");
        Assert.True(byCacheId.ExitCode == 0, byCacheId.ToString());
        Assert.False(Directory.Exists(odd));
        Assert.True(Directory.Exists(oddDataset), "the dataset of the same name is another repo");
        Assert.True(Directory.Exists(RepoFolder("acme/tiny")));

        var byType = await Cli().RunAsync("cache", "rm", "a/b/c", "--repo-type", "dataset", "--cache-dir", Cache, "-y");
        Assert.True(byType.ExitCode == 0, byType.ToString());
        Assert.False(Directory.Exists(oddDataset));

        // A name no folder has is still refused as an invalid id, before anything is read or deleted.
        var unknown = await Cli().RunAsync("cache", "rm", "x/y/z", "--cache-dir", Cache, "-y");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("not a valid repository id", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rm_by_an_hf_cache_id_that_is_not_cached_says_so_and_still_removes_the_other_targets()
    {
        const string id = "acme/rm-with-missing";
        Publish(id, 1);
        await DownloadAsync(id);

        var rm = await Cli().RunAsync("cache", "rm", $"model/{id}", "model/acme/never-cached", "--cache-dir", Cache, "-y");

        Assert.True(rm.ExitCode == 1, rm.ToString());
        Assert.Contains("not in the cache", rm.Error, StringComparison.Ordinal);
        Assert.Contains("model/acme/never-cached", rm.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("not a valid repository id", rm.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(RepoFolder(id)));
    }

    [Theory]
    [InlineData("trees")]
    [InlineData(".no_exist")]
    public async Task Rm_of_a_revision_never_deletes_through_a_linked_trees_or_no_exist_folder(string part)
    {
        var id = "acme/linked-" + part.TrimStart('.').Replace('_', '-');
        var (_, v1, _) = await EvolveAsync(id);
        // The folder moves out of the cache and a link takes its place, holding what the revision's removal would delete.
        var outside = _temp.Combine("outside-" + part);
        var inside = Path.Combine(RepoFolder(id), part);
        if (Directory.Exists(inside))
        {
            Directory.Move(inside, outside);
        }
        Directory.CreateDirectory(Path.Combine(outside, v1));
        File.WriteAllText(Path.Combine(outside, v1, "precious.txt"), "not the cache's");
        File.WriteAllText(Path.Combine(outside, v1 + ".json"), "not the cache's");
        Directory.CreateSymbolicLink(inside, outside);

        var rm = await Cli().RunAsync("cache", "rm", id, "--revision", "v1", "--cache-dir", Cache, "-y");

        Assert.True(rm.ExitCode == 1, rm.ToString());
        Assert.Contains($"its {part} folder is a link", rm.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outside, v1, "precious.txt")));
        Assert.True(File.Exists(Path.Combine(outside, v1 + ".json")));
        Assert.True(Directory.Exists(Snapshot(id, v1)), "the repo is left alone");

        // Prune (generation 1 of main is detached) cannot see behind the link what would go: it says so, not "nothing".
        var prune = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");

        Assert.True(prune.ExitCode == 1, prune.ToString());
        Assert.Contains($"its {part} folder is a link", prune.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outside, v1, "precious.txt")));
    }

    [Fact]
    public async Task Prune_reads_a_ref_with_a_byte_order_mark_and_keeps_its_snapshot()
    {
        const string id = "acme/bom-ref";
        var (m1, _) = Publish(id, 1);
        await DownloadAsync(id);
        File.WriteAllBytes(Path.Combine(RepoFolder(id), "refs", "main"), [0xEF, 0xBB, 0xBF, .. System.Text.Encoding.ASCII.GetBytes(m1 + "\n")]);

        var prune = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");

        Assert.True(prune.ExitCode == 0, prune.ToString());
        Assert.Contains("nothing to prune", prune.Error, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Snapshot(id, m1)));
    }

    [Fact]
    public async Task Prune_leaves_a_repo_alone_when_a_ref_cannot_be_read_and_never_blocks_on_a_fifo_or_a_device()
    {
        const string id = "acme/odd-refs";
        var (_, v1) = Publish(id, 1);
        await DownloadAsync(id);
        await DownloadAsync(id, "--revision", "v1");
        // v1's only ref becomes a FIFO (opening it would wait for a writer for ever); another is a link to /dev/zero.
        var v1Ref = Path.Combine(RepoFolder(id), "refs", "v1");
        File.Delete(v1Ref);
        Assert.Equal(0, Mkfifo(v1Ref, Convert.ToUInt32("644", 8)));
        File.CreateSymbolicLink(Path.Combine(RepoFolder(id), "refs", "zero"), "/dev/zero");

        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);
        var prune = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains(id, list.Out, StringComparison.Ordinal);
        Assert.True(prune.ExitCode == 1, prune.ToString());
        Assert.Contains("cannot tell which snapshots are still in use", prune.Error, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Snapshot(id, v1)), "the snapshot of the ref hfdl could not read is kept");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);

    [Fact]
    public async Task Prune_leaves_a_repo_alone_when_a_folder_of_refs_is_a_link_it_does_not_read_and_its_dry_run_says_so()
    {
        const string id = "acme/linked-pr-refs";
        var (m1, _, _) = await EvolveAsync(id);
        // refs/pr moved elsewhere and linked: its pr/1 keeps generation 1 of main, which looks detached from inside.
        var outside = Directory.CreateDirectory(_temp.Combine("outside-pr")).FullName;
        File.WriteAllText(Path.Combine(outside, "1"), m1);
        Directory.CreateSymbolicLink(Path.Combine(RepoFolder(id), "refs", "pr"), outside);

        var dryRun = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "--dry-run");
        var prune = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");

        // The dry run's exit code is the run's, and what it lists on stdout is only what would go.
        Assert.True(dryRun.ExitCode == 1, dryRun.ToString());
        Assert.Contains($"model/{id}  left alone", dryRun.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(m1, dryRun.Out, StringComparison.Ordinal);
        Assert.True(prune.ExitCode == 1, prune.ToString());
        Assert.Contains("refs folder pr is a link", prune.Error, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Snapshot(id, m1)), "the snapshot refs/pr/1 points at is kept");
        Assert.Equal(m1, File.ReadAllText(Path.Combine(outside, "1")));
    }

    [Fact]
    public async Task Rm_writes_nothing_through_a_repo_folder_that_is_a_link_and_removes_only_the_link()
    {
        const string id = "acme/moved-repo";
        var (_, v1, _) = await EvolveAsync(id);
        var outside = _temp.Combine("moved");
        Directory.Move(RepoFolder(id), outside);
        Directory.CreateSymbolicLink(RepoFolder(id), outside);
        foreach (var lockFile in Directory.EnumerateFiles(outside, RepoFolderLock.FileName + "*"))
        {
            File.Delete(lockFile); // the downloads' lock files: the cleaning must not write them anew
        }
        var before = Directory.EnumerateFileSystemEntries(outside, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

        var revision = await Cli().RunAsync("cache", "rm", id, "--revision", v1, "--cache-dir", Cache, "-y");
        var whole = await Cli().RunAsync("cache", "rm", id, "--cache-dir", Cache, "-y");

        Assert.True(revision.ExitCode == 1, revision.ToString());
        Assert.Contains("the repo folder is a link", revision.Error, StringComparison.Ordinal);
        Assert.True(whole.ExitCode == 0, whole.ToString());
        Assert.False(Directory.Exists(RepoFolder(id)) || File.Exists(RepoFolder(id)), "the link is removed");
        // Not even the lock's files were written in the folder the link pointed at.
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(outside, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public async Task A_ref_that_is_a_link_to_a_file_is_read_by_rm_as_by_ls_and_prune()
    {
        const string id = "acme/linked-ref";
        var (_, v1, _) = await EvolveAsync(id);
        var outside = _temp.Combine("v1-ref");
        File.Move(Path.Combine(RepoFolder(id), "refs", "v1"), outside);
        File.CreateSymbolicLink(Path.Combine(RepoFolder(id), "refs", "v1"), outside);

        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);
        var rm = await Cli().RunAsync("cache", "rm", id, "--revision", "v1", "--cache-dir", Cache, "--dry-run");

        Assert.Contains($"v1 ({v1[..8]})", list.Out, StringComparison.Ordinal);
        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Contains($"    {v1}  v1", rm.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_reports_a_fifo_blob_without_opening_it_and_ls_shows_odd_folder_names_escaped()
    {
        const string id = "acme/fifo-blob";
        var (m1, _) = Publish(id, 1);
        await DownloadAsync(id);
        // A FIFO where a blob belongs, linked from the snapshot as the cache links files: opening it would wait for ever.
        var fifo = Path.Combine(RepoFolder(id), "blobs", new string('b', 40));
        Assert.Equal(0, Mkfifo(fifo, Convert.ToUInt32("644", 8)));
        File.CreateSymbolicLink(Path.Combine(Snapshot(id, m1), "fifo.txt"), Path.Combine("..", "..", "blobs", new string('b', 40)));
        Directory.CreateDirectory(Path.Combine(Cache, "models--new\nline--x"));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var verify = await Task.Run(() => Cli().RunAsync(deadline.Token, "cache", "verify", id, "--cache-dir", Cache)).WaitAsync(deadline.Token);
        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"corrupt  {m1[..8]}/fifo.txt (not a regular file", verify.Out, StringComparison.Ordinal);
        Assert.Contains("new\\x0aline/x", list.Out, StringComparison.Ordinal); // shown, not obeyed
        Assert.DoesNotContain("new\nline", list.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rm_takes_a_commit_id_in_upper_case_with_revision_too()
    {
        const string id = "acme/upper-commit";
        var (_, v1, _) = await EvolveAsync(id);

        var rm = await Cli().RunAsync("cache", "rm", id, "--revision", v1.ToUpperInvariant(), "--cache-dir", Cache, "--dry-run");

        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Contains($"    {v1}  v1", rm.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_cache_dir_is_a_usage_error()
    {
        var rm = await Cli().RunAsync("cache", "ls", "--cache-dir", "");

        Assert.True(rm.ExitCode == 2, rm.ToString());
        Assert.Contains("--cache-dir needs a folder", rm.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("bug", rm.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rm_asks_first_at_a_terminal_and_elsewhere_deletes_only_with_yes()
    {
        const string id = "acme/rm-ask";
        Publish(id, 1);
        var cli = Cli();
        cli.Environment["HF_HUB_CACHE"] = Cache; // the cache hf and hfdl use when no --cache-dir is given
        await DownloadAsync(id);
        var before = HfCompatHub.Layout(Cache);

        var noTerminal = await cli.RunAsync("cache", "rm", id);

        Assert.Equal(2, noTerminal.ExitCode);
        Assert.Contains("--yes", noTerminal.Error, StringComparison.Ordinal);
        Assert.Contains("Nothing was deleted", noTerminal.Error, StringComparison.Ordinal);
        Assert.Equal(before, HfCompatHub.Layout(Cache));

        cli.Prompt = _ => "n";
        var declined = await cli.RunAsync("cache", "rm", id);

        Assert.True(declined.ExitCode == 0, declined.ToString());
        Assert.Contains("[y/N]", Assert.Single(cli.Questions), StringComparison.Ordinal);
        Assert.Contains("nothing was deleted", declined.Error, StringComparison.Ordinal);
        Assert.Equal(before, HfCompatHub.Layout(Cache));

        cli.Prompt = _ => "y";
        var confirmed = await cli.RunAsync("cache", "rm", id, "acme/not-cached");

        // Like rm: what is there goes, and a target that is not makes the exit code 1.
        Assert.True(confirmed.ExitCode == 1, confirmed.ToString());
        Assert.Contains("not in the cache", confirmed.Error, StringComparison.Ordinal);
        Assert.Contains("model/acme/not-cached", confirmed.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(RepoFolder(id)));
    }

    [Fact]
    public async Task Rm_and_prune_leave_a_repo_alone_while_a_download_holds_it_and_name_the_download()
    {
        const string id = "acme/held";
        var (m1, _) = Publish(id, 1);
        await DownloadAsync(id);
        // Generation 2's weights stop part-way and never finish: the download holds the repo's lock meanwhile.
        var (m2, _) = Publish(id, 2, HubFaults.None with { Stall = new StallFault(AfterBytes: 50_000) { Repeat = FaultRepeat.Always } });
        var cli = Cli();
        cli.Environment["HF_HUB_DOWNLOAD_TIMEOUT"] = "600";
        using var download = HfdlProcess.Start(cli.Environment, "download", id, "--cache-dir", Cache);
        var mainRef = Path.Combine(RepoFolder(id), "refs", "main");
        // The download writes refs/main under the lock: once it points at generation 2, generation 1 is detached.
        await download.WaitUntilAsync(() => RepoFolderLock.Holder(RepoFolder(id)) is not null && File.Exists(mainRef) && File.ReadAllText(mainRef) == m2,
            TimeSpan.FromSeconds(60), "the download to take the repo's lock and move main");
        Assert.True(Directory.Exists(Snapshot(id, m1)), "generation 1 of main is detached now, and still there");

        var prune = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");
        var rm = await Cli().RunAsync("cache", "rm", id, "--cache-dir", Cache, "-y");
        var dryRun = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "--dry-run");

        Assert.True(prune.ExitCode == 1, prune.ToString());
        Assert.Contains($"model/{id} was left alone: in use by a download (pid {download.Id} ", prune.Error, StringComparison.Ordinal);
        Assert.Contains("Run the same command again", prune.Error, StringComparison.Ordinal);
        Assert.True(rm.ExitCode == 1, rm.ToString());
        Assert.Contains($"pid {download.Id} ", rm.Error, StringComparison.Ordinal);
        Assert.True(dryRun.ExitCode == 1, dryRun.ToString());
        Assert.Contains($"pid {download.Id} ", dryRun.Error, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Snapshot(id, m1)));
        Assert.True(File.Exists(Blob(id, OnlyMain(1))));

        download.KillHard(); // The kernel drops the lock with its holder.
        await download.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var after = await Cli().RunAsync("cache", "prune", "--cache-dir", Cache, "-y");

        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.False(Directory.Exists(Snapshot(id, m1)));
        Assert.False(File.Exists(Blob(id, OnlyMain(1))));
    }
}
