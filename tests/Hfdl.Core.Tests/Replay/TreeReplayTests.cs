using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Replay;

/// <summary>The real <c>/tree</c> and <c>/paths-info</c> values of google-bert/bert-base-uncased (huggingface.js tests).</summary>
public sealed class TreeReplayTests
{
    private const string Secret = "hf_SECRETSECRET";
    private const string Commit = "dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7";
    private static readonly RepoId Bert = RepoId.Parse("google-bert/bert-base-uncased");
    private static readonly string TreePath = $"/api/models/google-bert/bert-base-uncased/tree/{Commit}";

    private static List<TreeEntry> LoadTree(string file) =>
        JsonSerializer.Deserialize(SharedFixtures.ReadText($"huggingface.js/{file}"), HubJsonContext.Default.ListTreeEntry)!;

    private static HubClient Client(ReplayServer server) =>
        new(new HubClientOptions { Endpoint = server.BaseUri, Token = new AccessToken(Secret, TokenOrigin.CommandLine), ApiTimeout = TimeSpan.FromSeconds(30) });

    [Fact]
    public void The_real_tree_parses_and_LFS_files_are_checked_by_content_sha256()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        var files = entries.Select(RemoteFile.FromTreeEntry).ToList();

        Assert.Equal([".gitattributes", "config.json", "pytorch_model.bin", "tf_model.h5", "vocab.txt"], entries.Select(e => e.Path));
        Assert.All(files, Assert.NotNull);

        var tf = files.Single(f => f!.Path == "tf_model.h5")!;
        Assert.Equal(new ContentHash(HashKind.Sha256, "a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2"), tf.Hash);
        Assert.Equal(536063208, tf.Size);
        Assert.True(tf.IsLfs);
        var tfEntry = entries.Single(e => e.Path == "tf_model.h5");
        Assert.Equal("9eb98c817f04b051b3bcca591bcd4e03cec88018", tfEntry.Oid); // the pointer's sha1, not used for checking
        Assert.Equal(134, tfEntry.Lfs!.PointerSize);
        Assert.Equal("879c5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279b", tfEntry.XetHash);

        var config = files.Single(f => f!.Path == "config.json")!;
        Assert.Equal(new ContentHash(HashKind.GitSha1, "fca794a5f07ff8f963fe8b61e3694b0fb7f955df"), config.Hash);
        Assert.Equal(313, config.Size);
        Assert.False(config.IsLfs);

