using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Planning;

/// <summary>One Hfdl.Hub with the repo the plan matrix downloads: small files, two big ones (threshold 1 MB), folders.</summary>
public sealed class PlanMatrixHub : IAsyncLifetime
{
    public const string Repo = "acme/matrix";

    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Store.AddRepo(RepoType.Model, Repo, repo => repo
            .File("config.json", "{\"model_type\":\"matrix\"}\n")
            .File("README.md", "# matrix\n")
            .File("tokenizer/vocab.json", "{\"a\":1,\"b\":2}\n")
            .File("tokenizer/merges.txt", "a b\nb c\n")
            .File("onnx/model.onnx", SyntheticContent.Create(300_000, seed: 11))
            .File("weights/a.safetensors", SyntheticContent.Create(3_000_000, seed: 12))
            .File("weights/b.safetensors", SyntheticContent.Create(2_500_000, seed: 13)));
        Server = await HubServer.StartAsync(new HubServerOptions { Store = Store });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The plan is the pivot (issue 12, item 1): for every selection (none, FILES, include/exclude) and every layout
/// (folder under -d, --local-dir, the HF cache), on the same local state (present, present but not in the journal,
/// partly downloaded, missing, extra files), the dry run's actions are what the download then does, and verify and
/// offline judge exactly the selected files. All through the real command against a real hub.
/// </summary>
public sealed class PlanMatrixTests(PlanMatrixHub hub) : IClassFixture<PlanMatrixHub>, IDisposable
{
    private static readonly string[] AllFiles =
        ["README.md", "config.json", "onnx/model.onnx", "tokenizer/merges.txt", "tokenizer/vocab.json", "weights/a.safetensors", "weights/b.safetensors"];

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string, string> Combinations()
    {
        var data = new TheoryData<string, string>();
        foreach (var selection in new[] { "none", "files", "patterns" })
        {
            foreach (var layout in new[] { "folder", "local-dir", "hf-cache" })
            {
                data.Add(selection, layout);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public async Task The_dry_run_says_what_the_download_does_and_verify_and_offline_judge_exactly_the_selection(string selection, string layout)
    {
        var cli = new CliRunner(hub.Server, _temp);
        var (selectionArgs, selected) = Selection(selection);
        var layoutArgs = LayoutArgs(layout);
        string[] common = ["download", PlanMatrixHub.Repo, "--file-size-threshold", "1", .. layoutArgs];

        // A complete download of everything, then local changes that give every action of a plan.
        var full = await cli.RunAsync([.. common]);
        Assert.True(full.ExitCode == 0, full.ToString());
        var local = new LocalState(hub, _temp, layout);
        local.Delete("README.md");                 // download
        local.Delete("weights/b.safetensors");     // download
        local.Touch("tokenizer/vocab.json");       // verify (present, not as the journal recorded it) - in the HF cache too: a blob modified after hfdl verified it is not trusted by its name
        local.MakePartial("weights/a.safetensors", 1_000_000); // resume
        if (layout != "hf-cache")
        {
            local.AddExtra("tokenizer/extra.json");    // extra, where the selection covers it
            local.AddExtra("notes.txt");
        }
        else
        {
            local.Unlink("onnx/model.onnx");           // present: linked again from its blob, except offline, which writes nothing
        }

        var expected = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["README.md"] = "download",
            ["config.json"] = "present",
            ["onnx/model.onnx"] = "present",
            ["tokenizer/merges.txt"] = "present",
            ["tokenizer/vocab.json"] = "verify",
            ["weights/a.safetensors"] = "resume",
            ["weights/b.safetensors"] = "download",
        };
        var expectedExtras = layout == "hf-cache" ? [] : new[] { "notes.txt", "tokenizer/extra.json" }.Where(p => Selects(selection, p)).ToList();

        // Offline: exactly the selected files are judged, the missing ones named.
        var offline = await cli.RunAsync([.. common, "--offline", .. selectionArgs]);
        var counted = Regex.Match(offline.Error, @"(\d+) of (\d+) files present");
        Assert.True(counted.Success, offline.ToString());
        Assert.Equal(selected.Count, int.Parse(counted.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        var missing = Regex.Matches(offline.Error, @"^missing  (.+)$", RegexOptions.Multiline).Select(m => m.Groups[1].Value.TrimEnd('\r')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(missing.Count == 0 ? 0 : 1, offline.ExitCode);
        var offlineExpected = selected.Where(p => expected[p] is "download" or "resume" || (layout == "hf-cache" && p == "onnx/model.onnx")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(offlineExpected, missing);
        // The offline dry run plans what the offline run does (QA: helper-38 saw an unlinked blob planned as present).
        var offlineDryRun = await cli.RunAsync([.. common, "--offline", "--dry-run", "--json", .. selectionArgs]);
        var offlinePlanned = Events(offlineDryRun.Out, "plan").Single()["entries"]!.AsArray()
            .Where(e => e!["action"]!.GetValue<string>() is "download" or "resume").Select(e => e!["path"]!.GetValue<string>()).Order(StringComparer.Ordinal);
        Assert.Equal(missing, offlinePlanned);
        Assert.Equal(offline.ExitCode, offlineDryRun.ExitCode);
        // And the offline run's own plan event counts as its dry run does (QA: helper-49: a touched file, hashed offline,
        // was counted as already verified, 3 present against the dry run's 2).
        var offlineJson = await cli.RunAsync([.. common, "--offline", "--json", .. selectionArgs]);
        var offlinePlan = Events(offlineJson.Out, "plan").Single();
        var offlineDryPlan = Events(offlineDryRun.Out, "plan").Single();
        foreach (var count in new[] { "files", "bytes", "files_to_download", "bytes_to_download", "files_to_verify", "bytes_to_verify", "files_present" })
        {
            Assert.True(offlineDryPlan[count]!.GetValue<long>() == offlinePlan[count]!.GetValue<long>(), $"{count}: dry run {offlineDryPlan[count]}, run {offlinePlan[count]}");
        }

        // Verify: every selected file and the extras the selection covers, nothing else.
        var verify = await cli.RunAsync([.. common, "--verify", "--json", .. selectionArgs]);
        var verdicts = Events(verify.Out, "verified").ToDictionary(e => e["path"]!.GetValue<string>(), e => e["status"]!.GetValue<string>(), StringComparer.Ordinal);
        Assert.Equal(selected.Concat(expectedExtras).Order(StringComparer.Ordinal), verdicts.Keys.Order(StringComparer.Ordinal));
        foreach (var path in selected)
        {
            Assert.Equal(offlineExpected.Contains(path) ? "missing" : "ok", verdicts[path]);
        }
        Assert.All(expectedExtras, p => Assert.Equal("extra", verdicts[p]));

        // The dry run, then the download: what the download did to each file is what the plan said.
        var dryRun = await cli.RunAsync([.. common, "--dry-run", "--json", .. selectionArgs]);
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        var planned = Events(dryRun.Out, "plan").Single()["entries"]!.AsArray()
            .ToDictionary(e => e!["path"]!.GetValue<string>(), e => e!["action"]!.GetValue<string>(), StringComparer.Ordinal);
        Assert.Equal(selected.Concat(expectedExtras).Order(StringComparer.Ordinal), planned.Keys.Order(StringComparer.Ordinal));
        Assert.All(selected, p => Assert.Equal(expected[p], planned[p]));
        Assert.All(expectedExtras, p => Assert.Equal("extra", planned[p]));

        var download = await cli.RunAsync([.. common, "--json", .. selectionArgs]);
        Assert.True(download.ExitCode == 0, download.ToString());
        var done = Observed(download.Out);
        Assert.Equal(selected.Order(StringComparer.Ordinal), done.Keys.Order(StringComparer.Ordinal));
        Assert.All(selected, p => Assert.True(planned[p] == done[p], $"'{p}': the dry run said {planned[p]}, the download did {done[p]}\n{download.Out}"));

        // The totals too: both count what is left to fetch, and the resumed file's bytes on disk apart.
        var dryTotals = Events(dryRun.Out, "plan").Single();
        var runTotals = Events(download.Out, "plan").Single();
        foreach (var field in new[] { "files", "bytes", "files_to_download", "bytes_to_download", "bytes_resumed", "files_to_verify", "bytes_to_verify", "files_present" })
        {
            Assert.True(dryTotals[field]!.GetValue<long>() == runTotals[field]!.GetValue<long>(), $"{field}: dry run {dryTotals[field]}, download {runTotals[field]}");
        }
        Assert.Equal(1_000_000, runTotals["bytes_resumed"]!.GetValue<long>());
        var sizes = hub.Store.MainSnapshot(RepoType.Model, PlanMatrixHub.Repo).Files.ToDictionary(f => f.Path, f => f.Content.Length, StringComparer.Ordinal);
        var remaining = selected.Where(p => expected[p] is "download" or "verify").Sum(p => sizes[p]) + sizes["weights/a.safetensors"] - 1_000_000;
        Assert.Equal(remaining, runTotals["bytes_to_download"]!.GetValue<long>());

        // And the files are all there, bit-exact, extras left alone.
        RepoAssert.BitExact(hub.Store.MainSnapshot(RepoType.Model, PlanMatrixHub.Repo), local.UserFolder, [.. selected]);
        Assert.All(expectedExtras, p => Assert.True(File.Exists(local.UserPath(p))));
    }

    private static (string[] Args, List<string> Selected) Selection(string selection) => selection switch
    {
        "files" => (["config.json", "tokenizer/", "weights/a.safetensors"], ["config.json", "tokenizer/merges.txt", "tokenizer/vocab.json", "weights/a.safetensors"]),
        "patterns" => (["--include", "*.json", "--include", "weights/*", "--exclude", "weights/b*"], ["config.json", "tokenizer/vocab.json", "weights/a.safetensors"]),
        _ => ([], [.. AllFiles]),
    };

    private static bool Selects(string selection, string path) => selection switch
    {
        "files" => path.StartsWith("tokenizer/", StringComparison.Ordinal),
        "patterns" => path.EndsWith(".json", StringComparison.Ordinal),
        _ => true,
    };

    private string[] LayoutArgs(string layout) => layout switch
    {
        "folder" => ["-d", _temp.Combine("base")],
        "local-dir" => ["--local-dir", _temp.Combine("local")],
        _ => ["--cache-dir", _temp.Combine("cache")],
    };

    private static IEnumerable<JsonObject> Events(string output, string name) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonNode.Parse(line)!.AsObject())
            .Where(e => e["event"]!.GetValue<string>() == name);

    /// <summary>What the download did to each file, from its events: skipped unread, adopted after a hash, resumed, or fetched whole.</summary>
    private static Dictionary<string, string> Observed(string output)
    {
        var done = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var e = JsonNode.Parse(line)!.AsObject();
            var path = e["path"]?.GetValue<string>();
            switch (e["event"]!.GetValue<string>())
            {
                case "file_skipped":
                    done[path!] = e["reason"]!.GetValue<string>() switch
                    {
                        "already downloaded and verified" => "present",
                        "already on disk with the right hash" => "verify",
                        var other => $"skipped ({other})",
                    };
                    break;
                case "file_started":
                    done[path!] = e["resumed_bytes"]!.GetValue<long>() > 0 ? "resume" : "download";
                    break;
            }
        }
        return done;
    }

    /// <summary>The local copy of the repo in one layout, and the changes the test makes to it.</summary>
    private sealed class LocalState
    {
        private readonly string _layout;
        private readonly string _journalFolder;

        public LocalState(PlanMatrixHub hub, TempFolder temp, string layout)
        {
            _layout = layout;
            var commit = hub.Store.MainSnapshot(RepoType.Model, PlanMatrixHub.Repo).CommitId;
            (UserFolder, _journalFolder) = layout switch
            {
                "folder" => (temp.Combine("base", "acme", "matrix"), temp.Combine("base", "acme", "matrix")),
                "local-dir" => (temp.Combine("local"), temp.Combine("local")),
                _ => (temp.Combine("cache", "models--acme--matrix", "snapshots", commit), temp.Combine("cache", "models--acme--matrix")),
            };
        }

        public string UserFolder { get; }

        public string UserPath(string path) => Path.Combine(UserFolder, path);

        /// <summary>Where the bytes are: the file itself, or the HF cache's blob its snapshot link points at.</summary>
        private string DataPath(string path) =>
            _layout == "hf-cache" ? new FileInfo(UserPath(path)).ResolveLinkTarget(returnFinalTarget: true)!.FullName : UserPath(path);

        public void Delete(string path)
        {
            File.Delete(DataPath(path));
            if (_layout != "hf-cache")
            {
                return;
            }
            File.Delete(UserPath(path));
        }

        /// <summary>Removes where users find the file and keeps its data: the HF cache's snapshot link, its blob left.</summary>
        public void Unlink(string path) => File.Delete(UserPath(path));

        public void Touch(string path) => File.SetLastWriteTimeUtc(DataPath(path), DateTime.UtcNow.AddMinutes(-5));

        /// <summary>Replaces the file by a temporary file holding its first bytes and a journal entry that says so.</summary>
        public void MakePartial(string path, int bytes)
        {
            var data = DataPath(path);
            var temp = Path.Combine(Path.GetDirectoryName(data)!, $".{Path.GetFileName(data)}.0123abcd.hfdl-part");
            var content = File.ReadAllBytes(data);
            File.WriteAllBytes(temp, content);   // the full length, as a preallocated file is
            Delete(path);
            var journalPath = Path.Combine(_journalFolder, ".download_state");
            var journal = JsonNode.Parse(File.ReadAllText(journalPath))!.AsObject();
            var entry = journal["files"]![path]!.AsObject();
            entry["status"] = "partial";
            entry["tempFile"] = Path.GetFileName(temp);
            entry["ranges"] = new JsonArray(new JsonArray(0, bytes));
            entry.Remove("mtimeTicks");
            File.WriteAllText(journalPath, journal.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        public void AddExtra(string path)
        {
            var full = UserPath(path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, "not from the repo\n");
        }
    }
}
