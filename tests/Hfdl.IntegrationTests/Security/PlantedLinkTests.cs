using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.IntegrationTests.Security;

public sealed class PlantedLinkHub : IAsyncLifetime
{
    public const string Repo = "acme/links";
    public const string SlowRepo = "acme/slow-links";
    public const long BigSize = 3L * 1024 * 1024 + 17;

    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public RepoSnapshot Main => Store.MainSnapshot(RepoType.Model, Repo);

    public async Task InitializeAsync()
    {
        Store.AddRepo(RepoType.Model, Repo, repo => repo
            .File("config.json", "{\"links\":1}\n")
            .File("sub/notes.txt", "notes\n")
            .File("model.safetensors", SyntheticContent.Create(BigSize, seed: 71))
            .Revision("refs/pr/1", RevisionKind.PullRequest, r => r.File("pr.txt", "pr\n"), inheritMain: true));
        Store.AddRepo(RepoType.Model, SlowRepo, repo => repo
            .File("config.json", "{\"slow\":1}\n")
            .File("model.safetensors", SyntheticContent.Create(8L * 1024 * 1024, seed: 72))
            .Settings(s => s with { Faults = HubFaults.None with { PerConnectionBytesPerSecond = 250_000 } }));
        Server = await HubServer.StartAsync(new HubServerOptions { Store = Store });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// Links planted in a target folder or cache, before a download, a resume, a --fix-broken or the rerun of an interrupted
/// run: for every place hfdl writes, a link to a file outside (which must stay byte for byte as it was), a dangling link
/// (whose target must not appear) and a linked folder (which must stay empty). hfdl either stops with a clear error
/// before writing through it, or replaces the link itself where that is its own file to replace.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class PlantedLinkTests(PlantedLinkHub hub) : IClassFixture<PlantedLinkHub>, IDisposable
{
    private const string Precious = "precious: must never change\n";
    private const string Refusal = "hfdl never writes through links; remove it and run the same command again.";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    public enum Layout
    {
        /// <summary>The seed layout: <c>-d base</c> writes <c>base/acme/links</c>.</summary>
        Directory,
        LocalDir,
        HfCache,
    }

    public enum Plant
    {
        LinkToFile,
        DanglingLink,
        LinkToFolder,
    }

    public enum Outcome
    {
        /// <summary>The run stops with the clear error; nothing is written through the link.</summary>
        Refused,

        /// <summary>The link is replaced by hfdl's own file (rename over it, or delete it); the run succeeds.</summary>
        Replaced,

        /// <summary>Something is already there, which is all hfdl needs; the link stays, not written through, and the run succeeds.</summary>
        LeftAlone,
    }

    private string Victim => _temp.Combine("outside", "victim.txt");

    private string Ghost => _temp.Combine("outside", "ghost");

    private string OutsideFolder => _temp.Combine("outside", "folder");

    private string Cache => _temp.Combine("hf-cache");

    private string RepoFolder => Path.Combine(Cache, "models--acme--links");

    /// <summary>Where files of <paramref name="layout"/> land: the folder places are relative to.</summary>
    private string Root(Layout layout) => layout switch
    {
        Layout.Directory => _temp.Combine("downloads", "acme", "links"),
        Layout.LocalDir => _temp.Combine("local"),
        _ => Cache,
    };

    /// <summary>With <paramref name="threshold"/> "1" (MB) the model is a big file; with "100" a small one (the other fetch path).</summary>
    private string[] Args(Layout layout, string repo = PlantedLinkHub.Repo, string threshold = "1") => layout switch
    {
        Layout.Directory => ["download", repo, "-d", _temp.Combine("downloads"), "--file-size-threshold", threshold],
        Layout.LocalDir => ["download", repo, "--local-dir", Root(layout), "--file-size-threshold", threshold],
        _ => ["download", repo, "--cache-dir", Cache, "--file-size-threshold", threshold],
    };

    private string Expand(string place)
    {
        var main = hub.Main;
        var config = main.Files.Single(f => f.Path == "config.json");
        return place
            .Replace("{repo}", "models--acme--links", StringComparison.Ordinal)
            .Replace("{commit}", main.CommitId, StringComparison.Ordinal)
            .Replace("{config-blob}", config.Content.GitSha1, StringComparison.Ordinal)
            .Replace('/', Path.DirectorySeparatorChar);
    }

    /// <summary>Puts a link at <paramref name="path"/> (making its parent folders, which are real).</summary>
    private void PlantAt(string path, Plant plant)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Directory.CreateDirectory(OutsideFolder);
        File.WriteAllText(Victim, Precious);
        switch (plant)
        {
            case Plant.LinkToFile:
                File.CreateSymbolicLink(path, Victim);
                break;
            case Plant.DanglingLink:
                File.CreateSymbolicLink(path, Ghost);
                break;
            default:
                Directory.CreateSymbolicLink(path, OutsideFolder);
                break;
        }
    }

    /// <summary>The safety property itself, asserted first after each run, before what the run said about it.</summary>
    private void AssertOutsideUntouched()
    {
        Assert.Equal(Precious, File.ReadAllText(Victim));
        Assert.False(File.Exists(Ghost) || Directory.Exists(Ghost), "the dangling link's target was created");
        Assert.Empty(Directory.EnumerateFileSystemEntries(OutsideFolder));
        Assert.Equal(["folder", "victim.txt"], Directory.EnumerateFileSystemEntries(_temp.Combine("outside")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static void AssertRefused(CliResult result, string link)
    {
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains($"'{link}' is a symbolic link", result.Error, StringComparison.Ordinal);
        Assert.Contains(Refusal, result.Error, StringComparison.Ordinal);
    }

    private void AssertDownloaded(CliResult result, Layout layout)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(hub.Main, layout == Layout.HfCache ? Path.Combine(RepoFolder, "snapshots", hub.Main.CommitId) : Root(layout));
    }

    private CliRunner Cli() => new(hub.Server, _temp);

    public static TheoryData<Layout, string, Plant, Outcome> Places()
    {
        var data = new TheoryData<Layout, string, Plant, Outcome>();
        void Both(Layout layout, string place, Plant linkKind, Outcome outcome)
        {
            data.Add(layout, place, linkKind, outcome);
            data.Add(layout, place, Plant.DanglingLink, outcome);
        }
        foreach (var layout in (Layout[])[Layout.Directory, Layout.LocalDir])
        {
            Both(layout, ".hfdl.lock", Plant.LinkToFile, Outcome.Refused);
            Both(layout, ".hfdl.lock.info", Plant.LinkToFile, Outcome.Replaced);
            Both(layout, ".download_state", Plant.LinkToFile, Outcome.Replaced);
            Both(layout, ".cache", Plant.LinkToFolder, Outcome.Refused);
            Both(layout, ".cache/huggingface", Plant.LinkToFolder, Outcome.Refused);
            Both(layout, ".cache/huggingface/.gitignore", Plant.LinkToFile, Outcome.Refused);
            Both(layout, ".cache/huggingface/CACHEDIR.TAG", Plant.LinkToFile, Outcome.LeftAlone);
            Both(layout, ".cache/huggingface/download", Plant.LinkToFolder, Outcome.Refused);
            Both(layout, ".cache/huggingface/download/sub", Plant.LinkToFolder, Outcome.Refused);
            Both(layout, ".cache/huggingface/download/config.json.metadata", Plant.LinkToFile, Outcome.Replaced);
            Both(layout, ".cache/huggingface/trees", Plant.LinkToFolder, Outcome.Refused);
            Both(layout, ".cache/huggingface/trees/{commit}.json", Plant.LinkToFile, Outcome.Replaced);
            Both(layout, "sub", Plant.LinkToFolder, Outcome.Refused);
            Both(layout, "model.safetensors", Plant.LinkToFile, Outcome.Refused);
        }
        Both(Layout.HfCache, "CACHEDIR.TAG", Plant.LinkToFile, Outcome.LeftAlone);
        Both(Layout.HfCache, "{repo}", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/.hfdl.lock", Plant.LinkToFile, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/.hfdl.lock.info", Plant.LinkToFile, Outcome.Replaced);
        Both(Layout.HfCache, "{repo}/.download_state", Plant.LinkToFile, Outcome.Replaced);
        Both(Layout.HfCache, "{repo}/blobs", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/blobs/{config-blob}", Plant.LinkToFile, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/snapshots", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/snapshots/{commit}", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/snapshots/{commit}/sub", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/snapshots/{commit}/config.json", Plant.LinkToFile, Outcome.Replaced);
        Both(Layout.HfCache, "{repo}/refs", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/refs/main", Plant.LinkToFile, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/.no_exist", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/trees", Plant.LinkToFolder, Outcome.Refused);
        Both(Layout.HfCache, "{repo}/trees/{commit}.json", Plant.LinkToFile, Outcome.Replaced);
        return data;
    }

    [Theory]
    [MemberData(nameof(Places))]
    public async Task A_link_planted_where_hfdl_writes_is_refused_or_replaced_and_never_written_through(Layout layout, string place, Plant plant, Outcome outcome)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Symbolic links need privileges there.
        }
        var link = Path.Combine(Root(layout), Expand(place));
        PlantAt(link, plant);

        var result = await Cli().RunAsync(Args(layout));

        AssertOutsideUntouched();
        if (outcome == Outcome.Refused)
        {
            AssertRefused(result, link);
            Assert.NotNull(new FileInfo(link).LinkTarget); // Left for the user to look at and remove.
        }
        else if (outcome == Outcome.LeftAlone)
        {
            AssertDownloaded(result, layout);
            Assert.NotNull(new FileInfo(link).LinkTarget);
        }
        else
        {
            AssertDownloaded(result, layout);
            // Gone, or (a snapshot pointer) hfdl's own link into blobs/ now.
            Assert.True(new FileInfo(link).LinkTarget is not { } target || target.StartsWith("../../blobs/", StringComparison.Ordinal), $"{link} still links outside");
        }
    }

    [Theory]
    [InlineData("model.safetensors", Plant.LinkToFile, "where the repo file 'model.safetensors' goes")]
    [InlineData("sub", Plant.LinkToFolder, "on the way to the repo file 'sub/")]
    public async Task A_link_at_a_repo_file_is_refused_before_anything_is_written_beside_it(string place, Plant plant, string words)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var link = Path.Combine(Root(Layout.LocalDir), place);
        PlantAt(link, plant);

        var result = await Cli().RunAsync(Args(Layout.LocalDir));

        AssertOutsideUntouched();
        AssertRefused(result, link);
        Assert.Contains(words, result.Error, StringComparison.Ordinal);
        // Refused before the lock, the listing or the journal were written (QA: helper-38 found .cache/ and .hfdl.lock).
        Assert.Equal([place], Directory.EnumerateFileSystemEntries(Root(Layout.LocalDir)).Select(Path.GetFileName));
    }

    public static TheoryData<Layout, Plant> FileLinksInAFolderAndACache => new()
    {
        { Layout.LocalDir, Plant.LinkToFile },
        { Layout.LocalDir, Plant.DanglingLink },
        { Layout.HfCache, Plant.LinkToFile },
        { Layout.HfCache, Plant.DanglingLink },
    };

    [Theory]
    [MemberData(nameof(FileLinksInAFolderAndACache))]
    public async Task After_removing_the_link_the_same_command_finishes(Layout layout, Plant plant)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var link = Path.Combine(Root(layout), layout == Layout.HfCache ? Expand("{repo}/.hfdl.lock") : ".hfdl.lock");
        PlantAt(link, plant);
        AssertRefused(await Cli().RunAsync(Args(layout)), link);

        File.Delete(link);
        var rerun = await Cli().RunAsync(Args(layout));
        AssertOutsideUntouched();
        AssertDownloaded(rerun, layout);
    }

    public static TheoryData<Layout, string, Plant> PullRequestRefs => new()
    {
        { Layout.HfCache, "{repo}/refs/refs", Plant.LinkToFolder },
        { Layout.HfCache, "{repo}/refs/refs", Plant.DanglingLink },
        { Layout.HfCache, "{repo}/refs/refs/pr", Plant.LinkToFolder },
        { Layout.HfCache, "{repo}/refs/refs/pr", Plant.DanglingLink },
        { Layout.HfCache, "{repo}/refs/refs/pr/1", Plant.LinkToFile },
        { Layout.HfCache, "{repo}/refs/refs/pr/1", Plant.DanglingLink },
    };

    [Theory]
    [MemberData(nameof(PullRequestRefs))]
    public async Task A_link_on_the_way_to_a_nested_pr_ref_is_refused(Layout layout, string place, Plant plant)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var link = Path.Combine(Root(layout), Expand(place));
        PlantAt(link, plant);

        var result = await Cli().RunAsync([.. Args(layout), "--revision", "refs/pr/1"]);

        AssertOutsideUntouched();
        AssertRefused(result, link);
    }

