using Hfdl.Core.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Ecosystem;

/// <summary>
/// <c>hf download</c>'s option names given to <c>hfdl download</c>: each puts the same files in the same places as
/// hfdl's own spelling, through the real command against a real Hfdl.Hub; hf options hfdl has no meaning for fail clearly.
/// </summary>
public sealed class HfDownloadOptionTests(HfCompatHub hub) : IClassFixture<HfCompatHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CliRunner Cli() => new(hub.Server, _temp);

    /// <summary>
    /// Runs <paramref name="hfArgs"/> and <paramref name="hfdlArgs"/> (where <c>{T}</c> is each run's own target
    /// folder, and <c>{E}</c> an entry of <paramref name="hfdlEnvironment"/> set for the second run only) and
    /// asserts that both leave the same files in the same places and print the same result.
    /// </summary>
    private async Task<(CliResult Hf, string Target)> AssertSameAsync(string[] hfArgs, string[] hfdlArgs, Dictionary<string, string>? hfdlEnvironment = null)
    {
        var hfTarget = _temp.Combine("hf-" + Guid.NewGuid().ToString("N")[..8]);
        var hfdlTarget = _temp.Combine("hfdl-" + Guid.NewGuid().ToString("N")[..8]);
        var hf = await Cli().RunAsync([.. hfArgs.Select(a => a.Replace("{T}", hfTarget, StringComparison.Ordinal))]);
        var native = Cli();
        foreach (var (name, value) in hfdlEnvironment ?? [])
        {
            native.Environment[name] = value.Replace("{T}", hfdlTarget, StringComparison.Ordinal);
        }
        var hfdl = await native.RunAsync([.. hfdlArgs.Select(a => a.Replace("{T}", hfdlTarget, StringComparison.Ordinal))]);

        Assert.True(hf.ExitCode == 0, hf.ToString());
        Assert.True(hfdl.ExitCode == 0, hfdl.ToString());
        Assert.Equal(hfdl.Out.Replace(hfdlTarget, "{T}", StringComparison.Ordinal), hf.Out.Replace(hfTarget, "{T}", StringComparison.Ordinal));
        Assert.NotEmpty(HfCompatHub.Layout(hfTarget));
        Assert.Equal(HfCompatHub.Layout(hfdlTarget), HfCompatHub.Layout(hfTarget));
        return (hf, hfTarget);
    }

    [Fact]
    public async Task Force_download_is_force_and_fetches_every_file_again()
    {
        var target = _temp.Combine("forced");
        await Cli().RunAsync("download", "acme/tiny", "--local-dir", target);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        hub.Server.Requests.Clear();

        var again = await Cli().RunAsync("download", "acme/tiny", "--local-dir", target, "--force-download");

        Assert.True(again.ExitCode == 0, again.ToString());
        var files = hub.Store.MainSnapshot(RepoType.Model, "acme/tiny").Files.Count;
        Assert.Contains($"Downloaded {files} files", again.Error, StringComparison.Ordinal);
        await AssertSameAsync(["download", "acme/tiny", "--local-dir", "{T}", "--force-download"], ["download", "acme/tiny", "--local-dir", "{T}", "--force"]);
    }

    [Fact]
    public async Task Max_workers_bounds_the_requests_in_flight_like_threads()
    {
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        hub.Server.Requests.Clear();
        var unbounded = await Cli().RunAsync("download", "acme/slow", "--local-dir", _temp.Combine("unbounded"));
        var unboundedPeak = hub.Server.Requests.PeakInFlight;
        hub.Server.Requests.Clear();

        var (bounded, _) = await AssertSameAsync(["download", "acme/slow", "--local-dir", "{T}", "--max-workers", "2"], ["download", "acme/slow", "--local-dir", "{T}", "-t", "2"]);

        Assert.True(unbounded.ExitCode == 0, unbounded.ToString());
        Assert.True(unboundedPeak > 2, $"without a bound the 15 files overlap (peak {unboundedPeak}), so the bound below is what limits them");
        Assert.True(hub.Server.Requests.PeakInFlight <= 2, $"--max-workers 2 and -t 2 kept at most 2 requests in flight, not {hub.Server.Requests.PeakInFlight}\n{bounded}");
    }

    [Fact]
    public async Task Type_and_a_datasets_prefix_choose_the_repo_type_as_repo_type_does()
    {
        await AssertSameAsync(["download", "acme/table", "--type", "dataset", "--local-dir", "{T}"], ["download", "acme/table", "--repo-type", "dataset", "--local-dir", "{T}"]);
        await AssertSameAsync(["download", "datasets/acme/table", "--local-dir", "{T}"], ["download", "acme/table", "-r", "dataset", "--local-dir", "{T}"]);
    }

    [Fact]
    public async Task Several_patterns_after_one_include_are_several_includes()
    {
        var (hf, target) = await AssertSameAsync(
            ["download", "acme/tiny", "--local-dir", "{T}", "--include", "*.json", "*.md", "--exclude", "tokenizer/*", "*.txt"],
            ["download", "acme/tiny", "--local-dir", "{T}", "--include", "*.json", "--include", "*.md", "--exclude", "tokenizer/*", "--exclude", "*.txt"]);

        Assert.Equal(["README.md", "config.json"], RepoAssert.ListFiles(target));
        Assert.Contains("Downloaded 2 files", hf.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plain_name_after_an_include_stays_a_file_as_hf_download_reads_it()
    {
        var target = _temp.Combine("file-after-pattern");

        var result = await Cli().RunAsync("download", "acme/tiny", "--local-dir", target, "--include", "*.json", "README.md");

        // README.md is a FILE, as hf download reads it (were it a pattern, README.md and both JSON files would come).
        // hf download would then ignore --include with a warning; hfdl applies both, which here leaves nothing.
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--include '*.json'", result.Error, StringComparison.Ordinal);
        Assert.Empty(RepoAssert.ListFiles(target));
    }

    [Fact]
    public async Task Cache_dir_and_local_dir_put_the_files_where_hfdl_s_own_options_do()
    {
        await AssertSameAsync(["download", "acme/tiny", "--cache-dir", "{T}"], ["download", "acme/tiny", "--hf-cache"], new() { ["HF_HUB_CACHE"] = "{T}" });
        await AssertSameAsync(["download", "acme/tiny", "--local-dir", "{T}/acme/tiny"], ["download", "acme/tiny", "-d", "{T}"]);
    }

    [Fact]
    public async Task An_hf_download_command_line_gives_the_same_cache_as_hfdl_s_spelling()
    {
        var (hf, target) = await AssertSameAsync(
            ["download", "acme/tiny", "--revision", "v1", "--include", "*.json", "*.md", "--cache-dir", "{T}", "--force-download", "--max-workers", "4", "--quiet", "--resume-download"],
            ["download", "acme/tiny", "--revision", "v1", "--include", "*.json", "--include", "*.md", "--hf-cache", "--force", "-t", "4", "-q"],
            new() { ["HF_HUB_CACHE"] = "{T}" });

        var v1 = hub.Store.At(RepoType.Model, "acme/tiny", "v1");
        Assert.Equal(Path.Combine(target, "models--acme--tiny", "snapshots", v1.CommitId), hf.Out.Trim());
        Assert.Equal("", hf.Error);
        RepoAssert.BitExact(v1, hf.Out.Trim(), ["config.json", "README.md", "tokenizer/vocab.json"]);
    }

    [Fact]
    public async Task Token_and_format_quiet_mean_what_they_mean_in_hf()
    {
        var (hf, target) = await AssertSameAsync(
            ["download", "alice/private", "--local-dir", "{T}", "--token", HfCompatHub.AliceToken, "--format", "quiet"],
            ["download", "alice/private", "--local-dir", "{T}", "-q"],
            new() { ["HF_TOKEN"] = HfCompatHub.AliceToken });

        Assert.Equal(target, hf.Out.Trim());
        Assert.Equal("", hf.Error);
        Assert.Equal(["secret.txt"], RepoAssert.ListFiles(target));
    }

    [Theory]
    [InlineData("--format", "json", "--json")]
    [InlineData("--format", "agent", "--json")]
    [InlineData("--local-dir-use-symlinks", "False", "real files")]
    public async Task Hf_options_without_an_hfdl_meaning_fail_and_say_what_to_use(string option, string value, string hint)
    {
        var target = _temp.Combine("refused");

        var result = await Cli().RunAsync("download", "acme/tiny", "--local-dir", target, option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(option, result.Error, StringComparison.Ordinal);
        Assert.Contains(hint, result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public async Task A_refused_value_is_named_by_the_option_as_written()
    {
        var target = _temp.Combine("refused");

        var hfName = await Cli().RunAsync("download", "acme/tiny", "--local-dir", target, "--max-workers", "300");
        var ownName = await Cli().RunAsync("download", "acme/tiny", "--local-dir", target, "--threads", "300");

        Assert.Equal(2, hfName.ExitCode);
        Assert.StartsWith("error: --max-workers must be a whole number of transfers from 1 to 256, not '300'.", hfName.Error, StringComparison.Ordinal);
        Assert.StartsWith("error: --threads must be", ownName.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public async Task The_new_commands_and_hf_s_names_complete_in_the_shell()
    {
        static async Task<string[]> SuggestAsync(CliRunner cli, string line) =>
            (await cli.RunAsync($"[suggest:{line.Length}]", line)).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(["ls", "prune", "rm", "verify"], (await SuggestAsync(Cli(), "hfdl cache ")).Where(c => !c.StartsWith('-') && !c.StartsWith('/')).Order(StringComparer.Ordinal));
        Assert.Contains("switch", await SuggestAsync(Cli(), "hfdl auth s"));
        Assert.Contains("list", await SuggestAsync(Cli(), "hfdl auth l"));
        Assert.Equal(["--max-workers"], await SuggestAsync(Cli(), "hfdl download --max-w"));
        Assert.Equal(["--force", "--force-download"], (await SuggestAsync(Cli(), "hfdl download --forc")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Help_shows_the_hf_names_beside_hfdl_s_own()
    {
        var help = await Cli().RunAsync("download", "--help");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("-t, --threads, --max-workers N", help.Out, StringComparison.Ordinal);
        Assert.Contains("--force, --force-download", help.Out, StringComparison.Ordinal);
        Assert.Contains("-r, --type, --repo-type TYPE", help.Out, StringComparison.Ordinal);
        Assert.Contains("--resume-download", help.Out, StringComparison.Ordinal);
        Assert.Contains("--format FORMAT", help.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("--local-dir-use-symlinks", help.Out, StringComparison.Ordinal);
        var rmHelp = await Cli().RunAsync("cache", "rm", "--help");
        Assert.Contains("  hfdl cache rm [TARGETS...] [options]", rmHelp.Out, StringComparison.Ordinal);
        var noTarget = await Cli().RunAsync("cache", "rm");
        Assert.Equal(2, noTarget.ExitCode);
        Assert.Contains("Run 'hfdl cache rm --help' for usage.", noTarget.Error, StringComparison.Ordinal);
    }
}
