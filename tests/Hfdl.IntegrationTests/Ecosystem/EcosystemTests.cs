using System.Text.Json;
using System.Text.Json.Nodes;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Ecosystem;

public sealed class EcosystemHub : IAsyncLifetime
{
    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Store.AddRepo(RepoType.Model, "acme/cached", repo => repo
            .File("config.json", "{\"a\":1}\n")
            .File("tokenizer/vocab.txt", "a\nb\n")
            .File("copy-of-config.json", "{\"a\":1}\n")
            .File("model.safetensors", SyntheticContent.Create(2_000_000, seed: 61))
            .Revision("v2", RevisionKind.Tag, r => r.File("config.json", "{\"a\":2}\n"), inheritMain: true)
            .Revision("refs/pr/1", RevisionKind.PullRequest, r => r.File("pr.txt", "pr\n"), inheritMain: true));
        Store.AddRepo(RepoType.Dataset, "acme/table", repo => repo.File("data/train.csv", "x,y\n1,2\n"));
        Server = await HubServer.StartAsync(new HubServerOptions { Store = Store });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The HF cache that transformers reads, huggingface_hub's local-dir metadata, offline mode, variables, proxies.</summary>
public sealed class EcosystemTests(EcosystemHub hub) : IClassFixture<EcosystemHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CliRunner Cli() => new(hub.Server, _temp);

    private string Cache => _temp.Combine("hf-cache");

    private string RepoFolder => Path.Combine(Cache, "models--acme--cached");

    private int FileRequests() => hub.Server.Requests.Snapshot().Count(r => r.Listener == "cdn" || r.PathAndQuery.Contains("/resolve", StringComparison.Ordinal));

