using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Hfdl.Core.Planning;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// File names from the server: every traversal form fails the plan before a byte is written, with the name in the
/// message; links already in the target are never written through.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class SafePathTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Target => _temp.Combine("deep", "out");

    private static InMemoryRepoStore Repo(params string[] names)
    {
        return new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/names", repo =>
        {
            repo.File("config.json", "{}\n");
            foreach (var name in names)
            {
                repo.File(name, "payload\n");
            }
        });
    }

    private async Task<CliResult> DownloadAsync(InMemoryRepoStore store)
    {
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        return await new CliRunner(server, _temp).RunAsync("download", "acme/names", "--local-dir", Target);
    }

    public static TheoryData<string> HostileNames => new()
    {
        "../evil.txt",
        "a/../../evil.txt",
        "a/./b/evil.txt",
        "/etc/evil.txt",
        "C:/evil.txt",
        "C:\\evil.txt",
        "c:evil.txt",
        "\\\\server\\share\\evil.txt",
        "a\\..\\..\\evil.txt",
        "nul\0evil.txt",
        "line\nevil.txt",
        "esc\u001b[2Jevil.txt",
        "a//evil.txt",
        "evil/",
        ".download_state",
        ".download_state.invalid-20250101T000000",
        ".hfdl.lock",
        "sub/evil.txt.hfdl-part",
        "sub/.download_state/evil.txt",
        "sub/.hfdl.lock",
        ".cache",
        ".hfdl.lock/evil.txt",
        "evil-" + new string('\u00e9', 126) + ".bin",
        ".cache/huggingface",
        ".cache/huggingface/.gitignore",
        ".cache/huggingface/download/config.json.metadata",
        ".cache/huggingface/trees/evil.json",
    };

    [Theory]
    [MemberData(nameof(HostileNames))]
    public async Task A_hostile_name_fails_the_plan_before_any_byte_is_written_and_is_named(string name)
    {
        var result = await DownloadAsync(Repo(name));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"'{SafeText.Printable(name)}'", result.Error, StringComparison.Ordinal);
        Assert.Contains("refuses to write", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', result.All);
        Assert.False(Directory.Exists(Target), "nothing was created, not even the target folder");
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, "*evil*", SearchOption.AllDirectories));
    }

    /// <summary>The hostile names that no layout can hold (the names hfdl keeps for itself depend on the layout).</summary>
    public static TheoryData<string> UnwritableNames
    {
        get
        {
            var names = new TheoryData<string>();
            foreach (string name in HostileNames)
            {
                if (RepoFilePath.Problem(name, OperatingSystem.IsWindows()) is not null)
                {
                    names.Add(name);
                }
            }
            return names;
        }
    }

    [Theory]
    [MemberData(nameof(UnwritableNames))]
    public async Task A_name_hfdl_will_not_write_is_listed_escaped_and_refused_only_when_selected(string name)
    {
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = Repo(name) });
        var cli = new CliRunner(server, _temp);

        // One such name made the whole repo unusable: ls, FILES and --exclude all failed with the refusal.
        var list = await cli.RunAsync("ls", "acme/names");
        var named = await cli.RunAsync("download", "acme/names", "config.json", "--local-dir", Target);
        var excluded = await cli.RunAsync("download", "acme/names", "--exclude", "*evil*", "--local-dir", Target + "-excluded");
        var dryRun = await cli.RunAsync("download", "acme/names", "--dry-run", "--local-dir", Target + "-whole");
        var verify = await cli.RunAsync("download", "acme/names", "--verify", "--local-dir", Target);
        var verifyNamed = await cli.RunAsync("download", "acme/names", "config.json", "--verify", "--local-dir", Target);

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Equal(new[] { "config.json", SafeText.Escape(name) }.Order(StringComparer.Ordinal),
            list.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  ")[^1]).Order(StringComparer.Ordinal));
        Assert.DoesNotContain('\u001b', list.All);
        Assert.True(named.ExitCode == 0, named.ToString());
        Assert.Equal(["config.json"], RepoAssert.ListFiles(Target).Where(f => f != ".download_state"));
        Assert.True(excluded.ExitCode == 0, excluded.ToString());
        Assert.Equal(["config.json"], RepoAssert.ListFiles(Target + "-excluded").Where(f => f != ".download_state"));
        Assert.True(verifyNamed.ExitCode == 0, verifyNamed.ToString());
        foreach (var refused in new[] { dryRun, verify })
        {
            Assert.True(refused.ExitCode == 1, refused.ToString());
            Assert.Contains($"'{SafeText.Printable(name)}', which hfdl refuses to write", refused.Error, StringComparison.Ordinal);
            Assert.Contains("leave it out (--exclude, or name the files you want)", refused.Error, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(Target + "-whole"));
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, "*evil*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_name_that_is_both_a_file_and_a_folder_is_refused_on_any_file_system(bool caseInsensitive)
    {
        // Hfdl.Hub's store cannot hold such a listing (git cannot either), so the planner's check is driven directly.
        var error = Assert.Throws<UnsafePathException>(() => TargetChecks.CheckCollisions(["model", "model/weights.bin"], () => caseInsensitive));

        Assert.Equal("model", error.RejectedPath);
        Assert.Contains("'model/weights.bin' needs a folder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_path_longer_than_the_system_can_open_below_the_target_is_refused_before_it_is_fetched()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var deep = string.Join('/', Enumerable.Repeat(new string('d', 36), 110)) + "/f.bin"; // 4076 bytes
        var fits = string.Join('/', Enumerable.Repeat(new string('d', 36), 90)) + "/f.bin";

        var error = Assert.Throws<UnsafePathException>(() => TargetChecks.CheckPathLengths([fits, deep], "/tmp/target"));
        TargetChecks.CheckPathLengths([fits], "/tmp/target");

        Assert.Equal(deep, error.RejectedPath);
        Assert.Contains("more than the 4,096 this system can open", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Names_that_differ_only_by_case_are_refused_exactly_when_the_target_file_system_ignores_case()
    {
        var result = await DownloadAsync(Repo("README.md", "readme.md"));

        if (TargetChecks.IsCaseInsensitive(_temp.Path))
        {
            Assert.Equal(1, result.ExitCode);
            Assert.Contains("differs only by case", result.Error, StringComparison.Ordinal);
        }
        else
        {
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.True(File.Exists(Path.Combine(Target, "README.md")) && File.Exists(Path.Combine(Target, "readme.md")));
        }
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, ".hfdl-case-probe-*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData(new[] { "README.md", "readme.md" }, "readme.md", "differs only by case from 'README.md'")]
    [InlineData(new[] { "Model/a.bin", "model" }, "model", "needs a folder")]
    [InlineData(new[] { "docs/A.txt", "DOCS/a.txt" }, "DOCS/a.txt", "differs only by case")]
    public void On_a_case_insensitive_file_system_names_that_would_become_one_are_refused(string[] names, string rejected, string problem)
    {
        var error = Assert.Throws<UnsafePathException>(() => TargetChecks.CheckCollisions(names, () => true));

        Assert.Equal(rejected, error.RejectedPath);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        TargetChecks.CheckCollisions(names.Where(n => n != "model").ToList(), () => false);
    }

    [Theory]
    [InlineData(".DOWNLOAD_STATE", "journal and lock")]
    [InlineData(".Hfdl.Lock", "journal and lock")]
    [InlineData(".Cache/HuggingFace/download/config.json.metadata", "download metadata")]
    [InlineData("sub/weights.bin.HFDL-PART", "temporary files")]
    public void A_name_that_is_hfdl_s_own_once_case_is_ignored_is_refused_exactly_when_the_file_system_ignores_case(string name, string problem)
    {
        var error = Assert.Throws<UnsafePathException>(() => TargetChecks.CheckCollisions(["config.json", name], () => true));

        Assert.Equal(name, error.RejectedPath);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Null(RepoFilePath.Problem(name, windows: false));
        TargetChecks.CheckCollisions(["config.json", name], () => false);
    }

    [Fact]
    public void Folders_that_differ_only_by_case_merge_harmlessly_and_do_not_need_the_probe_answer()
    {
        TargetChecks.CheckCollisions(["Docs/a.txt", "docs/b.txt"], () => true);
        TargetChecks.CheckCollisions(["a.txt", "b.txt"], () => throw new InvalidOperationException("no case twins: no probe"));
    }

    [Theory]
    [InlineData("CON")]
    [InlineData("con.txt")]
    [InlineData("a/aux.json")]
    [InlineData("LPT1")]
    [InlineData("COM¹.log")]
    [InlineData("data:stream")]
    [InlineData("what?.txt")]
    [InlineData("a*b")]
    [InlineData("pipe|name")]
    [InlineData("quote\".txt")]
    [InlineData("trailing.")]
    [InlineData("folder /file.txt")]
    public void Names_windows_cannot_hold_are_refused_on_windows_only(string name)
    {
        Assert.NotNull(RepoFilePath.Problem(name, windows: true));
        Assert.Null(RepoFilePath.Problem(name, windows: false));
    }

    [Theory]
    [InlineData("console.txt")]
    [InlineData("conx")]
    [InlineData("com10")]
    [InlineData(".gitattributes")]
    [InlineData("dir one/file two.txt")]
    [InlineData("ünïcødé/naïve €.txt")]
    [InlineData("a..b")]
    [InlineData("..gitignore")]
    public void Ordinary_names_are_accepted_everywhere(string name)
    {
        Assert.Null(RepoFilePath.Problem(name, windows: true));
        Assert.Null(RepoFilePath.Problem(name, windows: false));
    }

    [Fact]
    public async Task A_symlinked_folder_in_the_target_that_points_outside_is_never_written_through()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var outside = Directory.CreateDirectory(_temp.Combine("outside")).FullName;
        Directory.CreateDirectory(Target);
        Directory.CreateSymbolicLink(Path.Combine(Target, "sub"), outside);

        var result = await DownloadAsync(Repo("sub/notes.txt"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("symbolic link", result.Error, StringComparison.Ordinal);
        Assert.Contains("sub/notes.txt", result.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.False(File.Exists(Path.Combine(Target, "config.json")), "the plan failed before any byte was written");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_symlink_in_place_of_a_final_file_is_never_written_through(bool targetExists)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var victim = _temp.Combine("victim.txt");
        if (targetExists)
        {
            File.WriteAllText(victim, "original\n");
        }
        Directory.CreateDirectory(Target);
        File.CreateSymbolicLink(Path.Combine(Target, "config.json"), victim);

        var result = await DownloadAsync(Repo());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("symbolic link", result.Error, StringComparison.Ordinal);
        if (targetExists)
        {
            Assert.Equal("original\n", File.ReadAllText(victim));
        }
        else
        {
            Assert.False(File.Exists(victim), "a dangling link was not followed to create its target");
        }
        Assert.NotNull(new FileInfo(Path.Combine(Target, "config.json")).LinkTarget);
    }
}
