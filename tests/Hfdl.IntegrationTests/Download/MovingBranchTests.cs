using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Download;

/// <summary>
/// A branch that moves during a run: the Hub keeps the commit the run resolved reachable by its id, so the run ends
/// with exactly that commit's files, never a mix, and the next run moves to the new commit.
/// </summary>
public sealed class MovingBranchTests : IDisposable
{
    private const string Repo = "acme/moving";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static void Before(RepoBuilder repo) => repo
        .File("config.json", "{\"version\":1}\n")
        .File("small.bin", SyntheticContent.Create(300_000, seed: 31))
        .File("big.safetensors", SyntheticContent.Create(3L * 1024 * 1024 + 5, seed: 32))
        .File("dropped.txt", "only in the first commit\n");

    private static void After(RepoBuilder repo) => repo
        .File("config.json", "{\"version\":2}\n")
        .File("small.bin", SyntheticContent.Create(300_000, seed: 33))
        .File("big.safetensors", SyntheticContent.Create(3L * 1024 * 1024 + 5, seed: 34))
        .File("added.txt", "only in the second commit\n");

    [Fact]
    public async Task A_push_to_main_after_the_plan_leaves_the_run_with_the_commit_it_resolved_and_the_next_run_takes_the_new_one()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, Before);
        var first = store.MainSnapshot(RepoType.Model, Repo);
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var folder = _temp.Combine("out");
        var options = Engine.FastOptions with { BigFileThreshold = 1_000_000, ChunkSize = 1024 * 1024 };

        // The push lands once the run has listed main and before it asks for a single byte: every file it fetches is
        // asked for after main moved.
        var (summary, events) = await Engine.DownloadAsync(server, Repo, folder, options, onEvent: e =>
        {
            if (e is PlanReady)
            {
                store.Push(RepoType.Model, Repo, After);
            }
        });

        var second = store.MainSnapshot(RepoType.Model, Repo);
        Assert.NotEqual(first.CommitId, second.CommitId); // the test's premise
        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(first.CommitId, Assert.Single(events.OfType<RevisionResolved>()).Commit);
        RepoAssert.BitExact(first, folder);
        Assert.False(File.Exists(Path.Combine(folder, "added.txt")));

        var (again, _) = await Engine.DownloadAsync(server, Repo, folder, options);

        Assert.Equal(0, again.FilesFailed);
        RepoAssert.BitExact(second, folder);
        Assert.DoesNotContain(RepoAssert.ListFiles(folder), f => f.EndsWith(".hfdl-part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_the_hf_cache_a_push_to_main_after_the_plan_leaves_main_at_the_resolved_commit_until_the_next_run()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, Before);
        var first = store.MainSnapshot(RepoType.Model, Repo);
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cache = _temp.Combine("hub");
        var repoFolder = Path.Combine(cache, "models--acme--moving");
        var options = Engine.FastOptions with { BigFileThreshold = 1_000_000, ChunkSize = 1024 * 1024 };

        var (summary, _) = await Engine.DownloadAsync(server, Repo, cache, options, layout: Core.Storage.LayoutKind.HfCache, onEvent: e =>
        {
            if (e is PlanReady)
            {
                store.Push(RepoType.Model, Repo, After);
            }
        });

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(first.CommitId, File.ReadAllText(Path.Combine(repoFolder, "refs", "main")));
        RepoAssert.BitExact(first, Path.Combine(repoFolder, "snapshots", first.CommitId));

        var (again, _) = await Engine.DownloadAsync(server, Repo, cache, options, layout: Core.Storage.LayoutKind.HfCache);

        var second = store.MainSnapshot(RepoType.Model, Repo);
        Assert.Equal(0, again.FilesFailed);
        Assert.Equal(second.CommitId, File.ReadAllText(Path.Combine(repoFolder, "refs", "main")));
        RepoAssert.BitExact(second, Path.Combine(repoFolder, "snapshots", second.CommitId));
        RepoAssert.BitExact(first, Path.Combine(repoFolder, "snapshots", first.CommitId)); // the earlier snapshot is intact
        Assert.False(File.Exists(Path.Combine(repoFolder, "snapshots", first.CommitId, "added.txt")));
        Assert.False(File.Exists(Path.Combine(repoFolder, "snapshots", second.CommitId, "dropped.txt")));
    }

    [Fact]
    public async Task A_force_push_after_the_plan_fails_the_files_saying_the_branch_moved_not_to_check_the_name()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, Before);
        var first = store.MainSnapshot(RepoType.Model, Repo).CommitId;
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var folder = _temp.Combine("out");

        // The commit the run resolved main to is gone (a force-push) before any file is asked for.
        var (summary, events) = await Engine.DownloadAsync(server, Repo, folder, onEvent: e =>
        {
            if (e is PlanReady)
            {
                store.AddRepo(RepoType.Model, Repo, After);
            }
        });

        Assert.True(summary.FilesFailed > 0);
        var failed = events.OfType<FileFailed>().ToList();
        Assert.NotEmpty(failed);
        Assert.All(failed, f =>
        {
            Assert.Contains($"Commit '{first}' of model '{Repo}', which this run is downloading, is no longer on the Hub", f.Error, StringComparison.Ordinal);
            Assert.Contains("run the same command again", f.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("Check the branch, tag or commit name", f.Error, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task The_part_file_of_a_file_a_newer_commit_dropped_is_removed_by_the_run_that_completes_that_commit()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, Before);
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var folder = _temp.Combine("out");
        var (first, _) = await Engine.DownloadAsync(server, Repo, folder);
        Assert.Equal(0, first.FilesFailed);
        // As a run killed while fetching a file of the first commit leaves it: a journal entry and its part file.
        var statePath = Path.Combine(folder, ".download_state");
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(statePath))!;
        state["files"]!["gone.bin"] = Partial(new string('c', 64), ".gone.bin.0badc0de.hfdl-part", size: 1000, done: 500);
        File.WriteAllText(statePath, state.ToJsonString());
        var part = Path.Combine(folder, ".gone.bin.0badc0de.hfdl-part");
        File.WriteAllBytes(part, new byte[500]);
        var userFile = Path.Combine(folder, "notes.hfdl-part.txt");
        File.WriteAllText(userFile, "the user's own\n");
        store.Push(RepoType.Model, Repo, After);

        var (second, events) = await Engine.DownloadAsync(server, Repo, folder);

        Assert.Equal(0, second.FilesFailed);
        Assert.False(File.Exists(part));
        Assert.True(File.Exists(userFile));
        Assert.DoesNotContain("gone.bin", File.ReadAllText(statePath), StringComparison.Ordinal);
        Assert.Contains(events.OfType<Warning>(), w => w.Message.Contains("Dropped the partial download of 'gone.bin'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_the_hf_cache_a_dropped_file_s_part_blob_goes_unless_a_revision_named_by_a_ref_still_lists_it()
    {
        FileContent tagOnly = "only in the tag\n";
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, repo =>
        {
            Before(repo);
            repo.Revision("v1", RevisionKind.Tag, r => r.File("tag-only.txt", tagOnly), inheritMain: true);
        });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cache = _temp.Combine("hub");
        var repoFolder = Path.Combine(cache, "models--acme--moving");
        var blobs = Path.Combine(repoFolder, "blobs");
        Assert.Equal(0, (await Engine.DownloadAsync(server, Repo, cache, layout: Core.Storage.LayoutKind.HfCache, revision: "v1")).Summary.FilesFailed);
        Assert.Equal(0, (await Engine.DownloadAsync(server, Repo, cache, layout: Core.Storage.LayoutKind.HfCache)).Summary.FilesFailed);
        // Two interrupted transfers: the tag's file (v1 still lists it) and one of a commit nothing names any more.
        var statePath = Path.Combine(repoFolder, ".download_state");
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(statePath))!;
        File.Delete(Path.Combine(blobs, tagOnly.GitSha1));
        state["files"]!["tag-only.txt"] = Partial(tagOnly.GitSha1, ".keep.0badc0de.hfdl-part");
        state["files"]!["gone.bin"] = Partial(new string('c', 64), ".gone.0badc0de.hfdl-part");
        // A revision asked for by its commit id (no ref names it), interrupted: its snapshot is in the cache, so it may
        // still resume; a main run deleted its part file (QA: helper-64).
        var pinned = new string('e', 40);
        Directory.CreateDirectory(Path.Combine(repoFolder, "snapshots", pinned));
        state["files"]!["pinned.bin"] = Partial(new string('d', 64), ".pinned.0badc0de.hfdl-part", commit: pinned);
        // And one of content the run then stores whole under another path: of no use any more (QA: helper-64).
        FileContent config = "{\"version\":2}\n";
        state["files"]!["copy-of-config.json"] = Partial(config.GitSha1, ".whole.0badc0de.hfdl-part", size: config.Length, commit: pinned);
        File.WriteAllText(statePath, state.ToJsonString());
        File.WriteAllBytes(Path.Combine(blobs, ".whole.0badc0de.hfdl-part"), new byte[5]);
        File.WriteAllBytes(Path.Combine(blobs, ".keep.0badc0de.hfdl-part"), new byte[5]);
        File.WriteAllBytes(Path.Combine(blobs, ".gone.0badc0de.hfdl-part"), new byte[5]);
        File.WriteAllBytes(Path.Combine(blobs, ".pinned.0badc0de.hfdl-part"), new byte[5]);
        store.Push(RepoType.Model, Repo, After);

        var (summary, _) = await Engine.DownloadAsync(server, Repo, cache, layout: Core.Storage.LayoutKind.HfCache);

        Assert.Equal(0, summary.FilesFailed);
        Assert.True(File.Exists(Path.Combine(blobs, ".keep.0badc0de.hfdl-part")));
        Assert.True(File.Exists(Path.Combine(blobs, ".pinned.0badc0de.hfdl-part")));
        Assert.False(File.Exists(Path.Combine(blobs, ".whole.0badc0de.hfdl-part")));
        Assert.False(File.Exists(Path.Combine(blobs, ".gone.0badc0de.hfdl-part")));
        var journal = File.ReadAllText(statePath);
        Assert.Contains("tag-only.txt", journal, StringComparison.Ordinal);
        Assert.Contains("pinned.bin", journal, StringComparison.Ordinal);
        Assert.DoesNotContain("copy-of-config.json", journal, StringComparison.Ordinal);
        Assert.DoesNotContain("gone.bin", journal, StringComparison.Ordinal);
    }

    /// <summary>A journal entry as a run killed mid-transfer leaves it: <paramref name="done"/> bytes recorded in <paramref name="temp"/>.</summary>
    private static System.Text.Json.Nodes.JsonObject Partial(string etag, string temp, long size = 16, long done = 5, string? commit = null)
    {
        var entry = new System.Text.Json.Nodes.JsonObject
        {
            ["size"] = size,
            ["etag"] = etag,
            ["status"] = "partial",
            ["tempFile"] = temp,
            ["ranges"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonArray(0, done)),
        };
        if (commit is not null)
        {
            entry["commit"] = commit;
        }
        return entry;
    }

    [Fact]
    public async Task A_pushed_over_commit_stays_reachable_by_its_id_but_not_in_refs_and_a_force_push_drops_it()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, Before);
        var first = store.MainSnapshot(RepoType.Model, Repo).CommitId;
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        using var http = new HttpClient();
        var config = $"{server.Endpoint.ToString().TrimEnd('/')}/{Repo}/resolve/{first}/config.json";

        store.Push(RepoType.Model, Repo, After);

        Assert.Equal("{\"version\":1}\n", await http.GetStringAsync(config));
        var refs = await http.GetStringAsync($"{server.Endpoint.ToString().TrimEnd('/')}/api/models/{Repo}/refs");
        Assert.DoesNotContain(first, refs, StringComparison.Ordinal);

        store.AddRepo(RepoType.Model, Repo, After);

        using var gone = await http.GetAsync(config);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("RevisionNotFound", Assert.Single(gone.Headers.GetValues("X-Error-Code")));
    }
}