        Assert.Equal(2, files.Count(f => f!.IsLfs));
    }

    [Fact]
    public void The_expanded_tree_adds_the_last_commit_of_each_file()
    {
        var plain = LoadTree("bert-base-uncased.tree.json");
        var expanded = LoadTree("bert-base-uncased.tree.expand.json");

        Assert.Equal(plain.Select(RemoteFile.FromTreeEntry), expanded.Select(RemoteFile.FromTreeEntry));
        Assert.All(expanded, e => Assert.Matches("^[0-9a-f]{40}$", e.LastCommit!.Id));
        var tf = expanded.Single(e => e.Path == "tf_model.h5").LastCommit!;
        Assert.Equal((Commit, "Update tf_model.h5", "2019-09-23T19:48:44.000Z"), (tf.Id, tf.Title, tf.Date));
    }

    [Fact]
    public void The_paths_info_answers_agree_with_the_tree()
    {
        using var doc = JsonDocument.Parse(SharedFixtures.ReadText("huggingface.js/bert-base-uncased.paths-info.json"));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToList();
        var tree = LoadTree("bert-base-uncased.tree.json").ToDictionary(e => e.Path);

        // LFS file without expand: path, type and lfs were asserted; no lastCommit.
        var lfs = cases.Single(c => c.GetProperty("name").GetString() == "LFS file without expand").GetProperty("asserted");
        var lfsEntry = lfs.Deserialize(HubJsonContext.Default.TreeEntry)!;
        Assert.Null(lfsEntry.LastCommit);
        // Only asserted fields were recorded: oid and size come from the tree of the same commit.
        var lfsFile = RemoteFile.FromTreeEntry(lfsEntry with { Oid = tree["tf_model.h5"].Oid, Size = tree["tf_model.h5"].Size })!;
        // paths-info recorded no xetHash for it (only asserted fields were kept); everything else must agree.
        Assert.Equal(RemoteFile.FromTreeEntry(tree["tf_model.h5"])! with { XetHash = null }, lfsFile);

        // With expand: lastCommit.
        var expanded = cases.Single(c => c.GetProperty("name").GetString() == "LFS file with expand").GetProperty("asserted");
        var withCommit = JsonSerializer.Deserialize(
            $$"""{"type":"file","path":"tf_model.h5","lastCommit":{{expanded.GetProperty("lastCommit").GetRawText()}}}""",
            HubJsonContext.Default.TreeEntry)!;
        Assert.Equal(Commit, withCommit.LastCommit!.Id);

        // A regular file has no lfs: it is checked by its git sha1.
        var regular = cases.Single(c => c.GetProperty("name").GetString() == "regular (non-LFS) file");
        Assert.Contains("lfs", regular.GetProperty("asserted_absent").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(HashKind.GitSha1, RemoteFile.FromTreeEntry(tree[regular.GetProperty("asserted").GetProperty("path").GetString()!])!.Hash.Kind);
    }

    /// <summary>Serves the real tree split in pages; <paramref name="nextOfLast"/> lets a test add a bad Link to the last page.</summary>
    private static Func<ReceivedRequest, ReplayResponse> Paged(ReplayServer server, List<TreeEntry> entries, int[] pageSizes, Func<int, Uri?>? nextOf = null)
    {
        var pages = new List<List<TreeEntry>>();
        var offset = 0;
        foreach (var size in pageSizes)
        {
            pages.Add(entries.Skip(offset).Take(size).ToList());
            offset += size;
        }
        string Target(int page) => page == 0
            ? $"{TreePath}?recursive=true&expand=false"
            : $"{TreePath}?expand=false&recursive=true&limit=3&cursor=cGFnZS{page}%3D%3D";
        nextOf ??= page => page + 1 < pages.Count ? server.Url(Target(page + 1)) : null;
        return request =>
        {
            var page = Enumerable.Range(0, pages.Count).FirstOrDefault(p => Target(p) == request.Target, -1);
            if (page < 0 || request.Method != "GET")
            {
                return ReplayResponse.NotRecorded(request);
            }
            var body = JsonSerializer.Serialize(pages[page], HubJsonContext.Default.ListTreeEntry);
            return nextOf(page) is { } next
                ? ReplayResponse.Json(body, ("Link", $"<{next.AbsoluteUri}>; rel=\"next\""))
                : ReplayResponse.Json(body);
        };
    }

    [Fact]
    public async Task A_tree_split_in_pages_is_listed_whole_and_in_order_following_the_absolute_Link()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, entries, [3, 2]);
        using var client = Client(server);

        var listed = await client.ListTreeAsync(RepoType.Model, Bert, Commit).ToListAsync();

        Assert.Equal(entries, listed);
        Assert.Collection(server.Requests,
            first => Assert.Equal($"{TreePath}?recursive=true&expand=false", first.Target),
            second => Assert.Equal($"{TreePath}?expand=false&recursive=true&limit=3&cursor=cGFnZS1%3D%3D", second.Target));
        Assert.All(server.Requests, r => Assert.Equal($"Bearer {Secret}", r.Authorization));
    }

    [Fact]
    public async Task One_entry_per_page_still_lists_everything()
    {
        var entries = LoadTree("bert-base-uncased.tree.expand.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, entries, [1, 1, 1, 1, 1]);
        using var client = Client(server);

        Assert.Equal(entries, await client.ListTreeAsync(RepoType.Model, Bert, Commit, expand: false).ToListAsync());
        Assert.Equal(5, server.Requests.Count);
    }

    [Fact]
    public async Task A_Link_back_to_the_first_page_is_a_loop_and_throws_instead_of_hanging()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, entries, [3, 2], page => server.Url(page == 0
            ? $"{TreePath}?expand=false&recursive=true&limit=3&cursor=cGFnZS1%3D%3D"
            : $"{TreePath}?recursive=true&expand=false"));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(async () =>
            await client.ListTreeAsync(RepoType.Model, Bert, Commit).ToListAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("loops", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", ex.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task A_page_that_links_to_itself_is_a_loop()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, entries, [5], _ => server.Url($"{TreePath}?recursive=true&expand=false"));
        using var client = Client(server);

        await Assert.ThrowsAsync<HubProtocolException>(async () =>
            await client.ListTreeAsync(RepoType.Model, Bert, Commit).ToListAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_next_page_on_another_host_is_fetched_without_the_token()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, entries, [3, 2], page => page == 0
            ? server.UrlAs("localhost", $"{TreePath}?expand=false&recursive=true&limit=3&cursor=cGFnZS1%3D%3D")
            : null);
        using var client = Client(server);

        Assert.Equal(entries, await client.ListTreeAsync(RepoType.Model, Bert, Commit).ToListAsync());
        Assert.Equal($"Bearer {Secret}", server.Requests[0].Authorization);
        Assert.StartsWith("localhost:", server.Requests[1].Host, StringComparison.Ordinal);
        Assert.Null(server.Requests[1].Authorization);
    }

    [Fact]
    public async Task The_planner_turns_the_paged_tree_into_verifiable_files()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, entries, [2, 2, 1]);
        using var client = Client(server);

        var files = await FilePlanner.ListFilesAsync(client, RepoType.Model, Bert, Commit, CancellationToken.None);

        Assert.Equal(entries.Select(e => e.Path), files.Select(f => f.Path));
        Assert.Equal(entries.Sum(e => e.Size), files.Sum(f => f.Size));
    }

    [Fact]
    public async Task A_listing_that_names_a_file_twice_is_refused()
    {
        var entries = LoadTree("bert-base-uncased.tree.json");
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, [.. entries, entries[1]], [3, 3]);
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => FilePlanner.ListFilesAsync(client, RepoType.Model, Bert, Commit, CancellationToken.None));
        Assert.Contains("'config.json' twice", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_traversal_path_in_a_listing_is_refused_when_selected_and_only_then()
    {
        await using var server = await ReplayServer.StartAsync();
        server.Handler = Paged(server, [
            new TreeEntry { Type = "file", Path = "../../.bashrc", Oid = "fca794a5f07ff8f963fe8b61e3694b0fb7f955df", Size = 1 },
            new TreeEntry { Type = "file", Path = "config.json", Oid = "fca794a5f07ff8f963fe8b61e3694b0fb7f955df", Size = 1 }], [2]);
        using var client = Client(server);
        var request = new DownloadRequest { RepoType = RepoType.Model, RepoId = Bert, Revision = Commit, TargetFolder = "unused" };

        var whole = await Assert.ThrowsAsync<UnsafePathException>(() => RepoPlanner.SelectAsync(client, request, null, CancellationToken.None));
        var around = await RepoPlanner.SelectAsync(client, request with { Files = ["config.json"] }, null, CancellationToken.None);
        var listed = await RepoPlanner.SelectAsync(client, request, null, CancellationToken.None, withUnwritableNames: true);

        Assert.Equal("../../.bashrc", whole.RejectedPath);
        Assert.Equal(["config.json"], around.Selected.Select(f => f.Path));
        Assert.Equal(2, around.Listed.Count);
        Assert.Equal(["../../.bashrc", "config.json"], listed.Selected.Select(f => f.Path));
    }
}