    [Theory]
    [InlineData("{repo}/.no_exist/{commit}", Plant.LinkToFolder)]
    [InlineData("{repo}/.no_exist/{commit}", Plant.DanglingLink)]
    [InlineData("{repo}/.no_exist/{commit}/nope.txt", Plant.LinkToFile)]
    [InlineData("{repo}/.no_exist/{commit}/nope.txt", Plant.DanglingLink)]
    public async Task A_link_where_a_missing_file_is_marked_is_refused(string place, Plant plant)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var link = Path.Combine(Cache, Expand(place));
        PlantAt(link, plant);

        var result = await Cli().RunAsync([.. Args(Layout.HfCache), "nope.txt"]);

        AssertOutsideUntouched();
        AssertRefused(result, link);
    }

    [Theory]
    [InlineData(Plant.LinkToFile)]
    [InlineData(Plant.DanglingLink)]
    public async Task Without_symlinks_a_link_at_the_old_fixed_copy_name_is_neither_written_through_nor_touched(Plant plant)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var link = Path.Combine(Cache, Expand("{repo}/snapshots/{commit}/config.json.hfdl-copy"));
        PlantAt(link, plant);
        var cli = Cli();
        cli.Environment["HF_HUB_DISABLE_SYMLINKS"] = "1";

        var result = await cli.RunAsync(Args(Layout.HfCache));

        AssertOutsideUntouched();
        AssertDownloaded(result, Layout.HfCache);
        // Copies go through a new random name each time: what stands at 'config.json.hfdl-copy' is not hfdl's.
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Null(new FileInfo(Path.Combine(RepoFolder, "snapshots", hub.Main.CommitId, "config.json")).LinkTarget);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(RepoFolder, "snapshots", hub.Main.CommitId), ".*.hfdl-copy", SearchOption.AllDirectories));
    }

    public static TheoryData<Layout, Plant, bool, string> JournalCases()
    {
        var data = new TheoryData<Layout, Plant, bool, string>();
        foreach (var layout in Enum.GetValues<Layout>())
        {
            foreach (var plant in (Plant[])[Plant.LinkToFile, Plant.DanglingLink])
            {
                foreach (var fixBroken in (bool[])[false, true])
                {
                    foreach (var threshold in (string[])["1", "100"])
                    {
                        data.Add(layout, plant, fixBroken, threshold);
                    }
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(JournalCases))]
    public async Task A_journal_naming_a_link_as_its_temporary_file_never_resumes_into_it(Layout layout, Plant plant, bool fixBroken, string threshold)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var (journalFolder, dataFolder) = JournalAndDataFolders(layout);
        var temp = Path.Combine(dataFolder, ".model.safetensors.0123abcd.hfdl-part");
        PlantAt(temp, plant);
        WriteJournal(journalFolder, temp);
        string[] args = fixBroken ? [.. Args(layout, threshold: threshold), "--fix-broken"] : Args(layout, threshold: threshold);

        var result = await Cli().RunAsync(args);

        AssertOutsideUntouched();
        AssertRefused(result, temp);
        Assert.Contains("done     config.json", result.Error, StringComparison.Ordinal); // Only the file with the link failed.
    }

    public static TheoryData<Layout, bool, string> SpecialFileCases()
    {
        var data = new TheoryData<Layout, bool, string>();
        foreach (var layout in new[] { Layout.LocalDir, Layout.HfCache })
        {
            foreach (var device in new[] { false, true })
            {
                data.Add(layout, device, "1");
                data.Add(layout, device, "100");
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SpecialFileCases))]
    public async Task A_journal_naming_a_fifo_or_a_device_as_its_temporary_file_downloads_the_file_afresh_and_leaves_it_alone(Layout layout, bool device, string threshold)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var (journalFolder, dataFolder) = JournalAndDataFolders(layout);
        var temp = Path.Combine(dataFolder, ".model.safetensors.0123abcd.hfdl-part");
        Directory.CreateDirectory(dataFolder);
        // A character device needs the right to make one (root, CAP_MKNOD): /dev/null's numbers, 1 and 3.
        if ((device ? Mknod(temp, 0x2000 | 0x180, (1 << 8) | 3) : Mkfifo(temp, 0x180)) != 0)
        {
            Assert.True(device, "mkfifo failed");
            return;
        }
        WriteJournal(journalFolder, temp);

        var result = await Cli().RunAsync(Args(layout, threshold: threshold)).WaitAsync(TimeSpan.FromMinutes(2));

        AssertDownloaded(result, layout);
        Assert.Contains($"'{temp}', which the journal names as the temporary file of model.safetensors, is not a regular file", result.Error, StringComparison.Ordinal);
        Assert.True(SafeFileSystem.IsSpecialFile(temp), "the planted entry is kept as it was");
        var rerun = await Cli().RunAsync(Args(layout, threshold: threshold)).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.True(SafeFileSystem.IsSpecialFile(temp), "no later run deletes it either");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mknod", SetLastError = true)]
    private static extern int Mknod(string path, uint mode, ulong device);

    private (string Journal, string Data) JournalAndDataFolders(Layout layout) =>
        layout == Layout.HfCache ? (RepoFolder, Path.Combine(RepoFolder, "blobs")) : (Root(layout), Root(layout));

    /// <summary>A journal as hfdl writes it for an interrupted big file, naming <paramref name="temp"/> with a written range.</summary>
    private void WriteJournal(string folder, string temp)
    {
        var model = hub.Main.Files.Single(f => f.Path == "model.safetensors");
        var journal = new Dictionary<string, object>
        {
            ["schema"] = DownloadState.SchemaName,
            ["version"] = DownloadState.CurrentVersion,
            ["repoType"] = "model",
            ["repoId"] = PlantedLinkHub.Repo,
            ["revision"] = "main",
            ["commit"] = hub.Main.CommitId,
            ["files"] = new Dictionary<string, object>
            {
                ["model.safetensors"] = new Dictionary<string, object>
                {
                    ["size"] = PlantedLinkHub.BigSize,
                    ["etag"] = model.IsLfs ? model.Content.Sha256 : model.Content.GitSha1,
                    ["commit"] = hub.Main.CommitId,
                    ["status"] = FileState.Partial,
                    ["tempFile"] = Path.GetFileName(temp),
                    ["ranges"] = new[] { new long[] { 0, 10 } },
                },
            },
        };
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, DownloadState.FileName), JsonSerializer.Serialize(journal));
    }

    public static TheoryData<Layout, Plant, string> InterruptedCases()
    {
        var data = new TheoryData<Layout, Plant, string>();
        foreach (var (layout, plant) in new[] { (Layout.LocalDir, Plant.LinkToFile), (Layout.LocalDir, Plant.DanglingLink), (Layout.HfCache, Plant.LinkToFile), (Layout.HfCache, Plant.DanglingLink) })
        {
            data.Add(layout, plant, "1");
            data.Add(layout, plant, "100");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(InterruptedCases))]
    public async Task A_link_swapped_in_for_the_temporary_file_of_an_interrupted_run_is_never_written_through(Layout layout, Plant plant, string threshold)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var root = Root(layout);
        var journal = layout == Layout.HfCache ? Path.Combine(Cache, "models--acme--slow-links", DownloadState.FileName) : Path.Combine(root, DownloadState.FileName);
        using (var interrupt = new CancellationTokenSource())
        {
            var run = Cli().RunAsync(interrupt.Token, Args(layout, PlantedLinkHub.SlowRepo, threshold));
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (RecordedRanges(journal) == 0 && !run.IsCompleted && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
            await interrupt.CancelAsync();
            var first = await run;
            Assert.True(first.ExitCode == 130, first.ToString());
        }
        var temp = Assert.Single(Directory.GetFiles(root, "*.hfdl-part", SearchOption.AllDirectories));
        File.Delete(temp);
        PlantAt(temp, plant);

        var rerun = await Cli().RunAsync(Args(layout, PlantedLinkHub.SlowRepo, threshold));

        AssertOutsideUntouched();
        AssertRefused(rerun, temp);
    }

    [Fact]
    public async Task A_temporary_file_deleted_under_a_running_download_fails_that_file_in_words_and_the_rerun_completes()
    {
        var root = Root(Layout.LocalDir);
        var run = Cli().RunAsync(Args(Layout.LocalDir, PlantedLinkHub.SlowRepo));
        string[] parts = [];
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (parts.Length == 0 && !run.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            parts = Directory.Exists(root) ? Directory.GetFiles(root, "*.hfdl-part", SearchOption.AllDirectories) : [];
        }
        Assert.NotEmpty(parts);
        File.Delete(parts[0]); // another program's cleanup

        var first = await run;
        var rerun = await Cli().RunAsync(Args(Layout.LocalDir, PlantedLinkHub.SlowRepo));

        Assert.Equal(1, first.ExitCode);
        Assert.Contains("a file hfdl was writing was removed by something else meanwhile", first.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", first.All, StringComparison.Ordinal);
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, PlantedLinkHub.SlowRepo), root);
    }

    private static int RecordedRanges(string journal)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(journal));
            return document.RootElement.GetProperty("files").TryGetProperty("model.safetensors", out var entry) && entry.TryGetProperty("ranges", out var ranges)
                ? ranges.GetArrayLength()
                : 0;
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return 0;
        }
    }

    [Fact]
    public async Task A_link_at_the_set_aside_name_of_an_untrusted_journal_is_replaced_not_written_through()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var now = new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
        var target = Root(Layout.LocalDir);
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, DownloadState.FileName), "not a journal");
        var aside = Path.Combine(target, $"{DownloadState.FileName}.invalid-{now:yyyyMMddTHHmmss}");
        PlantAt(aside, Plant.LinkToFile);

        var (summary, events) = await Engine.DownloadAsync(hub.Server, PlantedLinkHub.Repo, target, Engine.FastOptions with { Time = new FakeTimeProvider(now) });

        AssertOutsideUntouched();
        Assert.Equal(0, summary.FilesFailed);
        Assert.Contains(events, e => e is Core.Progress.Warning w && w.Message.Contains("was not trusted", StringComparison.Ordinal));
        Assert.Null(new FileInfo(aside).LinkTarget);
        Assert.Equal("not a journal", File.ReadAllText(aside));
    }

    [Theory]
    [InlineData(Layout.Directory)]
    [InlineData(Layout.LocalDir)]
    [InlineData(Layout.HfCache)]
    public async Task A_root_that_is_itself_a_link_is_the_user_s_choice_and_is_used(Layout layout)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var real = Directory.CreateDirectory(_temp.Combine("real-root")).FullName;
        var root = layout == Layout.Directory ? _temp.Combine("downloads") : Root(layout);
        Directory.CreateDirectory(Path.GetDirectoryName(root)!);
        Directory.CreateSymbolicLink(root, real);

        var result = await Cli().RunAsync(Args(layout));

        AssertDownloaded(result, layout);
        Assert.NotEmpty(Directory.EnumerateFileSystemEntries(real));
    }
}
