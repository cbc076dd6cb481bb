using Hfdl.Core.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>
/// Numeric options are checked while the command line is read: a value that is not a number, or that no run could use,
/// is a usage error naming the option and what it takes, even with --dry-run, before anything is asked or written.
/// </summary>
public sealed class OptionValueTests(ExperienceHub hub) : IClassFixture<ExperienceHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("--max-speed", "nan", "a number of MB/s from 0.001")]
    [InlineData("--max-speed", "1e-8", "a number of MB/s from 0.001")]
    [InlineData("--max-speed", "abc", "a number of MB/s from 0.001")]
    [InlineData("--max-speed", "0", "a number of MB/s from 0.001")]
    [InlineData("--max-speed", "inf", "a number of MB/s from 0.001")]
    [InlineData("--min-free-space", "nan", "a number of MB from 0 to 10^12")]
    [InlineData("--min-free-space", "-1", "a number of MB from 0 to 10^12")]
    [InlineData("--file-size-threshold", "nan", "a number of MB from 0 to 10^12")]
    [InlineData("--xet-cache-size", "Infinity", "a number of MB from 0 (no cache) to 10^12")]
    [InlineData("--min-speed-per-thread", "nan", "a number of MB/s from 0 to 10^6")]
    [InlineData("--speed-test-duration", "nan", "a number of seconds from 0 to 86400 (a day)")]
    [InlineData("--speed-test-duration", "1e300", "a number of seconds from 0 to 86400 (a day)")]
    [InlineData("--url-refresh-interval", "0", "a number of seconds from 1 to 31536000 (a year)")]
    [InlineData("--chunk-size", "65536.5", "a whole number of bytes from 65536")]
    [InlineData("--chunk-size", "abc", "a whole number of bytes from 65536")]
    [InlineData("--threads", "0", "a whole number of transfers from 1 to 256")]
    [InlineData("-t", "x", "a whole number of transfers from 1 to 256")]
    public async Task A_number_no_download_can_use_is_a_usage_error_even_in_a_dry_run(string option, string value, string expected)
    {
        var target = _temp.Combine("out");
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync("download", "acme/plain", "--local-dir", target, "--dry-run", option, value);

        Assert.True(result.ExitCode == 2, result.ToString());
        var name = option == "-t" ? "--threads" : option;
        Assert.Contains($"error: {name} must be {expected}", result.Error, StringComparison.Ordinal);
        Assert.Contains($"not '{value}'.", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(target));
    }

    [Theory]
    [InlineData(".")]
    [InlineData("..")]
    public async Task A_revision_of_dots_is_refused_before_a_url_drops_or_climbs_a_segment_for_it(string revision)
    {
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var download = await cli.RunAsync("download", "acme/plain", "--local-dir", _temp.Combine("out"), "--revision", revision);
        var list = await cli.RunAsync("ls", "acme/plain", "--revision", revision);

        // ".." was sent as /api/models/acme/plain/?..., the default branch's info, and the default branch downloaded.
        Assert.True(download.ExitCode == 2, download.ToString());
        Assert.Contains($"The revision '{revision}' names no branch, tag or commit", download.Error, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 2, list.ToString());
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")) && Directory.EnumerateFiles(_temp.Combine("out")).Any(), "nothing is downloaded");
    }

    [Fact]
    public async Task A_commit_in_the_url_and_the_same_commit_in_capitals_in_revision_are_no_contradiction()
    {
        var commit = hub.Store.MainSnapshot(RepoType.Model, "acme/plain").CommitId;
        var url = $"{hub.Server.Endpoint.ToString().TrimEnd('/')}/acme/plain/tree/{commit}";

        var list = await new CliRunner(hub.Server, _temp).RunAsync("ls", url, "--revision", commit.ToUpperInvariant());

        Assert.True(list.ExitCode == 0, list.ToString());
    }

    [Theory]
    [InlineData("download", "acme/plain", "--dry-run")]
    [InlineData("ls", "acme/plain")]
    [InlineData("whoami")]
    [InlineData("login")]
    public async Task An_empty_token_is_a_usage_error_not_a_fall_back_to_the_saved_one(params string[] command)
    {
        // `--token "$TOKEN"` with TOKEN unset used the token file (or none) without a word (QA: helper-35).
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync([.. command, "--token", ""]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--token needs a token, and was given an empty value", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Theory]
    [InlineData("--local-dir=")]
    [InlineData("--revision=")]
    public async Task An_option_with_nothing_after_its_equals_sign_is_a_usage_error_not_a_taker_of_the_next_word(string option)
    {
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;
        var work = _temp.Combine("cwd");
        Directory.CreateDirectory(work);

        // `--local-dir= --dry-run` was read as --local-dir --dry-run: the whole repo went into a folder named --dry-run.
        var result = await cli.RunAsync("download", "acme/plain", option, "--dry-run", "--local-dir", Path.Combine(work, "out"));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{option[..^1]} has an empty value after '='", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));
    }

    [Theory]
    [InlineData("acme/plain", "", "--revision is empty")]
    [InlineData("URL/acme/plain/tree/v1.0", "main", "names revision 'v1.0', but --revision says 'main'")]
    [InlineData("hf://acme/plain@v1.0", "main", "names revision 'v1.0', but --revision says 'main'")]
    public async Task An_empty_revision_or_one_that_contradicts_the_url_is_a_usage_error_before_any_request(string repo, string revision, string expected)
    {
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;
        repo = repo.Replace("URL", hub.Server.Endpoint.ToString().TrimEnd('/'), StringComparison.Ordinal);

        var download = await cli.RunAsync("download", repo, "--local-dir", _temp.Combine("out"), "--revision", revision);
        var list = await cli.RunAsync("ls", repo, "--revision", revision);

        Assert.True(download.ExitCode == 2, download.ToString());
        Assert.Contains(expected, download.Error, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 2, list.ToString());
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")));
    }

    [Theory]
    [InlineData("-d", "--hf-cache")]
    [InlineData("--directory", "--hf-cache")]
    [InlineData("-d", "--cache-dir")]
    public async Task A_directory_given_with_the_hf_cache_is_a_usage_error_before_any_request(string directoryOption, string cacheOption)
    {
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;
        string[] cache = cacheOption == "--cache-dir" ? [cacheOption, _temp.Combine("cache")] : [cacheOption];

        // -d was silently ignored: the files went to the cache and DIR stayed empty.
        var result = await cli.RunAsync(["download", "acme/plain", directoryOption, _temp.Combine("out"), .. cache]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: {directoryOption} and --hf-cache/--cache-dir choose different layouts; give one of them: --cache-dir DIR writes the Hugging Face cache in DIR.", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")));
        Assert.False(Directory.Exists(_temp.Combine("cache")));
    }

    [Theory]
    [InlineData("-d")]
    [InlineData("--directory")]
    public async Task A_directory_given_with_a_local_dir_is_a_usage_error_before_any_request(string directoryOption)
    {
        var cli = new CliRunner(hub.Server, _temp);
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        // -d was silently ignored: the files went to --local-dir.
        var result = await cli.RunAsync("download", "acme/plain", directoryOption, _temp.Combine("out"), "--local-dir", _temp.Combine("local"));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: {directoryOption} and --local-dir choose different places; give one of them: --local-dir DIR puts the files exactly in DIR, {directoryOption} DIR under DIR/org/name.", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")));
        Assert.False(Directory.Exists(_temp.Combine("local")));
    }

    [Theory]
    [InlineData("--local-dir", false)]
    [InlineData("--local-dir", true)]
    [InlineData("-d", false)]
    [InlineData("-d", true)]
    [InlineData("--cache-dir", false)]
    [InlineData("--cache-dir", true)]
    [InlineData("HF_HOME", false)]
    [InlineData("HF_HUB_CACHE", true)]
    public async Task A_folder_with_a_name_over_255_bytes_is_a_usage_error_before_any_request_dry_run_or_not(string setting, bool dryRun)
    {
        // The dry run passed it (fits: true) and the download failed after asking the Hub, with .NET's "The path is too
        // long, or a component of the specified path is too long".
        var folder = Path.Combine(_temp.Combine("x"), new string('d', 300));
        var cli = new CliRunner(hub.Server, _temp);
        string[] where = setting.StartsWith('-') ? [setting, folder] : ["--hf-cache"];
        if (!setting.StartsWith('-'))
        {
            cli.Environment[setting] = folder;
        }
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync(["download", "acme/plain", .. where, .. (dryRun ? new[] { "--dry-run", "--json" } : [])]);

        Assert.True(result.ExitCode == 2, result.ToString());
        var named = setting == "-d" ? "--directory" : setting;
        Assert.Contains($"error: {named} is '", result.Error, StringComparison.Ordinal);
        Assert.Contains("is 300 bytes long, over the 255 bytes a file system takes for one name", result.Error, StringComparison.Ordinal);
        Assert.Contains($"Point {named} at a folder whose names are shorter.", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("too long, or a component", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("x")));
    }

    [Theory]
    [InlineData("download", "--include")]
    [InlineData("download", "--exclude")]
    [InlineData("ls", "--include")]
    [InlineData("ls", "--exclude")]
    public async Task An_empty_pattern_is_a_usage_error_that_names_the_option_it_was_given_with_before_any_request(string command, string option)
    {
        var arguments = command == "download" ? new[] { "download", "acme/plain", "--local-dir", _temp.Combine("out") } : ["ls", "acme/plain"];
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await new CliRunner(hub.Server, _temp).RunAsync([.. arguments, option, ""]);

        // It said "--include and --exclude is empty" whichever of them was given; and it said so only after asking the
        // Hub (the commit line printed first; with the Hub down, a network error and exit 1).
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: {option} is empty; give a pattern such as '*.json' or 'onnx/'.", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(option == "--include" ? "--exclude" : "--include", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("commit", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_empty_file_name_is_a_usage_error_before_any_request(bool dryRun)
    {
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        // It was "File '' does not exist", exit 1, after the Hub was asked.
        var result = await new CliRunner(hub.Server, _temp).RunAsync(["download", "acme/plain", "config.json", "", "--local-dir", _temp.Combine("out"), .. (dryRun ? new[] { "--dry-run" } : [])]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("error: FILES has an empty name (an unset variable in a script?): give a path in the repo such as config.json or onnx/, or leave FILES out for the whole repo.", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")));
    }

    [Theory]
    [InlineData("--revision-ttl", "nan", "a number of seconds from 0 to 31536000 (a year)")]
    [InlineData("--access-ttl", "-5", "a number of seconds from 0 to 31536000 (a year)")]
    [InlineData("--threads", "abc", "a whole number of connections from 1 to 256")]
    public async Task A_number_serve_cannot_use_is_a_usage_error_before_it_listens(string option, string value, string expected)
    {
        var result = await new CliRunner(hub.Server, _temp).RunAsync("serve", "--store", _temp.Combine("store"), "--urls", "http://127.0.0.1:0", option, value);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: {option} must be {expected}, not '{value}'.", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--max-speed", "0.001")]
    [InlineData("--max-speed", "1e3")]
    [InlineData("--min-free-space", "0")]
    [InlineData("--threads", "256")]
    [InlineData("--chunk-size", "65536")]
    public async Task The_edges_of_each_range_are_accepted(string option, string value)
    {
        var result = await new CliRunner(hub.Server, _temp).RunAsync("download", "acme/plain", "--local-dir", _temp.Combine("out"), "--dry-run", option, value);

        Assert.True(result.ExitCode == 0, result.ToString());
    }
}