    [Fact]
    public async Task The_cache_layout_matches_the_spec()
    {
        var main = hub.Store.MainSnapshot(RepoType.Model, "acme/cached");

        var result = await Cli().RunAsync("download", "acme/cached", "--cache-dir", Cache);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Path.Combine(RepoFolder, "snapshots", main.CommitId), result.Out.Trim());
        Assert.Equal(main.CommitId, await File.ReadAllTextAsync(Path.Combine(RepoFolder, "refs", "main")));
        Assert.StartsWith("Signature: 8a477f597d28d172789f06886806bc55", await File.ReadAllTextAsync(Path.Combine(Cache, "CACHEDIR.TAG")), StringComparison.Ordinal);
        foreach (var file in main.Files)
        {
            var pointer = Path.Combine(RepoFolder, "snapshots", main.CommitId, file.Path);
            var link = new FileInfo(pointer).LinkTarget;
            Assert.NotNull(link);
            Assert.False(Path.IsPathRooted(link), $"{file.Path} links to an absolute path {link}");
            var etag = file.IsLfs ? file.Content.Sha256 : file.Content.GitSha1;
            var depth = file.Path.Count(c => c == '/');
            Assert.Equal(string.Concat(Enumerable.Repeat("../", depth + 2)) + "blobs/" + etag, link);
            Assert.Equal(file.Content.ToArray(), await File.ReadAllBytesAsync(pointer));
        }
        // Two files with the same content share one blob.
        Assert.Equal(3, Directory.GetFiles(Path.Combine(RepoFolder, "blobs")).Length);
        Assert.True(File.Exists(Path.Combine(RepoFolder, "trees", main.CommitId + ".json")));
    }

    [Fact]
    public async Task Files_that_share_a_blob_are_counted_alike_by_the_dry_run_the_plan_and_the_summary()
    {
        static System.Text.Json.JsonElement Event(CliResult result, string name) => result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement)
            .Single(e => e.GetProperty("event").GetString() == name);

        var dryRun = await Cli().RunAsync("download", "acme/cached", "--cache-dir", Cache, "--dry-run", "--json");
        var run = await Cli().RunAsync("download", "acme/cached", "--cache-dir", Cache, "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var files = hub.Store.MainSnapshot(RepoType.Model, "acme/cached").Files.Count;
        // The dry run said 4 files, the plan 3 (one per blob), the summary 4 downloaded (QA: helper-38).
        Assert.Equal(files, Event(dryRun, "plan").GetProperty("files_to_download").GetInt32());
        Assert.Equal(files, Event(run, "plan").GetProperty("files_to_download").GetInt32());
        Assert.Equal(files, Event(run, "summary").GetProperty("files_downloaded").GetInt32());
        Assert.Equal(Event(dryRun, "plan").GetProperty("bytes_to_download").GetInt64(), Event(run, "plan").GetProperty("bytes_to_download").GetInt64());
    }

    [Fact]
    public async Task A_pr_revision_nests_its_ref_and_a_missing_file_is_marked_in_no_exist()
    {
        var pr = hub.Store.At(RepoType.Model, "acme/cached", "refs/pr/1");

        var ok = await Cli().RunAsync("download", "acme/cached", "--revision", "refs/pr/1", "--cache-dir", Cache);
        var missing = await Cli().RunAsync("download", "acme/cached", "nope.txt", "--revision", "refs/pr/1", "--cache-dir", Cache);

        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal(pr.CommitId, await File.ReadAllTextAsync(Path.Combine(RepoFolder, "refs", "refs", "pr", "1")));
        Assert.Equal(1, missing.ExitCode);
        Assert.True(File.Exists(Path.Combine(RepoFolder, ".no_exist", pr.CommitId, "nope.txt")));
    }

    [Fact]
    public async Task A_second_revision_downloads_only_the_files_that_differ()
    {
        await Cli().RunAsync("download", "acme/cached", "--cache-dir", Cache);
        hub.Server.Requests.Clear();

        var v2 = await Cli().RunAsync("download", "acme/cached", "--revision", "v2", "--cache-dir", Cache);

        Assert.True(v2.ExitCode == 0, v2.ToString());
        var fetched = hub.Server.Requests.Snapshot().Where(r => r.StatusCode == 200 && (r.Listener == "cdn" || r.PathAndQuery.Contains("resolve", StringComparison.Ordinal))).ToList();
        var only = Assert.Single(fetched);
        Assert.Contains("config.json", only.PathAndQuery, StringComparison.Ordinal);
        RepoAssert.BitExact(hub.Store.At(RepoType.Model, "acme/cached", "v2"), Path.Combine(RepoFolder, "snapshots", hub.Store.At(RepoType.Model, "acme/cached", "v2").CommitId));
    }

    [Fact]
    public async Task Without_symlinks_the_snapshot_holds_copies_and_says_so()
    {
        var cli = Cli();
        cli.Environment["HF_HUB_DISABLE_SYMLINKS"] = "1";

        var result = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);

        Assert.True(result.ExitCode == 0, result.ToString());
        var main = hub.Store.MainSnapshot(RepoType.Model, "acme/cached");
        var pointer = new FileInfo(Path.Combine(RepoFolder, "snapshots", main.CommitId, "config.json"));
        Assert.Null(pointer.LinkTarget);
        RepoAssert.BitExact(main, Path.Combine(RepoFolder, "snapshots", main.CommitId));
    }

    [Fact]
    public async Task Hf_hub_cache_and_hf_home_choose_the_cache()
    {
        var cli = Cli();
        cli.Environment["HF_HOME"] = _temp.Combine("home-a");
        var viaHome = await cli.RunAsync("download", "acme/cached", "--hf-cache");
        cli.Environment["HF_HUB_CACHE"] = _temp.Combine("explicit");
        var viaCache = await cli.RunAsync("download", "acme/cached", "--hf-cache");
        cli.Environment.Remove("HF_HUB_CACHE");
        cli.Environment["HUGGINGFACE_HUB_CACHE"] = _temp.Combine("legacy");
        var viaLegacy = await cli.RunAsync("download", "acme/cached", "--hf-cache");

        Assert.StartsWith(_temp.Combine("home-a", "hub", "models--acme--cached"), viaHome.Out.Trim(), StringComparison.Ordinal);
        Assert.StartsWith(_temp.Combine("explicit", "models--acme--cached"), viaCache.Out.Trim(), StringComparison.Ordinal);
        Assert.StartsWith(_temp.Combine("legacy", "models--acme--cached"), viaLegacy.Out.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Local_dir_metadata_is_written_the_way_huggingface_hub_reads_it()
    {
        var target = _temp.Combine("local");
        var main = hub.Store.MainSnapshot(RepoType.Model, "acme/cached");

        var result = await Cli().RunAsync("download", "acme/cached", "--local-dir", target);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("*", await File.ReadAllTextAsync(Path.Combine(target, ".cache", "huggingface", ".gitignore")));
        var lines = await File.ReadAllLinesAsync(Path.Combine(target, ".cache", "huggingface", "download", "tokenizer", "vocab.txt.metadata"));
        // As huggingface_hub's _huggingface_dir: backup tools skip the metadata folder.
        Assert.StartsWith("Signature: 8a477f597d28d172789f06886806bc55\n", File.ReadAllText(Path.Combine(target, ".cache", "huggingface", "CACHEDIR.TAG")), StringComparison.Ordinal);
        Assert.Equal(main.CommitId, lines[0]);
        Assert.Equal(main.Files.Single(f => f.Path == "tokenizer/vocab.txt").Content.GitSha1, lines[1]);
        var timestamp = double.Parse(lines[2], System.Globalization.CultureInfo.InvariantCulture);
        var mtime = new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(target, "tokenizer", "vocab.txt"))).ToUnixTimeMilliseconds() / 1000.0;
        Assert.True(mtime - 1 <= timestamp, "huggingface_hub ignores metadata older than the file");
        Assert.True(File.Exists(Path.Combine(target, ".cache", "huggingface", "trees", main.CommitId + ".json")));
    }

    [Fact]
    public async Task Files_that_hf_download_left_in_a_local_dir_are_adopted_not_downloaded()
    {
        var target = _temp.Combine("from-hf");
        var main = hub.Store.MainSnapshot(RepoType.Model, "acme/cached");
        foreach (var file in main.Files)
        {
            var path = Path.Combine(target, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(path, file.Content.ToArray());
            var metadata = Path.Combine(target, ".cache", "huggingface", "download", file.Path + ".metadata");
            Directory.CreateDirectory(Path.GetDirectoryName(metadata)!);
            await File.WriteAllTextAsync(metadata, $"{main.CommitId}\n{(file.IsLfs ? file.Content.Sha256 : file.Content.GitSha1)}\n{DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5}.5\n");
        }
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = FileRequests();

        var result = await Cli().RunAsync("download", "acme/cached", "--local-dir", target);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(before, FileRequests());
        Assert.Contains("Downloaded 0 files", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HF_HUB_CACHE", "", "HF_HUB_CACHE is '{0}', which is a file; it must be a folder, to hold the Hugging Face cache")]
    [InlineData("HF_HOME", "", "HF_HOME is '{0}', which is a file; it must be a folder, to hold the Hugging Face cache")]
    [InlineData("HUGGINGFACE_HUB_CACHE", "models", "HUGGINGFACE_HUB_CACHE is '{0}{1}models', but '{0}' on the way there is a file")]
    public async Task A_cache_variable_that_names_a_file_is_refused_by_name_before_the_Hub_is_asked(string variable, string below, string message)
    {
        var file = _temp.Combine("a-file");
        File.WriteAllText(file, "x");
        var cli = Cli();
        cli.Environment[variable] = below.Length == 0 ? file : Path.Combine(file, below);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync("download", "acme/cached", "--hf-cache");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(string.Format(System.Globalization.CultureInfo.InvariantCulture, message, file, Path.DirectorySeparatorChar), result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Theory]
    [InlineData("--offline")]
    [InlineData("HF_HUB_OFFLINE")]
    public async Task Offline_mode_answers_from_disk_without_any_network_call(string how)
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;
        string[] args = how == "--offline" ? ["download", "acme/cached", "--cache-dir", Cache, "--offline"] : ["download", "acme/cached", "--cache-dir", Cache];
        if (how != "--offline")
        {
            cli.Environment["HF_HUB_OFFLINE"] = "yes";
        }

        var result = await cli.RunAsync(args);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("complete", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);

        var quiet = await cli.RunAsync([.. args, "-q"]); // -q: only errors, and a complete copy is none
        Assert.True(quiet.ExitCode == 0, quiet.ToString());
        Assert.Equal("", quiet.Error);
        Assert.EndsWith(hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId, quiet.Out.Trim(), StringComparison.Ordinal);
    }

    /// <summary>
    /// What hf_hub_download (and so transformers) leaves: refs, blobs and relative links, but no trees/ listing and none
    /// of hfdl's files. hfdl's own download, with those taken away.
    /// </summary>
    private async Task<string> CacheAsHuggingfaceHubWritesItAsync(CliRunner cli)
    {
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache)).ExitCode);
        foreach (var own in Directory.EnumerateFileSystemEntries(RepoFolder).Where(p => Path.GetFileName(p) is "trees" or ".no_exist" || Path.GetFileName(p).StartsWith(".download_state", StringComparison.Ordinal) || Path.GetFileName(p).StartsWith(".hfdl", StringComparison.Ordinal)))
        {
            if (Directory.Exists(own))
            {
                Directory.Delete(own, recursive: true);
            }
            else
            {
                File.Delete(own);
            }
        }
        return hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId;
    }

    [Fact]
    public async Task Offline_a_cache_written_by_huggingface_hub_without_a_listing_serves_what_its_snapshot_holds()
    {
        var cli = Cli();
        var commit = await CacheAsHuggingfaceHubWritesItAsync(cli);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var whole = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline");
        Assert.True(whole.ExitCode == 0, whole.ToString());
        Assert.Contains("No listing of commit", whole.Error, StringComparison.Ordinal);
        Assert.Contains("4 of 4 files present; nothing else is known to be missing, and they were not hashed (`hfdl cache verify` hashes them).", whole.Error, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(RepoFolder, "snapshots", commit), whole.Out.Trim());

        var one = await cli.RunAsync("download", "acme/cached", "tokenizer/vocab.txt", "--cache-dir", Cache, "--offline", "--json");
        Assert.True(one.ExitCode == 0, one.ToString());
        var summary = JsonLines(one.Out)[^1];
        Assert.Equal(1, summary.GetProperty("files_skipped").GetInt32());
        Assert.False(summary.GetProperty("verified").GetBoolean(), "nothing was hashed");

        // A file the snapshot does not hold is missing here, not missing from the repo.
        var absent = await cli.RunAsync("download", "acme/cached", "config.json", "not-cached.txt", "--cache-dir", Cache, "--offline");
        Assert.Equal(1, absent.ExitCode);
        Assert.Contains("missing  not-cached.txt", absent.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", absent.Error, StringComparison.Ordinal);
        // A name the user typed that no repo can hold is the request's fault, not a server's.
        var unsafeName = await cli.RunAsync("download", "acme/cached", "../x", "--cache-dir", Cache, "--offline");
        Assert.Equal(1, unsafeName.ExitCode);
        Assert.Contains("File '../x' cannot exist in model 'acme/cached'", unsafeName.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("server", unsafeName.Error, StringComparison.Ordinal);
        var patterns = await cli.RunAsync("download", "acme/cached", "--include", "*.bin", "--cache-dir", Cache, "--offline");
        Assert.Equal(1, patterns.ExitCode);
        Assert.Contains("cannot tell whether the repo has any", patterns.Error, StringComparison.Ordinal);

        var dryRun = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline", "--dry-run");
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Contains("No listing of commit", dryRun.Error, StringComparison.Ordinal);
        var dryRunJson = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline", "--dry-run", "--json");
        Assert.False(JsonLines(dryRunJson.Out)[^1].GetProperty("verified").GetBoolean(), "a dry run does not claim a check either");
        // The warning it prints on stderr is an event too, before the plan (QA: helper-49: a dry run wrote none).
        var warning = JsonLines(dryRunJson.Out)[0];
        Assert.Equal("warning", warning.GetProperty("event").GetString());
        Assert.Contains("No listing of commit", warning.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("plan", JsonLines(dryRunJson.Out)[1].GetProperty("event").GetString());
        Assert.Equal(before, hub.Server.Requests.Count);

        // The Hub out of reach: the same local copy, said to be unchecked.
        cli.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9";
        var down = await cli.RunAsync("download", "acme/cached", "config.json", "--cache-dir", Cache);
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.Contains("Using the local copy of commit", down.Error, StringComparison.Ordinal);
        Assert.Contains("taken as the cache holds them", down.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Every file is verified", down.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--offline")]
    [InlineData("HF_HUB_OFFLINE")]
    public async Task Force_with_offline_mode_is_refused_as_huggingface_hub_refuses_it(string how)
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;
        string[] args = ["download", "acme/cached", "--cache-dir", Cache, "--force-download", .. how == "--offline" ? new[] { "--offline" } : []];
        if (how != "--offline")
        {
            cli.Environment["HF_HUB_OFFLINE"] = "1";
        }

        var result = await cli.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("needs the network", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    private static List<JsonElement> JsonLines(string stdout) =>
        [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone())];

    [Theory]
    [InlineData("local-dir")]
    [InlineData("hf-cache")]
    public async Task Offline_json_writes_the_events_of_a_run_plan_first_and_summary_last(string layout)
    {
        var cli = Cli();
        string[] args = layout == "hf-cache" ? ["download", "acme/cached", "--cache-dir", Cache] : ["download", "acme/cached", "--local-dir", _temp.Combine("local")];
        Assert.Equal(0, (await cli.RunAsync(args)).ExitCode);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync([.. args, "--offline", "--json"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        var events = JsonLines(result.Out); // Every line is JSON: no bare folder path.
        var names = events.Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal("plan", names[0]);
        Assert.Equal(hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId, events[0].GetProperty("commit").GetString());
        Assert.Equal(4, events[0].GetProperty("files_present").GetInt32());
        Assert.Equal(4, names.Count(n => n == "file_skipped"));
        Assert.All(events.Where(e => e.GetProperty("event").GetString() == "file_skipped"), e => Assert.True(e.GetProperty("size").GetInt64() > 0));
        var summary = events[^1];
        Assert.Equal("summary", names[^1]);
        Assert.Equal(4, summary.GetProperty("files_skipped").GetInt32());
        Assert.Equal(4, events[^2].GetProperty("files_skipped").GetInt32()); // the last progress event
        Assert.Equal(0, summary.GetProperty("exit_code").GetInt32());
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task Offline_json_with_a_missing_file_names_it_and_ends_with_a_fatal_error()
    {
        var target = _temp.Combine("local");
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--local-dir", target);
        File.Delete(Path.Combine(target, "model.safetensors"));

        var result = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--offline", "--json");

        Assert.Equal(1, result.ExitCode);
        var events = JsonLines(result.Out);
        Assert.Equal("plan", events[0].GetProperty("event").GetString());
        Assert.Equal(1, events[0].GetProperty("files_to_download").GetInt32());
        var missing = Assert.Single(events, e => e.GetProperty("event").GetString() == "error" && e.TryGetProperty("path", out _));
        Assert.Equal("model.safetensors", missing.GetProperty("path").GetString());
        var last = events[^1];
        Assert.Equal("error", last.GetProperty("event").GetString());
        Assert.True(last.GetProperty("fatal").GetBoolean());
        Assert.Equal(1, last.GetProperty("exit_code").GetInt32());
    }

    [Theory]
    [InlineData("acme/other", "model")]
    [InlineData("acme/cached", "dataset")]
    public async Task Offline_never_passes_another_repo_s_files_in_the_same_folder_off_as_the_requested_one(string repo, string type)
    {
        var target = _temp.Combine("reused");
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target)).ExitCode);

        foreach (var extra in new[] { Array.Empty<string>(), ["--verify"], ["--dry-run"] })
        {
            var result = await cli.RunAsync(["download", repo, "--repo-type", type, "--local-dir", target, "--offline", .. extra]);

            Assert.True(result.ExitCode == 1, result.ToString());
            Assert.Contains($"nothing in {target} records {type} '{repo}'", result.Error.Replace("on disk", $"in {target}", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Offline_a_folder_answers_an_earlier_revision_asked_for_by_its_commit_id_from_its_cached_listing()
    {
        // refs/pr/1 is main plus pr.txt: after main is downloaded over it, the folder still holds all of it.
        var target = _temp.Combine("two-revisions");
        var cli = Cli();
        var pr = hub.Store.At(RepoType.Model, "acme/cached", "refs/pr/1").CommitId;
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--revision", pr)).ExitCode);
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target)).ExitCode);
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--offline", "--revision", pr);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("nothing in", result.Error, StringComparison.Ordinal);
        Assert.Contains(pr, result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task Offline_a_folder_asked_for_an_earlier_revision_by_name_says_which_revision_it_last_downloaded()
    {
        var target = _temp.Combine("two-names");
        var cli = Cli();
        var main = hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId;
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--revision", "v2")).ExitCode);
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target)).ExitCode);

        var result = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--offline", "--revision", "v2");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains($"the folder's journal names only the revision last downloaded into it, revision 'main' (commit {main})", result.Error, StringComparison.Ordinal);
        Assert.Contains("only by its full commit id", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offline_a_file_the_journal_does_not_vouch_for_is_hashed_against_the_cached_listing()
    {
        var target = _temp.Combine("edited");
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target)).ExitCode);
        var config = Path.Combine(target, "config.json");
        var vocab = Path.Combine(target, "tokenizer", "vocab.txt");
        File.WriteAllText(config, "{\"a\":7}\n"); // same size, other content
        File.WriteAllText(vocab, File.ReadAllText(vocab)); // same content, rewritten: the journal no longer vouches for it

        var human = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--offline");
        Assert.True(human.ExitCode == 1, human.ToString());
        Assert.Contains("corrupt  config.json", human.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("vocab.txt", human.Error, StringComparison.Ordinal);

        var json = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--offline", "--json");
        Assert.Equal(1, json.ExitCode);
        var events = JsonLines(json.Out);
        var failed = Assert.Single(events, e => e.GetProperty("event").GetString() == "error" && e.TryGetProperty("path", out _));
        Assert.Equal("config.json", failed.GetProperty("path").GetString());
        Assert.Contains("does not match the hash", failed.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(events, e => e.GetProperty("event").GetString() == "summary" && e.GetProperty("verified").GetBoolean());
        Assert.Equal("{\"a\":7}\n", File.ReadAllText(config)); // offline changes nothing
    }

    /// <summary>
    /// What an interrupted --force leaves beside a right model.safetensors: a journal entry naming a part file of 1 MB
    /// in <paramref name="partFolder"/>, and that file. Returns its path.
    /// </summary>
    private static string PlantForcedPartial(string journalPath, string partFolder)
    {
        var journal = JsonNode.Parse(File.ReadAllText(journalPath))!.AsObject();
        var entry = journal["files"]!["model.safetensors"]!.AsObject();
        entry["status"] = FileState.Partial;
        entry["tempFile"] = ".model.safetensors.forced.hfdl-part";
        entry["ranges"] = new JsonArray(new JsonArray(0, 1_000_000));
        File.WriteAllText(journalPath, journal.ToJsonString());
        var part = Path.Combine(partFolder, ".model.safetensors.forced.hfdl-part");
        File.WriteAllBytes(part, new byte[1_000_000]);
        return part;
    }

    [Fact]
    public async Task A_partial_transfer_of_a_blob_that_is_present_is_dropped_with_its_temporary_file()
    {
        // What an interrupted --force into the cache leaves: the blob, verified, and a journal entry naming a part file.
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache)).ExitCode);
        var journalPath = Path.Combine(RepoFolder, DownloadState.FileName);
        var part = PlantForcedPartial(journalPath, Path.Combine(RepoFolder, "blobs"));
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = FileRequests();

        var again = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(before, FileRequests()); // the blob is there: nothing is fetched
        Assert.False(File.Exists(part), "no run would ever remove it while the journal names it");
        var after = JsonNode.Parse(File.ReadAllText(journalPath))!["files"]!["model.safetensors"];
        Assert.NotEqual(FileState.Partial, after?["status"]?.GetValue<string>());
    }

    [Theory]
    [InlineData("1")]
    [InlineData("100")]
    public async Task A_partial_transfer_of_a_file_verified_under_its_final_name_in_a_download_folder_is_not_fetched_again(string threshold)
    {
        // helper-47: what an interrupted --force into a download folder leaves: every file right under its final name,
        // and a journal that names a part file for the one that was being fetched again. The next run fetched it all.
        var cli = Cli();
        var target = _temp.Combine("forced");
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--file-size-threshold", threshold)).ExitCode);
        var journalPath = Path.Combine(target, DownloadState.FileName);
        var part = PlantForcedPartial(journalPath, target);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = FileRequests();

        var dryRun = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--file-size-threshold", threshold, "--dry-run");
        var again = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--file-size-threshold", threshold);

        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.DoesNotContain("resume (", dryRun.Out, StringComparison.Ordinal);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(before, FileRequests()); // verified by hash on disk: nothing is fetched
        Assert.False(File.Exists(part), "the partial copy of a file that is right goes");
        var after = JsonNode.Parse(File.ReadAllText(journalPath))!["files"]!["model.safetensors"];
        Assert.Equal(FileState.Complete, after?["status"]?.GetValue<string>());
    }

    [Fact]
    public async Task With_the_hub_out_of_reach_the_dry_run_and_verify_plan_from_the_local_records_as_the_download_does()
    {
        var target = _temp.Combine("unreachable");
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", target)).ExitCode);
        cli.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9";

        var download = await cli.RunAsync("download", "acme/cached", "--local-dir", target);
        var dryRun = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--dry-run");
        var verify = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--verify");

        foreach (var result in new[] { download, dryRun, verify })
        {
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("Could not reach", result.Error, StringComparison.Ordinal);
        }
        Assert.Contains("Planned from the local records of commit", dryRun.Error, StringComparison.Ordinal);
        Assert.Contains("4 ok", verify.Error, StringComparison.Ordinal);
        var elsewhere = await cli.RunAsync("download", "acme/cached", "--local-dir", _temp.Combine("never"), "--dry-run");
        Assert.Equal(1, elsewhere.ExitCode); // nothing local to plan from: the network error stands
        Assert.Contains("Could not reach", elsewhere.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_in_the_hf_cache_reports_a_file_in_the_snapshot_that_the_repo_does_not_have()
    {
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache)).ExitCode);
        var snapshot = Path.Combine(RepoFolder, "snapshots", hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId);
        File.WriteAllText(Path.Combine(snapshot, "stray.txt"), "x");

        var verify = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--verify");
        var cacheVerify = await cli.RunAsync("cache", "verify", "acme/cached", "--cache-dir", Cache);

        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("extra    stray.txt", verify.Error, StringComparison.Ordinal);
        Assert.Contains("1 extra", verify.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(snapshot, "stray.txt")), "never deleted");
        Assert.Contains("stray.txt (not in the cached listing of this commit)", cacheVerify.Out + cacheVerify.Error, StringComparison.Ordinal);
    }

    /// <summary>The bytes <paramref name="path"/> resumed with, from a --json run's file_started.</summary>
    private static long Resumed(CliResult result, string path = "model.safetensors") => JsonLines(result.Out).Single(e => e.GetProperty("event").GetString() == "file_started"
        && e.GetProperty("path").GetString() == path).GetProperty("resumed_bytes").GetInt64();

    /// <summary>A run while huggingface_hub holds its flock on <paramref name="lockFile"/>: its partial file is left to it.</summary>
    private static async Task AssertLeftToHuggingfaceHubWhileLockedAsync(CliRunner cli, string lockFile, string incomplete, params string[] target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockFile)!);
        CliResult whileLocked;
        using (new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)) // huggingface_hub's flock
        {
            whileLocked = await cli.RunAsync(["download", "acme/cached", .. target, "--json"]);
        }
        Assert.True(whileLocked.ExitCode == 0, whileLocked.ToString());
        Assert.Equal(0, Resumed(whileLocked));
        Assert.True(File.Exists(incomplete), "a file huggingface_hub is still writing is left to it");
    }

    [Fact]
    public async Task A_blob_huggingface_hub_left_incomplete_is_resumed_unless_huggingface_hub_still_holds_its_lock()
    {
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache)).ExitCode);
        var blobs = Path.Combine(RepoFolder, "blobs");
        var blob = new DirectoryInfo(blobs).GetFiles().OrderByDescending(f => f.Length).First(); // model.safetensors
        var content = File.ReadAllBytes(blob.FullName);
        var incomplete = blob.FullName + ".incomplete";
        void AsInterruptedByHuggingfaceHub()
        {
            // hf_hub_download killed after 1 MB: blobs/<etag>.incomplete, no blob, no link, none of hfdl's journal.
            File.WriteAllBytes(incomplete, content[..1_000_000]);
            File.Delete(blob.FullName);
            foreach (var link in Directory.GetFiles(Path.Combine(RepoFolder, "snapshots"), "model.safetensors", SearchOption.AllDirectories))
            {
                File.Delete(link);
            }
            File.Delete(Path.Combine(RepoFolder, DownloadState.FileName));
        }

        AsInterruptedByHuggingfaceHub();
        var lockFile = Path.Combine(Cache, ".locks", "models--acme--cached", blob.Name + ".lock");
        await AssertLeftToHuggingfaceHubWhileLockedAsync(cli, lockFile, incomplete, "--cache-dir", Cache);

        AsInterruptedByHuggingfaceHub();
        var resumed = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--json");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(1_000_000, Resumed(resumed));
        Assert.Equal(content.Length - 1_000_000, JsonLines(resumed.Out)[^1].GetProperty("bytes_fetched").GetInt64());
        Assert.False(File.Exists(incomplete));
        Assert.Equal(content, File.ReadAllBytes(blob.FullName));
    }

    [Fact]
    public async Task A_local_dir_file_huggingface_hub_left_incomplete_is_resumed_unless_locked_or_reached_through_a_link()
    {
        var cli = Cli();
        var local = _temp.Combine("local");
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", local)).ExitCode);
        var model = Path.Combine(local, "model.safetensors");
        var content = File.ReadAllBytes(model);
        var etag = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        var download = Path.Combine(local, ".cache", "huggingface", "download");
        // huggingface_hub's LocalDownloadFilePaths: <path>.metadata, <path>.lock, <path>.<etag>.incomplete.
        var incomplete = Path.Combine(download, $"model.safetensors.{etag}.incomplete");
        void AsInterruptedByHuggingfaceHub()
        {
            // hf download --local-dir killed after 1 MB: it had removed the file first, and hfdl's journal never saw it.
            File.WriteAllBytes(incomplete, content[..1_000_000]);
            File.Delete(model);
            File.Delete(Path.Combine(local, DownloadState.FileName));
        }

        AsInterruptedByHuggingfaceHub();
        await AssertLeftToHuggingfaceHubWhileLockedAsync(cli, Path.Combine(download, "model.safetensors.lock"), incomplete, "--local-dir", local);

        AsInterruptedByHuggingfaceHub();
        var dryRun = await cli.RunAsync("download", "acme/cached", "--local-dir", local, "--dry-run");
        var resumed = await cli.RunAsync("download", "acme/cached", "--local-dir", local, "--json");

        Assert.Contains("resume (", dryRun.Out, StringComparison.Ordinal);
        Assert.True(dryRun.ExitCode == 0, dryRun.Out);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(1_000_000, Resumed(resumed));
        Assert.Equal(content.Length - 1_000_000, JsonLines(resumed.Out)[^1].GetProperty("bytes_fetched").GetInt64());
        Assert.False(File.Exists(incomplete));
        Assert.Equal(content, File.ReadAllBytes(model));

        // The same partial file reached through a link planted as .cache/huggingface/download is never moved.
        AsInterruptedByHuggingfaceHub();
        var elsewhere = _temp.Combine("elsewhere");
        Directory.Move(download, elsewhere);
        Directory.CreateSymbolicLink(download, elsewhere);
        var throughLink = await cli.RunAsync("download", "acme/cached", "--local-dir", local);
        Assert.Equal(1, throughLink.ExitCode);
        Assert.Contains("hfdl never writes through links", throughLink.Error, StringComparison.Ordinal);
        Assert.Equal(content[..1_000_000], File.ReadAllBytes(Path.Combine(elsewhere, $"model.safetensors.{etag}.incomplete")));
    }

    [Fact]
    public async Task A_local_dir_file_in_a_subfolder_huggingface_hub_left_incomplete_is_resumed_before_the_subfolder_exists()
    {
        // hf download --local-dir killed in tokenizer/vocab.txt before it made tokenizer/: the takeover moved the partial
        // into a folder that did not exist yet, failed silently, and the whole file was fetched (QA: helper-35).
        var local = _temp.Combine("nested-local");
        var etag = Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData("blob 4\0a\nb\n"u8));
        var incomplete = Path.Combine(local, ".cache", "huggingface", "download", "tokenizer", $"vocab.txt.{etag}.incomplete");
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        File.WriteAllText(incomplete, "a\n");

        var resumed = await Cli().RunAsync("download", "acme/cached", "tokenizer/vocab.txt", "--local-dir", local, "--json");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(2, Resumed(resumed, "tokenizer/vocab.txt"));
        Assert.Equal(2, JsonLines(resumed.Out)[^1].GetProperty("bytes_fetched").GetInt64());
        Assert.False(File.Exists(incomplete));
        Assert.Equal("a\nb\n", File.ReadAllText(Path.Combine(local, "tokenizer", "vocab.txt")));
    }

    [Fact]
    public async Task A_cache_huggingface_hub_wrote_without_links_is_adopted_from_its_snapshot_copies_not_downloaded_again()
    {
        // Where links cannot be made, huggingface_hub moves each blob into the snapshot: copies there, blobs/ empty.
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache)).ExitCode);
        var snapshot = Path.Combine(RepoFolder, "snapshots", hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId);
        foreach (var link in Directory.GetFiles(snapshot, "*", SearchOption.AllDirectories))
        {
            var target = new FileInfo(link).ResolveLinkTarget(returnFinalTarget: true)!.FullName;
            File.Delete(link);
            File.Copy(target, link);
        }
        foreach (var blob in Directory.GetFiles(Path.Combine(RepoFolder, "blobs")))
        {
            File.Delete(blob);
        }
        File.Delete(Path.Combine(RepoFolder, DownloadState.FileName));
        var offline = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline"); // the cached listing checks the copies
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = FileRequests();

        var dryRun = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--dry-run", "--json");
        var run = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--json");

        Assert.True(offline.ExitCode == 0, offline.ToString());
        Assert.All(JsonLines(dryRun.Out)[0].GetProperty("entries").EnumerateArray(), e => Assert.Equal("verify", e.GetProperty("action").GetString()));
        Assert.True(run.ExitCode == 0, run.ToString());
        var summary = JsonLines(run.Out)[^1];
        Assert.Equal(0, summary.GetProperty("files_downloaded").GetInt32());
        Assert.Equal(0, summary.GetProperty("bytes_fetched").GetInt64());
        Assert.Equal(before, FileRequests());
        Assert.All(Directory.GetFiles(snapshot, "*", SearchOption.AllDirectories), f => Assert.NotNull(new FileInfo(f).ResolveLinkTarget(returnFinalTarget: true)));
        var verify = await cli.RunAsync("cache", "verify", "acme/cached", "--cache-dir", Cache);
        Assert.True(verify.ExitCode == 0, verify.ToString());
    }

    [Fact]
    public async Task A_blob_edited_in_place_after_hfdl_verified_it_is_hashed_again_not_trusted_by_its_name()
    {
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache)).ExitCode);
        var blob = new DirectoryInfo(Path.Combine(RepoFolder, "blobs")).GetFiles().Single(f => File.ReadAllText(f.FullName) == "{\"a\":1}\n");
        File.WriteAllText(blob.FullName, "{\"a\":9}\n"); // same size, edited in place

        var offline = await cli.RunAsync("download", "acme/cached", "config.json", "--cache-dir", Cache, "--offline");
        var online = await cli.RunAsync("download", "acme/cached", "config.json", "--cache-dir", Cache, "--json");

        Assert.Equal(1, offline.ExitCode);
        Assert.Contains("corrupt  config.json", offline.Error, StringComparison.Ordinal);
        Assert.True(online.ExitCode == 0, online.ToString());
        Assert.Equal(1, JsonLines(online.Out)[^1].GetProperty("files_downloaded").GetInt32());
        Assert.Equal("{\"a\":1}\n", File.ReadAllText(blob.FullName));
    }

    [Fact]
    public async Task Offline_without_a_listing_a_snapshot_entry_that_cannot_be_used_is_missing_not_extra_or_ignored()
    {
        var cli = Cli();
        var commit = await CacheAsHuggingfaceHubWritesItAsync(cli);
        var snapshot = Path.Combine(RepoFolder, "snapshots", commit);
        var configBlob = new FileInfo(Path.Combine(snapshot, "config.json")).ResolveLinkTarget(returnFinalTarget: true)!.FullName;
        File.Delete(Path.Combine(snapshot, "tokenizer", "vocab.txt"));
        File.CreateSymbolicLink(Path.Combine(snapshot, "tokenizer", "vocab.txt"), "../../../blobs/" + new string('0', 40)); // dangling
        var modelBlob = new FileInfo(Path.Combine(snapshot, "model.safetensors")).ResolveLinkTarget(returnFinalTarget: true)!.FullName;
        File.Delete(modelBlob);
        Assert.Equal(0, Mkfifo(modelBlob, 0x1A4)); // a FIFO where the blob was: never opened

        var run = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline");
        var verify = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline", "--verify");
        var named = await cli.RunAsync("download", "acme/cached", "config.json", "--cache-dir", Cache, "--offline");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("missing  tokenizer/vocab.txt", run.Error, StringComparison.Ordinal);
        Assert.Contains("missing  model.safetensors", run.Error, StringComparison.Ordinal);
        Assert.Equal(1, verify.ExitCode);
        Assert.DoesNotContain("extra", verify.Error, StringComparison.Ordinal);
        Assert.True(named.ExitCode == 0, named.ToString()); // what is usable still serves
        Assert.True(File.Exists(configBlob));
    }

    [Fact]
    public async Task Offline_a_blob_of_the_wrong_size_is_reported_corrupt_with_advice_that_works_offline()
    {
        var cli = Cli();
        var download = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);
        Assert.True(download.ExitCode == 0, download.ToString());
        var config = Path.Combine(download.Out.Trim(), "config.json");
        var blob = new FileInfo(config).ResolveLinkTarget(returnFinalTarget: true)!.FullName;
        File.WriteAllText(blob, "x"); // damaged in place: another size than the listing's

        var run = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline");
        var verify = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline", "--verify");
        var json = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache, "--offline", "--json");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("corrupt  config.json (does not match the cached listing's size or hash)", run.Error, StringComparison.Ordinal);
        Assert.Contains("download the missing and corrupt files again", run.Error, StringComparison.Ordinal);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("corrupt  config.json", verify.Error, StringComparison.Ordinal);
        // --fix-broken is refused offline, so the advice must say to drop --offline as well.
        Assert.Contains("with --fix-broken and without --offline", verify.Error, StringComparison.Ordinal);
        Assert.Equal(1, json.ExitCode);
        Assert.Contains("'config.json' does not", JsonLines(json.Out)[^1].GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("x", File.ReadAllText(blob)); // reported, not touched
    }

    [Theory]
    [InlineData(".download_state")]
    [InlineData(".cache/huggingface/trees/COMMIT.json")]
    [InlineData(".cache/huggingface/download/config.json.metadata")]
    public async Task A_fifo_planted_where_hfdl_keeps_its_records_never_hangs_a_run(string planted)
    {
        var cli = Cli();
        var local = _temp.Combine("local");
        Assert.Equal(0, (await cli.RunAsync("download", "acme/cached", "--local-dir", local)).ExitCode);
        var fifo = Path.Combine(local, planted.Replace("COMMIT", hub.Store.MainSnapshot(RepoType.Model, "acme/cached").CommitId));
        File.Delete(fifo);
        Assert.Equal(0, Mkfifo(fifo, 0x1A4)); // opening it for reading would wait for a writer for ever

        // Every mode that reads the records, then a download: each ends (a deadline turns a hang into a failure).
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task<CliResult> Run(params string[] mode) =>
            Task.Run(() => cli.RunAsync(deadline.Token, ["download", "acme/cached", "--local-dir", local, .. mode])).WaitAsync(deadline.Token);
        var offline = await Run("--offline");
        var dryRun = await Run("--dry-run");
        var download = await Run();

        Assert.DoesNotContain("unexpected", offline.Error, StringComparison.Ordinal);
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.True(download.ExitCode == 0, download.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/cached"), local);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);

    [Fact]
    public async Task Offline_json_with_nothing_on_disk_writes_one_fatal_error_event()
    {
        var result = await Cli().RunAsync("download", "acme/cached", "--local-dir", _temp.Combine("empty"), "--offline", "--json");

        Assert.Equal(1, result.ExitCode);
        var error = Assert.Single(JsonLines(result.Out));
        Assert.Equal("error", error.GetProperty("event").GetString());
        Assert.True(error.GetProperty("fatal").GetBoolean());
        Assert.Equal(1, error.GetProperty("exit_code").GetInt32());
        Assert.Contains("Offline", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData]
    [InlineData("--dry-run")]
    [InlineData("--verify")]
    public async Task Offline_with_nothing_on_disk_says_the_same_in_every_mode(params string[] mode)
    {
        var result = await Cli().RunAsync(["download", "acme/cached", "--local-dir", _temp.Combine("empty"), "--offline", .. mode]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("records model 'acme/cached' at 'main' (no journal or ref names a commit for it). Download it once with the network first.", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData]
    [InlineData("--dry-run")]
    [InlineData("--verify")]
    [InlineData("--json")]
    public async Task Offline_a_ref_whose_snapshot_and_listing_were_deleted_is_said_to_name_a_commit_with_nothing_on_disk(params string[] mode)
    {
        var cli = Cli();
        var commit = await CacheAsHuggingfaceHubWritesItAsync(cli);
        Directory.Delete(Path.Combine(RepoFolder, "snapshots"), recursive: true);

        var result = await cli.RunAsync(["download", "acme/cached", "--cache-dir", Cache, "--offline", .. mode]);

        Assert.Equal(1, result.ExitCode);
        // Not "nothing records it": refs/main does, and the user must learn that its files are what is gone.
        Assert.Contains($"the local records name commit {commit}, but neither a cached listing of it nor any of its files is on disk", result.Error + result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("nothing", result.Error + result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metadata_folder_that_is_a_file_is_said_once_and_the_download_goes_on()
    {
        var target = _temp.Combine("local");
        Directory.CreateDirectory(Path.Combine(target, ".cache"));
        File.WriteAllText(Path.Combine(target, ".cache", "huggingface"), "not a folder\n");

        var result = await Cli().RunAsync("download", "acme/cached", "--local-dir", target, "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var warning = Assert.Single(JsonLines(result.Out), e => e.GetProperty("event").GetString() == "warning");
        Assert.Contains("download metadata cannot be written", warning.GetProperty("message").GetString(), StringComparison.Ordinal);
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/cached"), target);
    }

    [Fact]
    public async Task Offline_mode_reports_an_incomplete_local_copy_and_fails()
    {
        var target = _temp.Combine("local");
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--local-dir", target);
        File.Delete(Path.Combine(target, "model.safetensors"));
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync("download", "acme/cached", "--local-dir", target, "--offline");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("missing  model.safetensors", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task A_network_failure_with_a_complete_local_copy_is_a_warning()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);
        cli.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9";

        var result = await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("warning:", result.Error, StringComparison.Ordinal);
        Assert.Contains("snapshots", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_ls_counts_shared_blobs_once_and_cache_verify_finds_a_corrupt_blob()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);
        await cli.RunAsync("download", "acme/cached", "--revision", "v2", "--cache-dir", Cache);

        var list = await cli.RunAsync("cache", "ls", "--cache-dir", Cache);
        var clean = await cli.RunAsync("cache", "verify", "acme/cached", "--cache-dir", Cache);
        var blob = Directory.GetFiles(Path.Combine(RepoFolder, "blobs")).OrderByDescending(f => new FileInfo(f).Length).First();
        var bytes = await File.ReadAllBytesAsync(blob);
        bytes[100] ^= 0xFF;
        await File.WriteAllBytesAsync(blob, bytes);
        var dirty = await cli.RunAsync("cache", "verify", "acme/cached", "--cache-dir", Cache);

        Assert.True(list.ExitCode == 0, list.ToString());
        var line = list.Out.Split('\n').Single(l => l.StartsWith("acme/cached", StringComparison.Ordinal));
        Assert.Contains("     4  ", line, StringComparison.Ordinal); // 4 blobs: 3 shared by both revisions, 1 new config
        Assert.Contains("main", line, StringComparison.Ordinal);
        Assert.Contains("v2", line, StringComparison.Ordinal);
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.Equal(1, dirty.ExitCode);
        Assert.Contains("corrupt", dirty.Out, StringComparison.Ordinal);
        Assert.Contains("model.safetensors (sha256 ", dirty.Out, StringComparison.Ordinal); // the hash's name, not the enum's (GitSha1)
        Assert.Contains("1 repo, ", list.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_verify_counts_links_out_of_the_blobs_as_bad_and_never_walks_through_a_folder_link()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/cached", "--cache-dir", Cache);
        var snapshot = Directory.GetDirectories(Path.Combine(RepoFolder, "snapshots")).Single();
        var outside = Path.Combine(Cache, "..", "outside.txt");
        await File.WriteAllTextAsync(outside, "not a blob of the cache");
        // One snapshot file now links out of the cache; another blob is itself a link out of the cache; and a folder
        // link to the file system's root sits in the snapshot.
        var config = Path.Combine(snapshot, "config.json");
        File.Delete(config);
        File.CreateSymbolicLink(config, Path.GetFullPath(outside));
        var weights = new FileInfo(Path.Combine(snapshot, "model.safetensors")).ResolveLinkTarget(returnFinalTarget: false)!.FullName;
        File.Delete(weights);
        File.CreateSymbolicLink(weights, Path.GetFullPath(outside));
        Directory.CreateSymbolicLink(Path.Combine(snapshot, "root"), "/");

        var verify = await cli.RunAsync("cache", "verify", "acme/cached", "--cache-dir", Cache);
        var list = await cli.RunAsync("cache", "ls", "--cache-dir", Cache);

        Assert.True(verify.ExitCode == 1, verify.ToString());
        var lines = verify.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("corrupt", StringComparison.Ordinal) && l.Contains("/config.json (the link leads outside", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("corrupt", StringComparison.Ordinal) && l.Contains("/model.safetensors (the link leads outside", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("corrupt", StringComparison.Ordinal) && l.Contains("/root (a link to a folder", StringComparison.Ordinal));
        Assert.DoesNotContain("/root/", verify.Out, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
    }

    [Fact]
    public async Task The_official_js_client_reads_the_cache_hfdl_wrote_and_finds_nothing_to_download()
    {
        var result = await Cli().RunAsync("download", "acme/cached", "--cache-dir", Cache);
        Assert.True(result.ExitCode == 0, result.ToString());
        var main = hub.Store.MainSnapshot(RepoType.Model, "acme/cached");
        hub.Server.Requests.Clear();

        var (code, stdout, stderr) = await NpmFidelityTests.RunNodeAsync(
            Path.Combine(NpmFidelityTests.RepoRoot(), "tests", "npm-fidelity"),
            ["cache-check.mjs", "--cache", Cache, "--endpoint", hub.Server.Endpoint.ToString(), "--repo", "acme/cached"]);

        Assert.True(code == 0, $"node failed: {stderr}");
        using var json = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        var repo = json.RootElement.GetProperty("repos").EnumerateArray().Single();
        Assert.Equal("acme/cached", repo.GetProperty("name").GetString());
        var revision = repo.GetProperty("revisions").EnumerateArray().Single();
        Assert.Equal(main.CommitId, revision.GetProperty("commit").GetString());
        Assert.Contains("main", revision.GetProperty("refs").EnumerateArray().Select(r => r.GetString()));
        // The JS scanner does not descend into sub-folders of a snapshot (its scanSnapshotDir skips directories).
        Assert.Equal(main.Files.Count(f => !f.Path.Contains('/')), revision.GetProperty("files").GetArrayLength());
        Assert.Equal(Path.Combine(RepoFolder, "snapshots", main.CommitId), json.RootElement.GetProperty("snapshot").GetString());
        Assert.DoesNotContain(hub.Server.Requests.Snapshot(), r => r.Listener == "cdn" || r.PathAndQuery.Contains("/resolve", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Downloads_go_through_the_proxy_in_http_proxy()
    {
        await using var proxy = new ForwardProxy();
        var cli = Cli();
        var environment = new Dictionary<string, string?>(cli.Environment)
        {
            ["HTTP_PROXY"] = proxy.Address.ToString(),
            ["http_proxy"] = proxy.Address.ToString(),
            ["NO_PROXY"] = "",
            ["no_proxy"] = "",
        };
        var target = _temp.Combine("proxied");

        using var process = HfdlProcess.Start(environment, "download", "acme/cached", "--local-dir", target);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, process.Error);
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/cached"), target);
        Assert.Contains(proxy.Requests, r => r.Contains("/api/models/acme/cached", StringComparison.Ordinal));
        Assert.Contains(proxy.Requests, r => r.Contains("localhost", StringComparison.Ordinal)); // the CDN, too
    }
}
