using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Download;

/// <summary>The walking core: `hfdl download` against a real Hfdl.Hub on loopback, every file verified.</summary>
public sealed class WalkingCoreTests(WalkingCoreHub hub) : IClassFixture<WalkingCoreHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CliRunner Cli() => new(hub.Server, _temp);

    private string Target(string name = "out") => _temp.Combine(name);

    [Theory]
    [InlineData("direct")]
    [InlineData("cache")]
    [InlineData("cdn")]
    [InlineData("real")]
    public async Task Every_resolve_shape_downloads_the_whole_repo_bit_exact(string repo)
    {
        var result = await Cli().RunAsync("download", $"acme/{repo}", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, $"acme/{repo}"), Target());
        Assert.Equal(Target(), result.Out.Trim());
        Assert.DoesNotContain(".hfdl-part", string.Join(",", RepoAssert.ListFiles(Target())));
    }

    [Fact]
    public async Task The_short_form_and_the_default_layout_put_a_model_under_owner_and_name()
    {
        var result = await Cli().RunAsync("acme/direct", "-d", Target("downloads"));

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/direct"), Target("downloads/acme/direct"));
    }

    [Fact]
    public async Task Datasets_and_spaces_get_their_own_folders()
    {
        var dataset = await Cli().RunAsync("download", "-r", "dataset", "acme/data", "-d", Target("d"));
        var space = await Cli().RunAsync("download", "https://huggingface.co/spaces/acme/app", "-d", Target("d"));
        var legacy = await Cli().RunAsync("download", "gpt2", "-d", Target("d"));

        Assert.True(dataset.ExitCode == 0, dataset.ToString());
        Assert.True(space.ExitCode == 0, space.ToString());
        Assert.True(legacy.ExitCode == 0, legacy.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Dataset, "acme/data"), Target("d/datasets/acme/data"));
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Space, "acme/app"), Target("d/spaces/acme/app"));
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "gpt2"), Target("d/gpt2"));
    }

    [Fact]
    public async Task A_listing_of_seven_files_in_pages_of_two_is_followed_to_the_end()
    {
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Snapshot().Count(r => r.PathAndQuery.Contains("/api/models/acme/seven/tree/", StringComparison.Ordinal));

        var result = await Cli().RunAsync("download", "acme/seven", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Enumerable.Range(1, 7).Select(i => $"file{i}.txt").Order(StringComparer.Ordinal), RepoAssert.ListFiles(Target()).Where(f => f != ".download_state"));
        var pages = hub.Server.Requests.Snapshot().Count(r => r.PathAndQuery.Contains("/api/models/acme/seven/tree/", StringComparison.Ordinal)) - before;
        Assert.Equal(4, pages);
    }

    [Theory]
    [InlineData("main", "main\n")]
    [InlineData("dev", "dev\n")]
    [InlineData("v1.0", "v1.0\n")]
    [InlineData("refs/pr/1", "pr 1\n")]
    public async Task A_branch_tag_or_pull_request_ref_downloads_that_revision(string revision, string expected)
    {
        var result = await Cli().RunAsync("download", "acme/revs", "--revision", revision, "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(expected, await File.ReadAllTextAsync(Path.Combine(Target(), "version.txt")));
    }

    [Fact]
    public async Task A_full_commit_id_downloads_that_commit()
    {
        var commit = hub.Store.At(RepoType.Model, "acme/revs", "v1.0").CommitId;

        var result = await Cli().RunAsync("download", "acme/revs", "--revision", commit, "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.At(RepoType.Model, "acme/revs", "v1.0"), Target());
    }

    [Fact]
    public async Task Selected_files_and_folders_are_the_only_ones_downloaded()
    {
        var result = await Cli().RunAsync("download", "acme/direct", "config.json", "nested/", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["config.json", "nested/a/b/c.json"], RepoAssert.ListFiles(Target()).Where(f => f != ".download_state"));
    }

    [Fact]
    public async Task A_private_repo_needs_a_token_and_works_with_one()
    {
        var cli = Cli();
        var anonymous = await cli.RunAsync("download", "acme/secret", "--local-dir", Target("anon"));
        cli.Environment["HF_TOKEN"] = WalkingCoreHub.AliceToken;
        var withToken = await cli.RunAsync("download", "acme/secret", "--local-dir", Target("alice"));

        Assert.Equal(1, anonymous.ExitCode);
        Assert.Contains("not found, or it is private", anonymous.Error, StringComparison.Ordinal);
        Assert.Contains("hfdl login", anonymous.Error, StringComparison.Ordinal);
        Assert.True(withToken.ExitCode == 0, withToken.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/secret"), Target("alice"));
    }

    [Fact]
    public async Task A_token_without_access_to_a_private_repo_is_told_so()
    {
        var result = await Cli().RunAsync("download", "acme/secret", "--token", WalkingCoreHub.CarolToken, "--local-dir", Target());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not found, or it is private", result.Error, StringComparison.Ordinal);
        Assert.Contains("--token", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(WalkingCoreHub.CarolToken, result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gated_repo_without_a_token_names_the_page_where_access_is_requested()
    {
        var result = await Cli().RunAsync("download", "acme/gated", "--local-dir", Target());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("gated", result.Error, StringComparison.Ordinal);
        Assert.Contains($"{hub.Server.Endpoint.ToString().TrimEnd('/')}/acme/gated", result.Error, StringComparison.Ordinal);
        Assert.Contains("hfdl login", result.Error, StringComparison.Ordinal);
        RepoAssert.NoFinalFile(Target(), "weights.bin");
    }

    [Fact]
    public async Task A_gated_repo_with_a_pending_request_says_it_is_pending()
    {
        var result = await Cli().RunAsync("download", "acme/gated", "--token", WalkingCoreHub.BobToken, "--local-dir", Target());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("pending", result.Error, StringComparison.Ordinal);
        RepoAssert.NoFinalFile(Target(), "weights.bin");
    }

    [Fact]
    public async Task A_gated_repo_with_an_unapproved_token_says_access_must_be_requested()
    {
        var result = await Cli().RunAsync("download", "acme/gated", "--token", WalkingCoreHub.CarolToken, "--local-dir", Target());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not in its authorized list", result.Error, StringComparison.Ordinal);
        Assert.Contains($"{hub.Server.Endpoint.ToString().TrimEnd('/')}/acme/gated", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gated_repo_with_an_approved_token_downloads()
    {
        var result = await Cli().RunAsync("download", "acme/gated", "--token", WalkingCoreHub.AliceToken, "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/gated"), Target());
    }

    [Fact]
    public async Task A_disabled_repo_says_it_is_disabled()
    {
        var result = await Cli().RunAsync("download", "acme/disabled", "--local-dir", Target());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("disabled", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("acme/does-not-exist", null, null, "not found, or it is private")]
    [InlineData("acme/direct", "no-such-branch", null, "Revision 'no-such-branch' does not exist")]
    [InlineData("acme/direct", null, "no-such-file.txt", "File 'no-such-file.txt' does not exist")]
    public async Task A_missing_repo_revision_or_file_ends_with_a_clear_error(string repo, string? revision, string? file, string expected)
    {
        var args = new List<string> { "download", repo, "--local-dir", Target() };
        if (revision is not null)
        {
            args.AddRange(["--revision", revision]);
        }
        if (file is not null)
        {
            args.Add(file);
        }

        var result = await Cli().RunAsync([.. args]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_renamed_repo_is_downloaded_from_its_new_name()
    {
        var result = await Cli().RunAsync("download", "acme/old-name", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/new-name"), Target());
    }

    [Fact]
    public async Task The_cdn_never_receives_the_token()
    {
        var cli = Cli();
        cli.Environment["HF_TOKEN"] = WalkingCoreHub.AliceToken;

        var result = await cli.RunAsync("download", "acme/cdn", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        var requests = hub.Server.Requests.Snapshot();
        Assert.Contains(requests, r => r.Listener == "cdn");
        Assert.All(requests.Where(r => r.Listener == "cdn"), r => Assert.Null(r.Authorization));
        Assert.Contains(requests, r => r.Listener == "hub" && r.Authorization == $"Bearer {WalkingCoreHub.AliceToken}");
    }

    [Fact]
    public async Task A_second_run_downloads_nothing()
    {
        var first = await Cli().RunAsync("download", "acme/real", "--local-dir", Target());
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Snapshot().Count(r => r.PathAndQuery.Contains("/resolve", StringComparison.Ordinal) || r.Listener == "cdn");

        var second = await Cli().RunAsync("download", "acme/real", "--local-dir", Target());

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        var after = hub.Server.Requests.Snapshot().Count(r => r.PathAndQuery.Contains("/resolve", StringComparison.Ordinal) || r.Listener == "cdn");
        Assert.Equal(before, after);
        Assert.Contains("Downloaded 0 files", second.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_changed_on_disk_is_detected_and_downloaded_again()
    {
        await Cli().RunAsync("download", "acme/direct", "--local-dir", Target());
        var config = Path.Combine(Target(), "config.json");
        await File.WriteAllTextAsync(config, "{\"tampered\":1}\n");

        var result = await Cli().RunAsync("download", "acme/direct", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/direct"), Target());
        Assert.Contains("Downloaded 1 files", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a repo")]
    [InlineData("a/b/c")]
    [InlineData("org/name.git")]
    [InlineData("--bad--/x")]
    public async Task A_malformed_repo_id_is_a_usage_error_without_a_stack_trace(string repo)
    {
        var result = await Cli().RunAsync("download", repo, "--local-dir", Target());

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is not a valid repository id", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Target()));
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_reported_in_one_paragraph()
    {
        var cli = Cli();
        cli.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9"; // discard port: nothing listens

        var result = await cli.RunAsync("download", "acme/direct", "--local-dir", Target());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Could not reach http://127.0.0.1:9", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ls_lists_files_with_sizes_and_hashes()
    {
        var result = await Cli().RunAsync("ls", "acme/direct");

        Assert.True(result.ExitCode == 0, result.ToString());
        var snapshot = hub.Store.MainSnapshot(RepoType.Model, "acme/direct");
        var weights = snapshot.Files.Single(f => f.Path == "weights/model.safetensors");
        Assert.Contains($"sha256:{weights.Content.Sha256}  weights/model.safetensors", result.Out, StringComparison.Ordinal);
        Assert.Contains("git-sha1:", result.Out, StringComparison.Ordinal);
    }
}
