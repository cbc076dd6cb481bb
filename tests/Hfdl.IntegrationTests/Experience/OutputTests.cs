using System.Text.Json;
using Hfdl.Cli;
using Hfdl.Cli.Output;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Spectre.Console.Testing;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>What hfdl prints: plain lines for pipes, NDJSON for scripts, a live display on terminals.</summary>
public sealed class OutputTests(ExperienceHub hub) : IClassFixture<ExperienceHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private ExperienceRunner Cli(bool terminal = false, TestConsole? console = null) =>
        new(hub.Server, _temp) { IsTerminal = terminal, ErrorConsole = console };

    private string Target(string name = "out") => _temp.Combine(name);

    private static List<JsonElement> Events(string stdout) =>
        [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone())];

    [Fact]
    public async Task Output_for_a_pipe_has_no_escape_codes_and_one_line_per_file()
    {
        var cli = Cli();
        var download = await cli.RunAsync("download", "acme/flaky-plain", "--local-dir", Target(), "-v");
        var again = await cli.RunAsync("download", "acme/flaky-plain", "--local-dir", Target());
        var dryRun = await cli.RunAsync("download", "acme/plain", "--local-dir", Target("dry"), "--dry-run");
        var list = await cli.RunAsync("ls", "acme/plain");
        var help = await cli.RunAsync("download", "--help");

        Assert.True(download.ExitCode == 0, download.ToString());
        foreach (var result in new[] { download, again, dryRun, list, help })
        {
            Assert.DoesNotContain('\u001b', result.All);
        }
        foreach (var path in new[] { "config.json", "README.md", "tokenizer/vocab.json", "tokenizer/merges.txt", "onnx/model.onnx", "model.safetensors" })
        {
            Assert.Single(download.Error.Split('\n'), l => l.StartsWith($"done     {path} (", StringComparison.Ordinal));
        }
        Assert.Contains("retry    ", download.Error, StringComparison.Ordinal);
        Assert.Contains("Downloaded 6 files", download.Error, StringComparison.Ordinal);
        Assert.Contains("Every file is verified: all 6 match the Hub's hashes", download.Error, StringComparison.Ordinal);
        Assert.Contains($"Files are in {Target()}", download.Error, StringComparison.Ordinal);
        Assert.Equal(Target(), download.Out.Trim());
        Assert.Contains("Downloaded 0 files (0 B)", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quiet_prints_only_the_final_path()
    {
        var result = await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "-q");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Target() + Environment.NewLine, result.Out);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task A_listing_of_many_pages_says_how_far_it_got_instead_of_looking_hung()
    {
        var plain = await Cli().RunAsync("download", "acme/many", "--repo-type", "dataset", "--local-dir", Target(), "--dry-run", "--include", "part-00/row-0000.txt");
        var quiet = await Cli().RunAsync("download", "acme/many", "--repo-type", "dataset", "--local-dir", Target(), "--dry-run", "--include", "part-00/row-0000.txt", "-q");
        var json = await Cli().RunAsync("download", "acme/many", "--repo-type", "dataset", "--local-dir", Target(), "--dry-run", "--include", "part-00/row-0000.txt", "--json");

        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Contains("listing  1,000 files so far", plain.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("listing", quiet.Error, StringComparison.Ordinal);
        Assert.Equal("plan", JsonDocument.Parse(json.Out.Split('\n')[0]).RootElement.GetProperty("event").GetString()); // JSON: plan first, as documented
    }

    [Fact]
    public async Task The_library_s_plan_and_listing_say_how_far_a_long_listing_got_too()
    {
        // Only DownloadAsync and VerifyAsync took a progress: a library's dry run of a huge dataset listed in silence (QA: helper-40).
        using var hfdl = new Hfdl.HfdlClient(new Hfdl.HfdlClientOptions { Endpoint = hub.Server.Endpoint });
        var request = new DownloadRequest { RepoType = RepoType.Dataset, RepoId = RepoId.Parse("acme/many"), TargetFolder = Target(), Include = ["part-00/row-0000.txt"] };
        var planEvents = new List<DownloadEvent>();
        var listEvents = new List<DownloadEvent>();

        var plan = await hfdl.PlanAsync(request, new SyncProgress(planEvents.Add));
        var listing = await hfdl.ListAsync(request, new SyncProgress(listEvents.Add));

        Assert.Equal(["part-00/row-0000.txt"], plan.Files.Select(f => f.Path));
        Assert.Equal(["part-00/row-0000.txt"], listing.Files.Select(f => f.Path));
        Assert.Contains(planEvents, e => e is ListingProgress { FilesListed: >= 1000 });
        Assert.Contains(listEvents, e => e is ListingProgress { FilesListed: >= 1000 });
    }

    private sealed class SyncProgress(Action<DownloadEvent> handler) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value) => handler(value);
    }

    [Fact]
    public async Task Quiet_verify_says_nothing_when_every_file_is_ok_and_names_the_files_that_are_not()
    {
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "-q")).ExitCode);

        var ok = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--verify", "-q");
        File.WriteAllText(Path.Combine(Target(), "config.json"), "x");
        var bad = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--verify", "-q");

        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal("", ok.Error);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("corrupt  config.json", bad.Error, StringComparison.Ordinal);
        Assert.Contains("1 corrupt", bad.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("= commit", bad.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_events_parse_line_by_line_and_come_in_the_documented_order_including_a_retry()
    {
        var result = await Cli().RunAsync("download", "acme/flaky-json", "--local-dir", Target(), "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var events = Events(result.Out);
        Assert.All(events, e => Assert.Equal(JsonEvents.SchemaVersion, e.GetProperty("schema").GetInt32()));
        var names = events.Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal("plan", names[0]);
        Assert.Equal("summary", names[^1]);
        Assert.Equal("progress", names[^2]);
        Assert.Equal(6, names.Count(n => n == "file_done"));
        Assert.Contains("retry", names);
        Assert.DoesNotContain("error", names);

        var plan = events[0];
        Assert.Equal("acme/flaky-json", plan.GetProperty("repo").GetString());
        Assert.Equal(40, plan.GetProperty("commit").GetString()!.Length);
        Assert.Equal(6, plan.GetProperty("files_to_download").GetInt32());

        var retry = events.First(e => e.GetProperty("event").GetString() == "retry");
        Assert.Contains("503", retry.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.True(retry.GetProperty("attempt").GetInt32() >= 1);

        // Every file starts before it is done; a retried file is done once.
        foreach (var done in events.Where(e => e.GetProperty("event").GetString() == "file_done"))
        {
            var path = done.GetProperty("path").GetString();
            var started = events.FindIndex(e => e.GetProperty("event").GetString() == "file_started" && e.GetProperty("path").GetString() == path);
            Assert.InRange(started, 1, events.IndexOf(done) - 1);
            Assert.True(done.GetProperty("verified").GetBoolean());
            Assert.Matches("^(sha256:[0-9a-f]{64}|git-sha1:[0-9a-f]{40})$", done.GetProperty("hash").GetString()!);
        }
        var weights = events.Single(e => e.GetProperty("event").GetString() == "file_done" && e.GetProperty("path").GetString() == "model.safetensors");
        Assert.Equal($"sha256:{hub.Store.MainSnapshot(RepoType.Model, "acme/flaky-json").Files.Single(f => f.Path == "model.safetensors").Content.Sha256}", weights.GetProperty("hash").GetString());

        var progress = events[^2];
        Assert.Equal(progress.GetProperty("bytes_total").GetInt64(), progress.GetProperty("bytes_done").GetInt64());

        var summary = events[^1];
        Assert.Equal(6, summary.GetProperty("files_downloaded").GetInt32());
        Assert.Equal(0, summary.GetProperty("files_failed").GetInt32());
        Assert.True(summary.GetProperty("verified").GetBoolean());
        Assert.Equal(0, summary.GetProperty("exit_code").GetInt32());
        Assert.Equal(Target(), summary.GetProperty("target").GetString());
        Assert.DoesNotContain(Target() + "\n", result.Out, StringComparison.Ordinal);
        Assert.Contains("Downloaded 6 files", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_progress_keeps_coming_while_a_transfer_stalls_and_marks_the_file_stalled()
    {
        // A stalled transfer reports no bytes, and progress was written only when bytes came: 2 progress events in a
        // 14 s stall, never one with stalled: true, while stderr showed STALLED (QA: helper-49).
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/stalls", repo => repo
            .File("weights.bin", SyntheticContent.Create(3_000_000, seed: 53))
            .Settings(s => s with { Faults = HubFaults.None with { Stall = new StallFault(AfterBytes: 500_000) { Duration = TimeSpan.FromSeconds(8), Repeat = FaultRepeat.OncePerFile } } }));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/stalls", "--local-dir", Target(), "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var events = Events(result.Out);
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "progress"
            && e.GetProperty("active").EnumerateArray().Any(f => f.GetProperty("path").GetString() == "weights.bin" && f.GetProperty("stalled").GetBoolean()));
        Assert.Equal("summary", events[^1].GetProperty("event").GetString());
    }

    [Fact]
    public async Task A_second_json_run_reports_every_file_skipped()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/plain", "--local-dir", Target());

        var result = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--json", "-q");

        Assert.True(result.ExitCode == 0, result.ToString());
        var names = Events(result.Out).Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal(6, names.Count(n => n == "file_skipped"));
        Assert.Equal("summary", names[^1]);
        Assert.Equal("", result.Error);
    }

    [Theory]
    [InlineData("folder")]
    [InlineData("hf-cache")]
    public async Task A_rerun_that_skips_present_files_writes_the_plan_before_any_file_event(string layout)
    {
        var cli = Cli();
        string[] args = layout == "hf-cache"
            ? ["download", "acme/plain", "--cache-dir", Target("cache")]
            : ["download", "acme/plain", "--local-dir", Target()];
        Assert.Equal(0, (await cli.RunAsync(args)).ExitCode);
        if (layout == "hf-cache")
        {
            // The snapshot's link goes; the blob stays, so the file is placed again without a download.
            File.Delete(Directory.GetFiles(Target("cache"), "README.md", SearchOption.AllDirectories).Single());
        }
        else
        {
            File.Delete(Path.Combine(Target(), "README.md"));
        }

        var result = await cli.RunAsync([.. args, "--json"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        var names = Events(result.Out).Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal("plan", names.First(n => n is not ("warning" or "waiting_for_lock")));
        Assert.True(names.Count(n => n == "file_skipped") >= 5, result.Out);
        Assert.Equal("summary", names[^1]);
        // Files the plan counted as present are not counted again when their file_skipped follows it.
        var events = Events(result.Out);
        Assert.Equal(events[^1].GetProperty("files_skipped").GetInt32(), events[^2].GetProperty("files_skipped").GetInt32());
    }

    [Theory]
    [InlineData("--verify")]
    [InlineData("--dry-run")]
    [InlineData("--verify", "--offline")]
    [InlineData("--dry-run", "--offline")]
    public async Task Every_json_mode_writes_the_plan_first_and_the_summary_last(params string[] mode)
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/plain", "--local-dir", Target());
        File.WriteAllText(Path.Combine(Target(), "README.md"), "changed\n");

        var result = await cli.RunAsync(["download", "acme/plain", "--local-dir", Target(), "--json", .. mode]);

        var events = Events(result.Out);
        var names = events.Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal("plan", names[0]);
        Assert.Equal(40, events[0].GetProperty("commit").GetString()!.Length);
        Assert.Equal("summary", names[^1]);
        var summary = events[^1];
        Assert.Equal(result.ExitCode, summary.GetProperty("exit_code").GetInt32());
        if (mode[0] == "--verify")
        {
            Assert.True(events[0].GetProperty("verify").GetBoolean());
            Assert.Equal(6, names.Count(n => n == "verified"));
            Assert.Equal(1, result.ExitCode);
            Assert.Equal(5, summary.GetProperty("files_ok").GetInt32());
            Assert.Equal(1, summary.GetProperty("files_corrupt").GetInt32());
            Assert.False(summary.GetProperty("verified").GetBoolean());
        }
        else
        {
            Assert.True(events[0].GetProperty("dry_run").GetBoolean());
            Assert.True(summary.GetProperty("dry_run").GetBoolean());
            // Offline, the changed README.md cannot be downloaded again: the download would fail, and so does its dry run.
            var offline = mode.Contains("--offline");
            Assert.Equal(offline ? 1 : 0, result.ExitCode);
            Assert.Equal(offline ? 1 : 0, summary.GetProperty("files_failed").GetInt32());
        }
    }

    [Fact]
    public async Task A_json_dry_run_writes_the_warning_it_prints_as_a_warning_event_before_the_plan()
    {
        // Download and --verify wrote their warnings as events; a dry run printed them on stderr only (QA: helper-49).
        var cli = Cli();
        Assert.Equal(0, (await cli.RunAsync("download", "acme/plain", "--local-dir", Target())).ExitCode);
        var unreachable = Cli();
        unreachable.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9";

        var offHub = await unreachable.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run", "--json");
        File.WriteAllText(Path.Combine(Target(), ".download_state"), "not a journal");
        var badJournal = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run", "--json");

        foreach (var (run, said) in new[] { (offHub, "Planned from the local records of commit"), (badJournal, "is not trusted") })
        {
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Contains(said, run.Error, StringComparison.Ordinal);
            var events = Events(run.Out);
            Assert.Equal(["warning", "plan", "summary"], events.Select(e => e.GetProperty("event").GetString()));
            Assert.Contains(said, events[0].GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_offline_dry_run_shows_a_file_to_download_as_missing_and_fails_as_the_download_would()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/plain", "--local-dir", Target());
        File.Delete(Path.Combine(Target(), "README.md"));

        var dryRun = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--offline", "--dry-run");
        var download = await cli.RunAsync("download", "acme/plain", "--local-dir", Target(), "--offline");

        Assert.Equal(1, download.ExitCode);
        Assert.Equal(download.ExitCode, dryRun.ExitCode);
        Assert.Contains("README.md", dryRun.Out, StringComparison.Ordinal);
        Assert.Contains("missing (no network: cannot be downloaded)", dryRun.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("resume (", dryRun.Out, StringComparison.Ordinal);
        Assert.Contains("error: 1 file(s) of the revision are missing", dryRun.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Target(), "README.md")));
    }

    [Fact]
    public async Task A_dry_run_with_the_hub_out_of_reach_does_not_advise_dropping_an_offline_that_was_not_given()
    {
        var cli = Cli();
        await cli.RunAsync("download", "acme/plain", "--local-dir", Target());
        File.Delete(Path.Combine(Target(), "README.md"));
        var unreachable = Cli();
        unreachable.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9";

        var dryRun = await unreachable.RunAsync("download", "acme/plain", "--local-dir", Target(), "--dry-run");

        Assert.Equal(1, dryRun.ExitCode);
        Assert.Contains("missing (no network: cannot be downloaded)", dryRun.Out, StringComparison.Ordinal);
        Assert.Contains("Run it again once the Hub can be reached", dryRun.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("without --offline", dryRun.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_that_stops_ends_with_an_error_event_carrying_the_exit_code()
    {
        var result = await Cli().RunAsync("download", "acme/missing", "--local-dir", Target(), "--json");

        Assert.Equal(1, result.ExitCode);
        var last = Events(result.Out)[^1];
        Assert.Equal("error", last.GetProperty("event").GetString());
        Assert.Equal(1, last.GetProperty("exit_code").GetInt32());
        Assert.True(last.GetProperty("fatal").GetBoolean());
        Assert.Contains("acme/missing", last.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("error:", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("download acme/plain --json -t 0", "--threads")]
    [InlineData("acme/plain --json --bogus", "--bogus")]
    [InlineData("--json --bogus acme/plain", "--bogus")]
    [InlineData("acme/plain --json --revision=", "--revision")]
    [InlineData("acme/plain --json --format json", "--format json")]
    [InlineData("download --json", "Required argument missing")]
    [InlineData("ls acme/plain --json -t 0", "-t")]
    [InlineData("acme/plain --json --verify --force", "--force")]
    [InlineData("bad//x --json", "bad//x")]
    public async Task Every_usage_error_of_a_json_run_ends_it_with_a_fatal_error_event(string commandLine, string named)
    {
        // Errors found while the command line was read went to stderr only, with nothing on stdout, while those found
        // after it (--verify --force, a malformed repo id) wrote the fatal error event (QA: helper-49).
        var result = await Cli().RunAsync(commandLine.Split(' '));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: ", result.Error, StringComparison.Ordinal);
        var error = Assert.Single(Events(result.Out));
        Assert.Equal("error", error.GetProperty("event").GetString());
        Assert.True(error.GetProperty("fatal").GetBoolean());
        Assert.Equal(2, error.GetProperty("exit_code").GetInt32());
        Assert.Contains(named, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_usage_error_without_json_or_with_json_as_a_file_name_writes_nothing_on_stdout()
    {
        var plain = await Cli().RunAsync("acme/plain", "-t", "0");
        var fileNamedJson = await Cli().RunAsync("acme/plain", "-t", "0", "--", "--json");

        Assert.Equal(2, plain.ExitCode);
        Assert.Equal("", plain.Out);
        Assert.Equal(2, fileNamedJson.ExitCode);
        Assert.Equal("", fileNamedJson.Out);
    }

    [Theory]
    [InlineData("HF_HUB_DISABLE_PROGRESS_BARS", "1", false)]
    [InlineData("HF_HUB_DISABLE_PROGRESS_BARS", "yes", false)]
    [InlineData("HF_HUB_DISABLE_PROGRESS_BARS", "0", true)]
    [InlineData("NO_COLOR", "1", false)]
    [InlineData("TERM", "dumb", false)]
    [InlineData("TERM", "xterm-256color", true)]
    public void The_live_display_is_used_only_on_a_terminal_that_can_take_it(string variable, string value, bool live)
    {
        var context = new CliContext
        {
            Environment = HubEnvironment.FromDictionary(new Dictionary<string, string?> { [variable] = value }),
            Out = TextWriter.Null,
            Error = TextWriter.Null,
            IsTerminal = true,
        };

        Assert.Equal(live, DownloadOutput.UseLiveDisplay(context));
        Assert.False(DownloadOutput.UseLiveDisplay(context with { IsTerminal = false }));
    }

    [Fact]
    public async Task Tables_are_drawn_in_ascii_where_the_locale_cannot_carry_box_drawing()
    {
        // Under LANG=en_US.ISO-8859-1 stdout is Latin-1: box drawing came out as rows of '?' (QA: stop 27).
        var latin1 = new ExperienceRunner(hub.Server, _temp) { OutIsTerminal = true, OutEncoding = System.Text.Encoding.Latin1 };
        var utf8 = new ExperienceRunner(hub.Server, _temp) { OutIsTerminal = true, OutEncoding = new System.Text.UTF8Encoding(false) };

        foreach (var args in new[] { new[] { "ls", "acme/plain" }, ["download", "acme/plain", "--local-dir", Target(), "--dry-run"] })
        {
            var ascii = await latin1.RunAsync(args);
            var boxes = await utf8.RunAsync(args);

            Assert.True(ascii.ExitCode == 0, ascii.ToString());
            Assert.StartsWith("+---", ascii.Out, StringComparison.Ordinal);
            Assert.Contains("| config.json", ascii.Out, StringComparison.Ordinal);
            Assert.True(ascii.Out.All(c => c < 128), ascii.Out);
            Assert.StartsWith("╭─", boxes.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task On_a_terminal_the_live_display_draws_and_ends_with_the_summary()
    {
        var console = new TestConsole().Width(100);
        console.Profile.Capabilities.Unicode = true;
        var result = await Cli(terminal: true, console).RunAsync("download", "acme/plain", "--local-dir", Target());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("✓ config.json", console.Output, StringComparison.Ordinal);
        Assert.Contains("✓ Downloaded 6 files", console.Output, StringComparison.Ordinal);
        Assert.Contains($"Files are in {Target()}", console.Output, StringComparison.Ordinal);
        Assert.Equal("", result.Error);
        Assert.Equal(Target(), result.Out.Trim());
    }

    [Fact]
    public async Task On_a_terminal_verify_names_each_corrupt_and_missing_file_as_it_finds_it()
    {
        // The live display shows transfers; a verification before any printed only its counts (QA: "2 ok, 1 corrupt,
        // 1 missing" and no word of which, where -q named them).
        Assert.Equal(0, (await Cli().RunAsync("download", "acme/plain", "--local-dir", Target(), "-q")).ExitCode);
        await File.WriteAllTextAsync(Path.Combine(Target(), "config.json"), "broken\n");
        File.Delete(Path.Combine(Target(), "README.md"));
        var console = new TestConsole().Width(100);

        var result = await Cli(terminal: true, console).RunAsync("download", "acme/plain", "--local-dir", Target(), "--verify");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("corrupt  config.json", result.Error, StringComparison.Ordinal);
        Assert.Contains("missing  README.md", result.Error, StringComparison.Ordinal);
        Assert.Contains("each file on disk is hashed", result.Error, StringComparison.Ordinal);
        Assert.Contains("1 corrupt, 1 missing", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_folder_on_stdout_is_exact_for_a_script_and_escaped_on_a_terminal()
    {
        // dir=$(hfdl ... -q) got "\x1b[2J" for an escape character in the folder the user named: a path that does not exist.
        var folder = Target("odd\u001b[2J\u202Ename");

        var piped = await Cli().RunAsync("download", "acme/plain", "--local-dir", folder, "-q");
        var offline = await Cli().RunAsync("download", "acme/plain", "--local-dir", folder, "--offline", "-q");
        var onTerminal = await new ExperienceRunner(hub.Server, _temp) { OutIsTerminal = true }.RunAsync("download", "acme/plain", "--local-dir", folder, "-q");

        Assert.True(piped.ExitCode == 0, piped.ToString());
        Assert.Equal(folder, piped.Out.TrimEnd('\n'));
        Assert.Equal(folder, offline.Out.TrimEnd('\n'));
        Assert.Equal(0, onTerminal.ExitCode);
        Assert.Contains("odd\\x1b[2J\\u202Ename", onTerminal.Out, StringComparison.Ordinal);
    }
}
