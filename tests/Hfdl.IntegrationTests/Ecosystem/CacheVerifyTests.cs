using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Ecosystem;

/// <summary>
/// <c>hfdl cache verify</c> and <c>hfdl cache ls</c> on caches written by <c>hfdl download --cache-dir</c> and then
/// damaged, or written by hand as huggingface_hub writes them.
/// </summary>
public sealed class CacheVerifyTests(HfCompatHub hub) : IClassFixture<HfCompatHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Cache => _temp.Combine("hf-cache");

    private CliRunner Cli() => new(hub.Server, _temp);

    private string RepoFolder(string id, RepoType type = RepoType.Model) => Path.Combine(Cache, HfCacheLayout.FolderName(type, RepoId.Parse(id)));

    /// <summary>Publishes <paramref name="id"/> with a README, a config and weights, and returns main's commit.</summary>
    private string Publish(string id, RepoType type = RepoType.Model)
    {
        hub.Store.AddRepo(type, id, repo => repo
            .File("README.md", $"# {id}\n")
            .File("config.json", "{\"layers\":2}\n")
            .File("model.safetensors", SyntheticContent.Create(200_000, seed: 3)));
        return hub.Store.MainSnapshot(type, id).CommitId;
    }

    private async Task DownloadAsync(params string[] arguments)
    {
        var result = await Cli().RunAsync(["download", .. arguments, "--cache-dir", Cache]);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Cache_verify_reports_a_downloaded_file_gone_from_its_snapshot_as_missing()
    {
        const string id = "acme/verify-gone";
        var commit = Publish(id);
        await DownloadAsync(id);
        File.Delete(Path.Combine(RepoFolder(id), "snapshots", commit, "model.safetensors"));

        var verify = await Cli().RunAsync("cache", "verify", id, "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"missing  {commit[..8]}/model.safetensors", verify.Out, StringComparison.Ordinal);
        Assert.Contains("Verified 3 files", verify.Error, StringComparison.Ordinal);
        Assert.Contains("2 ok, 1 bad.", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_of_a_snapshot_downloaded_in_part_passes_though_the_listing_names_more()
    {
        const string id = "acme/verify-part";
        Publish(id);
        await DownloadAsync(id, "config.json");

        var verify = await Cli().RunAsync("cache", "verify", id, "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("Verified 1 file of model acme/verify-part", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_does_not_call_missing_a_file_of_an_older_revision_that_was_downloaded_only_for_another()
    {
        // The tag shares model.safetensors (same blob) with main; only the tag's config.json is downloaded for the tag,
        // then all of main: the journal's model.safetensors is main's, not the tag's.
        const string id = "acme/verify-two-revs";
        hub.Store.AddRepo(RepoType.Model, id, repo => repo
            .File("README.md", $"# {id}\n")
            .File("config.json", "{\"layers\":2}\n")
            .File("model.safetensors", SyntheticContent.Create(200_000, seed: 3))
            .Revision("t1", RevisionKind.Tag, r => r.File("config.json", "{\"layers\":1}\n"), inheritMain: true));
        await DownloadAsync(id, "--revision", "t1", "config.json");
        await DownloadAsync(id);

        var verify = await Cli().RunAsync("cache", "verify", id, "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.DoesNotContain("missing", verify.Out, StringComparison.Ordinal);
        Assert.Contains("Verified 4 files of model acme/verify-two-revs", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_branch_whose_name_nests_under_a_cached_ref_is_refused_in_one_paragraph_and_its_commit_id_still_downloads()
    {
        const string id = "acme/nested-refs";
        hub.Store.AddRepo(RepoType.Model, id, repo => repo
            .File("config.json", "{\"layers\":2}\n")
            .Revision("main/x", RevisionKind.Branch, r => r.File("x.txt", "x\n"), inheritMain: true));
        var main = hub.Store.MainSnapshot(RepoType.Model, id).CommitId;
        var nested = hub.Store.At(RepoType.Model, id, "main/x").CommitId;
        await DownloadAsync(id, "--revision", "main/x");

        var refused = await Cli().RunAsync("download", id, "--cache-dir", Cache);
        var byCommit = await Cli().RunAsync("download", id, "--cache-dir", Cache, "--revision", main);

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"The revision 'main' (commit {main}) cannot be recorded in the Hugging Face cache", refused.Error, StringComparison.Ordinal);
        Assert.Contains("the cache already records revision 'main/x'", refused.Error, StringComparison.Ordinal);
        Assert.Contains($"ask for the commit id {main} instead", refused.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Is a directory", refused.Error, StringComparison.Ordinal);
        Assert.Equal(nested, await File.ReadAllTextAsync(Path.Combine(RepoFolder(id), "refs", "main", "x")));
        Assert.True(byCommit.ExitCode == 0, byCommit.ToString());
        Assert.True(File.Exists(Path.Combine(RepoFolder(id), "snapshots", main, "config.json")));
    }

    [Fact]
    public async Task Cache_verify_of_copies_with_no_cached_listing_says_nothing_was_verified_and_fails()
    {
        // huggingface_hub without symlinks: copies in the snapshot, blobs/ empty, no trees/<commit>.json.
        var commit = new string('1', 40);
        var repo = RepoFolder("acme/copies");
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", commit));
        await File.WriteAllTextAsync(Path.Combine(repo, "refs", "main"), commit);
        await File.WriteAllTextAsync(Path.Combine(repo, "snapshots", commit, "w.bin"), "weights");
        await File.WriteAllTextAsync(Path.Combine(repo, "snapshots", commit, "config.json"), "{}");

        var verify = await Cli().RunAsync("cache", "verify", "acme/copies", "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.DoesNotContain("Verified", verify.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was verified: none of the 2 files of model acme/copies", verify.Error, StringComparison.Ordinal);
        Assert.Contains($"--revision {commit} --verify", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_names_the_download_that_repairs_a_corrupt_blob_and_that_download_repairs_it()
    {
        const string id = "acme/verify-repair";
        var commit = Publish(id, RepoType.Dataset);
        await DownloadAsync(id, "--repo-type", "dataset");
        var readme = new FileInfo(Path.Combine(RepoFolder(id, RepoType.Dataset), "snapshots", commit, "README.md")).ResolveLinkTarget(returnFinalTarget: true)!.FullName;
        await File.WriteAllTextAsync(readme, "# tampered\n");

        var verify = await Cli().RunAsync("cache", "verify", id, "--repo-type", "dataset", "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"corrupt  {commit[..8]}/README.md", verify.Out, StringComparison.Ordinal);
        Assert.Contains($"To repair {commit[..8]}: hfdl download {id} --repo-type dataset --cache-dir {Cache} --revision {commit} --verify --fix-broken", verify.Error, StringComparison.Ordinal);

        var repair = await Cli().RunAsync("download", id, "--repo-type", "dataset", "--cache-dir", Cache, "--revision", commit, "--verify", "--fix-broken");
        var again = await Cli().RunAsync("cache", "verify", id, "--repo-type", "dataset", "--cache-dir", Cache);

        Assert.True(again.ExitCode == 0, repair + "\n" + again);
        Assert.Equal($"# {id}\n", await File.ReadAllTextAsync(readme));
        Assert.DoesNotContain("To repair", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dataset_named_without_its_type_is_pointed_at_by_cache_verify_and_cache_rm()
    {
        const string id = "acme/typed-data";
        Publish(id, RepoType.Dataset);
        await DownloadAsync(id, "--repo-type", "dataset");

        var verify = await Cli().RunAsync("cache", "verify", id, "--cache-dir", Cache);
        var rm = await Cli().RunAsync("cache", "rm", id, "--cache-dir", Cache, "-y");

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains($"holds no model '{id}', but holds dataset '{id}': add --repo-type dataset", verify.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Download it", verify.Error, StringComparison.Ordinal);
        Assert.True(rm.ExitCode == 1, rm.ToString());
        Assert.Contains($"model/{id} (it holds dataset/{id}: give that, or add --repo-type dataset)", rm.Error, StringComparison.Ordinal);
        Assert.True(Directory.Exists(RepoFolder(id, RepoType.Dataset)));
    }

    [Fact]
    public async Task Cache_ls_shows_a_garbage_ref_and_a_ref_to_a_missing_snapshot_instead_of_dropping_them()
    {
        const string id = "acme/ls-refs";
        var commit = Publish(id);
        await DownloadAsync(id);
        var refs = Path.Combine(RepoFolder(id), "refs");
        await File.WriteAllTextAsync(Path.Combine(refs, "dev"), "not a commit id\n");
        await File.WriteAllTextAsync(Path.Combine(refs, "old"), new string('a', 40));

        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);

        Assert.True(list.ExitCode == 0, list.ToString());
        var line = list.Out.Split('\n').Single(l => l.StartsWith(id, StringComparison.Ordinal));
        Assert.EndsWith($"main ({commit[..8]}); old -> missing snapshot (aaaaaaaa); dev (bad ref)", line.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_space_downloaded_into_the_cache_has_the_empty_snapshot_folder_it_prints_and_cache_ls_agrees()
    {
        const string id = "acme/empty-space";
        hub.Store.AddRepo(RepoType.Space, id, _ => { });
        var commit = hub.Store.MainSnapshot(RepoType.Space, id).CommitId;

        var download = await Cli().RunAsync("download", id, "--repo-type", "space", "--cache-dir", Cache, "-q");
        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", Cache);
        var verify = await Cli().RunAsync("cache", "verify", "space/" + id, "--cache-dir", Cache);

        Assert.True(download.ExitCode == 0, download.ToString());
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains($"Nothing to verify: space {id} in {Cache} has no file", verify.Error, StringComparison.Ordinal);
        var snapshot = Path.Combine(RepoFolder(id, RepoType.Space), "snapshots", commit);
        Assert.Equal(snapshot, download.Out.Trim());
        Assert.True(Directory.Exists(snapshot), download.ToString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(snapshot));
        Assert.True(list.ExitCode == 0, list.ToString());
        var line = list.Out.Split('\n').Single(l => l.StartsWith(id, StringComparison.Ordinal));
        Assert.DoesNotContain("missing snapshot", line, StringComparison.Ordinal);
        Assert.EndsWith($"main ({commit[..8]})", line.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_ls_of_a_cache_dir_that_does_not_exist_says_so_and_fails()
    {
        var typo = _temp.Combine("no-such-cache");

        var list = await Cli().RunAsync("cache", "ls", "--cache-dir", typo);

        Assert.True(list.ExitCode == 1, list.ToString());
        Assert.Contains($"There is no Hugging Face cache at {typo}: the folder does not exist.", list.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("0 repos", list.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(typo));
        // The default cache before any download is an empty one, not an error.
        var cli = Cli();
        Assert.False(Directory.Exists(Path.Combine(cli.Environment["HF_HOME"]!, "hub")));
        var empty = await cli.RunAsync("cache", "ls");
        Assert.True(empty.ExitCode == 0, empty.ToString());
        Assert.Contains("0 repos", empty.Error, StringComparison.Ordinal);
    }
}
