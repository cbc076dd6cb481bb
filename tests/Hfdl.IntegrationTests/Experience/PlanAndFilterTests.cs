using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>--include / --exclude, --dry-run, ls, help, version and completion, through the real command.</summary>
public sealed class PlanAndFilterTests(ExperienceHub hub) : IClassFixture<ExperienceHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private ExperienceRunner Cli() => new(hub.Server, _temp);

    private string Target(string name = "out") => _temp.Combine(name);

    private static List<string> Downloaded(string folder) => [.. RepoAssert.ListFiles(folder).Where(f => f != ".download_state")];

    /// <summary>Every file and folder under <paramref name="folder"/> with its size and modification time.</summary>
    private static List<string> Fingerprint(string folder) =>
        [.. Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories)
            .Select(p => $"{Path.GetRelativePath(folder, p)} {(File.Exists(p) ? new FileInfo(p).Length : -1)} {File.GetLastWriteTimeUtc(p).Ticks}")
            .Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData(new[] { "--include", "*.json" }, "config.json,tokenizer/vocab.json")]
    [InlineData(new[] { "--include", "tokenizer/" }, "tokenizer/merges.txt,tokenizer/vocab.json")]
    [InlineData(new[] { "--include", "*.json", "--include", "*.md" }, "README.md,config.json,tokenizer/vocab.json")]
    [InlineData(new[] { "--exclude", "*.onnx", "--exclude", "*.safetensors" }, "README.md,config.json,tokenizer/merges.txt,tokenizer/vocab.json")]
    [InlineData(new[] { "--include", "*", "--exclude", "tokenizer/" }, "README.md,config.json,model.safetensors,onnx/model.onnx")]
    [InlineData(new[] { "--include", "*o*/*.[jt][sx]*" }, "tokenizer/merges.txt,tokenizer/vocab.json")]
    [InlineData(new[] { "tokenizer/", "config.json", "--exclude", "*.txt" }, "config.json,tokenizer/vocab.json")]
    public async Task Include_and_exclude_download_exactly_the_matching_files(string[] options, string expected)
    {
        var result = await Cli().RunAsync(["download", "acme/plain", "--local-dir", Target(), .. options]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(expected, string.Join(",", Downloaded(Target())));
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, "acme/plain"), Target(), expected.Split(','));
    }

    [Fact]
    public async Task Patterns_that_match_nothing_fail_and_say_how_patterns_match()
    {
        var result = await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "--include", "*.gguf");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--include '*.gguf'", result.Error, StringComparison.Ordinal);
        Assert.Contains("* also matches /", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Target()));
    }

    [Fact]
    public async Task A_mistyped_option_is_a_usage_error_not_a_missing_file()
    {
        var result = await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "--plian");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'--plian' is not an option", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Target()));
    }

    [Fact]
    public async Task After_a_double_dash_a_word_with_a_dash_is_a_file_name()
    {
        var result = await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "--", "--plian");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("'--plian' does not exist", result.Error, StringComparison.Ordinal);
        Assert.Contains("`hfdl ls acme/plain` lists the names", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dry_run_creates_no_folder_and_writes_nothing()
    {
        var baseFolder = Target("base");

        var result = await Cli().RunAsync("download", "acme/plain", "-d", baseFolder, "--dry-run", "--exclude", "README.md");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.False(Directory.Exists(baseFolder), "a dry run must not create the target folder");
        foreach (var path in new[] { "config.json", "tokenizer/vocab.json", "tokenizer/merges.txt", "onnx/model.onnx", "model.safetensors" })
        {
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(path)}\s+[│|].*[│|] (small|big)\s+[│|] (LFS|regular)\s+[│|] download", result.Out);
        }
        Assert.DoesNotContain("README.md", result.Out, StringComparison.Ordinal);
        Assert.Contains("5 files, 2.7 MB; to download: 5 files, 2.7 MB; already present: 0 files", result.Error, StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing was downloaded and nothing was written.", result.Error, StringComparison.Ordinal);
        Assert.Contains($"Target: {Path.Combine(baseFolder, "acme", "plain")}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dry_run_of_a_downloaded_folder_shows_what_is_present_and_changes_nothing_even_a_broken_journal()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/plain", "--local-dir", Target());
        File.Delete(Path.Combine(Target(), "config.json"));
        File.WriteAllText(Path.Combine(Target(), "README.md"), "# tiny\n");  // same bytes, new mtime: to verify
        var before = Fingerprint(Target());

        var result = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run", "--json");
        var human = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run");
        var afterDryRun = Fingerprint(Target());
        File.WriteAllText(Path.Combine(Target(), ".download_state"), "{ not json");
        var broken = Fingerprint(Target());
        var withBrokenJournal = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(before, afterDryRun);
        var lines = result.Out.Trim().Split('\n');
        var plan = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal("plan", plan.GetProperty("event").GetString());
        Assert.Equal("summary", JsonDocument.Parse(lines[^1]).RootElement.GetProperty("event").GetString());
        Assert.True(plan.GetProperty("dry_run").GetBoolean());
        var actions = plan.GetProperty("entries").EnumerateArray().ToDictionary(e => e.GetProperty("path").GetString()!, e => e.GetProperty("action").GetString());
        Assert.Equal("download", actions["config.json"]);
        Assert.Equal("verify", actions["README.md"]);
        Assert.Equal("present", actions["model.safetensors"]);
        Assert.Equal(4, plan.GetProperty("files_present").GetInt32());
        // README.md is only hashed first: counted apart, not promised as a download.
        Assert.Equal(2, plan.GetProperty("files_to_download").GetInt32());
        Assert.Equal(1, plan.GetProperty("files_to_verify").GetInt32());
        Assert.Equal(7, plan.GetProperty("bytes_to_verify").GetInt64());
        Assert.Matches(@"to download: 1 files, [0-9.]+ B; to check: 1 files on disk, 7 B \(hashed, fetched only if they differ\)", human.Error);

        Assert.True(withBrokenJournal.ExitCode == 0, withBrokenJournal.ToString());
        Assert.Equal(broken, Fingerprint(Target()));
        Assert.Contains("is not trusted", withBrokenJournal.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_repo_id_in_another_case_keeps_the_journal_and_finds_everything_present()
    {
        var cli = Cli();
        var first = await cli.RunAsync("download", "acme/plain", "--local-dir", Target());
        Assert.True(first.ExitCode == 0, first.ToString());

        // Repo ids are case-insensitive on the Hub: the journal is this repo's, whatever the case it was asked in.
        var again = await cli.RunAsync("download", "ACME/Plain", "--local-dir", Target(), "--dry-run", "--json");

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("not trusted", again.Error, StringComparison.Ordinal);
        var plan = JsonDocument.Parse(again.Out.Trim().Split('\n')[0]).RootElement;
        Assert.Equal(0, plan.GetProperty("files_to_download").GetInt32());
        Assert.All(plan.GetProperty("entries").EnumerateArray(), e => Assert.Equal("present", e.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task A_dry_run_says_when_a_folder_stands_where_a_file_goes_and_exits_as_the_download_would()
    {
        var cli = Cli();
        Directory.CreateDirectory(Path.Combine(Target(), "config.json"));

        var dryRun = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run");
        var json = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run", "--json");
        var download = await cli.RunAsync("download", "acme/plain", "--local-dir", Target());

        Assert.Equal(1, download.ExitCode);
        Assert.Contains("config.json' is a folder", download.Error, StringComparison.Ordinal);
        Assert.Equal(1, dryRun.ExitCode);
        Assert.Contains("download fails (a file or folder is in the way)", dryRun.Out, StringComparison.Ordinal);
        Assert.Contains("config.json' is a folder, but the repo has a file with that name", dryRun.Error, StringComparison.Ordinal);
        Assert.Equal(1, json.ExitCode);
        var plan = JsonDocument.Parse(json.Out.Split('\n')[0]).RootElement;
        var entry = plan.GetProperty("entries").EnumerateArray().Single(e => e.GetProperty("path").GetString() == "config.json");
        Assert.Contains("is a folder", entry.GetProperty("blocked").GetString(), StringComparison.Ordinal);

        // And a file where a folder of the repo goes.
        var other = Target() + "-file";
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "tokenizer"), "mine");
        var fileDryRun = await cli.RunAsync("download", "acme/plain", "--local-dir", other, "--dry-run");
        var fileRun = await cli.RunAsync("download", "acme/plain", "--local-dir", other);
        Assert.Equal(1, fileRun.ExitCode);
        Assert.Equal(1, fileDryRun.ExitCode);
        Assert.Contains("tokenizer' is a file, but the repo has a folder with that name", fileDryRun.Error, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(other, "tokenizer")));
    }

    [Fact]
    public async Task Failures_that_wait_on_the_user_are_not_answered_with_run_it_again()
    {
        // Running again as is fails them again: the advice was "Run the same command again to retry" (QA: helper-38).
        var cli = Cli();
        Directory.CreateDirectory(Path.Combine(Target(), "config.json"));

        var download = await cli.RunAsync("download", "acme/plain", "--local-dir", Target());
        var json = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--json");

        Assert.Equal(1, download.ExitCode);
        Assert.Contains("Move the folder away", download.Error, StringComparison.Ordinal);
        Assert.Contains("Each failure says what to do first", download.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Run the same command again to retry", download.Error, StringComparison.Ordinal);
        var error = json.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "error" && e.TryGetProperty("path", out _));
        Assert.False(error.GetProperty("retryable").GetBoolean());
    }

    [Fact]
    public async Task A_hub_url_into_a_file_or_folder_downloads_and_lists_only_that()
    {
        var cli = Cli();
        var endpoint = hub.Server.Endpoint.ToString().TrimEnd('/');

        var file = await cli.RunAsync("download", $"{endpoint}/acme/plain/blob/main/config.json", "--local-dir", Target());
        var folder = await cli.RunAsync("download", $"{endpoint}/acme/plain/tree/main/tokenizer", "--local-dir", Target() + "-folder");
        var both = await cli.RunAsync("download", $"{endpoint}/acme/plain/blob/main/config.json", "README.md", "--local-dir", Target() + "-both");
        var list = await cli.RunAsync("ls", $"{endpoint}/acme/plain/tree/main/tokenizer", "--json");

        Assert.True(file.ExitCode == 0, file.ToString());
        Assert.Equal(new[] { "config.json" }, Directory.GetFiles(Target()).Select(f => Path.GetFileName(f)).Where(n => !n.StartsWith('.')).ToArray());
        Assert.True(folder.ExitCode == 0, folder.ToString());
        Assert.Equal(new[] { "merges.txt", "vocab.json" }, Directory.GetFiles(Path.Combine(Target() + "-folder", "tokenizer")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());
        Assert.False(File.Exists(Path.Combine(Target() + "-folder", "model.safetensors")));
        Assert.True(both.ExitCode == 2, both.ToString());
        Assert.Contains("points at 'config.json' in the repo, and FILES name more", both.Error, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("tokenizer/merges.txt", list.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("config.json", list.Out, StringComparison.Ordinal);

        // Patterns on top of a URL's path are refused as ls refuses them, before anything is asked or written.
        foreach (var patterns in new[] { new[] { "--include", "*.json" }, ["--exclude", "*.txt"] })
        {
            var narrowed = await cli.RunAsync(["download", $"{endpoint}/acme/plain/tree/main/tokenizer", "--local-dir", Target() + "-narrowed", .. patterns]);
            Assert.True(narrowed.ExitCode == 2, narrowed.ToString());
            Assert.Contains("in the repo, and --include/--exclude name more", narrowed.Error, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Target() + "-narrowed"));
        }
    }

    [Fact]
    public async Task An_hf_uri_with_a_path_and_a_folder_name_without_its_slash_select_the_file_or_the_folder()
    {
        var cli = Cli();

        var file = await cli.RunAsync("download", "hf://acme/plain@main/config.json", "--local-dir", Target());
        var folder = await cli.RunAsync("download", "hf://acme/plain/tokenizer", "--local-dir", Target() + "-folder");
        var named = await cli.RunAsync("download", "acme/plain", "tokenizer", "--local-dir", Target() + "-named");
        var list = await cli.RunAsync("ls", "hf://acme/plain@main/tokenizer", "--json");
        var missing = await cli.RunAsync("download", "hf://acme/plain@main/nope", "--local-dir", Target() + "-missing");

        Assert.True(file.ExitCode == 0, file.ToString());
        Assert.Equal(["config.json"], Downloaded(Target()));
        Assert.True(folder.ExitCode == 0, folder.ToString());
        Assert.Equal(["tokenizer/merges.txt", "tokenizer/vocab.json"], Downloaded(Target() + "-folder"));
        Assert.True(named.ExitCode == 0, named.ToString());
        Assert.Equal(["tokenizer/merges.txt", "tokenizer/vocab.json"], Downloaded(Target() + "-named"));
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("tokenizer/vocab.json", list.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("config.json", list.Out, StringComparison.Ordinal);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("File 'nope' does not exist", missing.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("URL/acme/glob/blob/main/q%3F.txt", "q?.txt")]
    [InlineData("URL/acme/glob/blob/main/%5Bbr%5D.txt", "[br].txt")]
    [InlineData("URL/acme/glob/resolve/main/st%2Ar.txt", "st*r.txt")]
    [InlineData("URL/acme/glob/tree/main/dir%5B1%5D", "dir[1]/f.txt")]
    [InlineData("hf://acme/glob@main/o*", "o*/s.txt")]
    [InlineData("hf://acme/glob/dir[1]", "dir[1]/f.txt")]
    public async Task Ls_of_a_url_into_a_file_or_folder_lists_what_its_download_fetches_the_name_read_literally(string url, string expected)
    {
        var cli = Cli();
        url = url.Replace("URL", hub.Server.Endpoint.ToString().TrimEnd('/'), StringComparison.Ordinal);

        // ls read the path as an fnmatch pattern: q?.txt listed qa.txt too, and [br].txt listed b.txt alone.
        var list = await cli.RunAsync("ls", url);
        var download = await cli.RunAsync("download", url, "--local-dir", Target());

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Equal([expected], list.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  ")[^1]));
        Assert.True(download.ExitCode == 0, download.ToString());
        Assert.Equal([expected], Downloaded(Target()));
    }

    [Fact]
    public async Task Ls_of_a_url_into_a_missing_file_fails_as_its_download_does_and_its_hint_lists_the_repo()
    {
        var cli = Cli();
        var url = $"{hub.Server.Endpoint.ToString().TrimEnd('/')}/acme/glob/blob/main/%5Bxx%5D.txt";

        var list = await cli.RunAsync("ls", url);
        var download = await cli.RunAsync("download", url, "--dry-run", "--local-dir", Target());

        Assert.True(list.ExitCode == 1, list.ToString());
        Assert.Equal(download.Error, list.Error);
        Assert.Contains("File '[xx].txt' does not exist in model 'acme/glob' at revision 'main'", list.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("--include", list.Error, StringComparison.Ordinal);
        // Not the URL again: its ls would fail the same way.
        Assert.Contains("`hfdl ls acme/glob --revision main` lists the names", list.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("URL/acme/plain/blob/main/config.json", "--exclude", "*.md")]
    [InlineData("URL/acme/plain/tree/main/tokenizer", "--exclude", "*.txt")]
    [InlineData("hf://acme/plain@main/tokenizer", "--include", "*.json")]
    public async Task Ls_refuses_patterns_on_top_of_a_url_into_a_file_or_folder_as_download_does(string url, string option, string pattern)
    {
        var cli = Cli();
        url = url.Replace("URL", hub.Server.Endpoint.ToString().TrimEnd('/'), StringComparison.Ordinal);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        // ls took --exclude on top of the URL's path (and named it --include when nothing was left).
        var list = await cli.RunAsync("ls", url, option, pattern);
        var download = await cli.RunAsync("download", url, option, pattern, "--dry-run", "--local-dir", Target());

        Assert.True(list.ExitCode == 2, list.ToString());
        Assert.Contains("in the repo, and --include/--exclude name more: give the repo's URL (or its id) with patterns, or the URL alone.", list.Error, StringComparison.Ordinal);
        Assert.Equal(download.Error, list.Error);
        Assert.Equal(2, download.ExitCode);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task A_url_of_an_endpoint_with_a_path_of_its_own_names_the_repo_below_that_path()
    {
        // Offline: no server answers at that endpoint, and the refusal names the repo and revision the URL was read as.
        var result = await Cli().RunAsync("download", "http://127.0.0.1:9/hf/acme/plain/tree/v1/tokenizer", "--endpoint", "http://127.0.0.1:9/hf", "--offline", "--local-dir", Target());

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("records model 'acme/plain' at 'v1'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_ls_hint_of_a_missing_file_names_the_repo_type_and_revision_it_was_asked_with()
    {
        var result = await Cli().RunAsync("download", "acme/plain", "nope.txt", "-r", "model", "--revision", "main", "--dry-run");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("`hfdl ls acme/plain -r model --revision main` lists the names", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ls_lists_as_json_and_filters_with_the_same_patterns()
    {
        var cli = Cli();
        var json = await cli.RunAsync("ls", "acme/plain", "--json");
        var filtered = await cli.RunAsync("ls", "acme/plain", "--include", "tokenizer/");

        Assert.True(json.ExitCode == 0, json.ToString());
        var listing = JsonDocument.Parse(json.Out.Trim()).RootElement;
        Assert.Equal("listing", listing.GetProperty("event").GetString());
        var files = listing.GetProperty("files").EnumerateArray().ToList();
        Assert.Equal(6, files.Count);
        var weights = files.Single(f => f.GetProperty("path").GetString() == "model.safetensors");
        Assert.True(weights.GetProperty("lfs").GetBoolean());
        Assert.Equal(2_500_000, weights.GetProperty("size").GetInt64());
        Assert.StartsWith("sha256:", weights.GetProperty("hash").GetString(), StringComparison.Ordinal);
        Assert.Equal(["tokenizer/merges.txt", "tokenizer/vocab.json"], filtered.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  ")[^1]));
    }

    [Fact]
    public async Task Help_groups_the_options_with_units_and_defaults_and_shows_examples()
    {
        var root = await Cli().RunAsync("--help");
        var download = await Cli().RunAsync("download", "--help");

        Assert.Equal(0, root.ExitCode);
        Assert.Contains("download REPO FILES", root.Out, StringComparison.Ordinal);
        Assert.Contains("completion SHELL", root.Out, StringComparison.Ordinal);
        Assert.Equal(0, download.ExitCode);
        foreach (var section in new[] { "Arguments:", "What to download:", "Where:", "Speed:", "Output:", "Hub:", "Examples:" })
        {
            Assert.Contains(section + Environment.NewLine, download.Out, StringComparison.Ordinal);
        }
        Assert.Matches(@"--file-size-threshold MB\s+Files of at least", download.Out);
        Assert.Contains("[default: 200 MB]", download.Out, StringComparison.Ordinal);
        Assert.Contains("[default: 3 MB/s]", download.Out, StringComparison.Ordinal);
        Assert.Contains("[default: 5 s]", download.Out, StringComparison.Ordinal);
        Assert.Contains("--include PATTERN", download.Out, StringComparison.Ordinal);
        Assert.All(download.Out.Split(Environment.NewLine).Where(l => !l.StartsWith("  hfdl ", StringComparison.Ordinal) && !l.StartsWith("  dir=", StringComparison.Ordinal)), l => Assert.True(l.Length <= 100, l));
    }

    [Fact]
    public async Task Version_and_completion_work()
    {
        var version = await Cli().RunAsync("--version");
        var bash = await Cli().RunAsync("completion", "bash");
        var suggestCommand = await Cli().RunAsync("[suggest:8]", "hfdl dow");
        var suggestValue = await Cli().RunAsync("[suggest:24]", "hfdl download -r dataset");
        var suggestOption = await Cli().RunAsync("[suggest:18]", "hfdl download --in");

        Assert.Matches(@"^hfdl \d+\.\d+\.\d+", version.Out);
        Assert.Contains("complete -o default -F _hfdl_complete hfdl", bash.Out, StringComparison.Ordinal);
        Assert.Contains("[suggest:", bash.Out, StringComparison.Ordinal);
        Assert.Equal(["download"], suggestCommand.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["dataset"], suggestValue.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["--include"], suggestOption.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task The_short_form_completes_as_download_does()
    {
        async Task<string[]> SuggestAsync(string line) =>
            (await Cli().RunAsync($"[suggest:{line.Length}]", line)).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // `hfdl REPO -` offered the root's --help --version -h, and `hfdl REPO --repo-type ` the subcommands: the
        // directive parsed the line without the short form's implied `download` (QA: helper-49).
        var options = await SuggestAsync("hfdl sample/tiny-model -");
        var types = await SuggestAsync("hfdl sample/tiny-model --repo-type ");
        var include = await SuggestAsync("hfdl sample/tiny-model config.json --in");

        Assert.Equal(await SuggestAsync("hfdl download sample/tiny-model -"), options);
        Assert.Contains("--local-dir", options);
        Assert.Equal(["dataset", "model", "space"], types.Order(StringComparer.Ordinal));
        Assert.Equal(["--include"], include);
        // The first word, still being typed, completes as a subcommand.
        Assert.Equal(["download"], await SuggestAsync("hfdl dow"));
    }

    [Fact]
    public async Task Completion_leaves_out_the_hidden_alias_and_the_refused_format_values()
    {
        var repoType = (await Cli().RunAsync("[suggest:20]", "hfdl download --repo")).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var formats = (await Cli().RunAsync("[suggest:33]", "hfdl download org/model --format ")).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var refused = await Cli().RunAsync("download", "org/model", "--format", "json");
        var alias = await Cli().RunAsync("download", "org/model", "--repo_type", "nonsense");

        Assert.Equal(["--repo-type"], repoType);
        Assert.Equal(["auto", "human", "quiet"], formats.Order(StringComparer.Ordinal));
        // Both are still read as before: hf's --format json is refused with a pointer to --json, --repo_type is --repo-type.
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--format json is hf's", refused.Error, StringComparison.Ordinal);
        Assert.Equal(2, alias.ExitCode);
        Assert.Contains("--repo-type must be model, dataset or space (got 'nonsense').", alias.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Completion_offers_only_the_unix_help_options_and_an_unknown_shell_is_named_on_one_line()
    {
        var options = await Cli().RunAsync("[suggest:10]", "hfdl ls -");
        var tcsh = await Cli().RunAsync("completion", "tcsh");
        var format = await Cli().RunAsync("download", "org/model", "--format", "xml");

        if (!OperatingSystem.IsWindows())
        {
            Assert.DoesNotContain(options.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), o => o is "-?" or "/?" or "/h");
        }
        Assert.Contains("-h", options.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(2, tcsh.ExitCode);
        Assert.Contains("error: Argument 'tcsh' not recognized. Must be one of: 'bash', 'zsh', 'fish', 'pwsh'.", tcsh.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("\\x09", tcsh.Error, StringComparison.Ordinal);
        Assert.True(format.ExitCode == 2, format.ToString()); // a refused value, not a crash in the option's validator
        Assert.Contains("Must be one of: 'auto', 'human', 'quiet', 'json', 'agent'.", format.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", format.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_local_file_whose_name_is_not_utf8_is_an_extra_file_in_the_dry_run_and_the_verification()
    {
        // .NET lists such a name with U+FFFD, which names no file: the dry run and --verify failed with "Could not
        // find file" (QA: helper-33); the download itself never looked at it.
        Assert.Equal(0, (await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "-q")).ExitCode);
        var create = new System.Diagnostics.ProcessStartInfo("/bin/sh") { WorkingDirectory = Target() };
        create.ArgumentList.Add("-c");
        create.ArgumentList.Add("touch \"$(printf 'caf\\351.txt')\"");
        using (var process = System.Diagnostics.Process.Start(create)!)
        {
            await process.WaitForExitAsync();
            Assert.Equal(0, process.ExitCode);
        }

        var dryRun = await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run");
        var verify = await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "--verify");

        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Contains("not in the repo (left alone): 1 file", dryRun.Error, StringComparison.Ordinal);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("1 extra", verify.Error, StringComparison.Ordinal);
    }
}
