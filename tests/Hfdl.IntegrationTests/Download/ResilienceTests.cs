using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Hfdl.Cli;

namespace Hfdl.IntegrationTests.Download;

/// <summary>Never lose a byte: crashes, interruptions, bad state files, concurrent runs, verify and repair.</summary>
public sealed class ResilienceTests : IDisposable
{
    private const long BigSize = 48L * 1024 * 1024 + 321;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static InMemoryRepoStore Store(HubFaults? faults = null) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/resume", repo => repo
            .File("config.json", "{\"a\":1}\n")
            .File("tokenizer.json", SyntheticContent.Create(200_000, seed: 31))
            .File("vocab.txt", "a\nb\nc\n")
            .File("model.safetensors", SyntheticContent.Create(BigSize, seed: 32))
            .Settings(s => s with { Faults = faults }));

    /// <summary>Starts a download and stops it as soon as part of the big file is recorded in the journal.</summary>
    private static async Task StopOnceBigFileIsPartlyRecordedAsync(HubServer server, string target, DownloadOptions options)
    {
        var state = Path.Combine(target, ".download_state");
        using var cancel = new CancellationTokenSource();
        var run = Engine.DownloadAsync(server, "acme/resume", target, options with { MaxBytesPerSecond = 8_000_000, CheckpointInterval = TimeSpan.FromMilliseconds(200) }, cancellationToken: cancel.Token);
        while (TryRecordedBytes(state, "model.safetensors") < 2 * 1024 * 1024 && !run.IsCompleted)
        {
            await Task.Delay(20);
        }
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    private static long RecordedBytes(string stateFile, string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(stateFile));
        if (!document.RootElement.GetProperty("files").TryGetProperty(path, out var entry))
        {
            return 0;
        }
        if (entry.GetProperty("status").GetString() == "complete")
        {
            return entry.GetProperty("size").GetInt64();
        }
        return entry.TryGetProperty("ranges", out var ranges) ? ranges.EnumerateArray().Sum(r => r[1].GetInt64() - r[0].GetInt64()) : 0;
    }

    private static long TryRecordedBytes(string stateFile, string path)
    {
        try
        {
            return File.Exists(stateFile) ? RecordedBytes(stateFile, path) : 0;
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return 0;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_outage_of_the_hub_and_its_cdn_mid_download_is_ridden_out(bool cdnComesBackElsewhere)
    {
        // Every segment of the big file fails at once when the servers go: one event for the file's retry budget,
        // not one per connection; a CDN back on another port is found by asking the Hub again.
        // Slow connections, so the file is fetched over many at once (each of them fails when the servers go).
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 250_000, GlobalBytesPerSecond = 16_000_000 });
        var first = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var (hubPort, cdnPort, casPort) = (first.Endpoint.Port, first.CdnEndpoint.Port, first.CasEndpoint.Port);
        var target = _temp.Combine("out");
        var run = new CliRunner(first, _temp).RunAsync("download", "acme/resume", "--local-dir", target, "--min-speed-per-thread", "0.1", "--file-size-threshold", "20", "--json");
        while (!run.IsCompleted && TryRecordedBytes(Path.Combine(target, ".download_state"), "model.safetensors") < 8_000_000)
        {
            await Task.Delay(20);
        }
        await first.DisposeAsync();
        await Task.Delay(TimeSpan.FromSeconds(1)); // the outage itself
        await using var second = await HubServer.StartAsync(new HubServerOptions
        {
            Store = store,
            Port = hubPort,
            CdnPort = cdnComesBackElsewhere ? 0 : cdnPort,
            CasPort = casPort,
        });

        var result = await run;

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        // More connections failed at once than the file's retry budget (5) allows attempts: had each counted, the file
        // would have failed. How many were open when the servers went depends on the connection controller and the
        // machine's load (CI saw 10 or fewer once), so the bound is the budget, not a guess at the connection count.
        var retries = result.Out.Split('\n').Count(l => l.Contains("\"event\":\"retry\"", StringComparison.Ordinal));
        Assert.True(retries > new DownloadOptions().MaxRetries, $"the outage failed {retries} connections at once, no more than the retry budget");
        Assert.True(cdnComesBackElsewhere == (second.CdnEndpoint.Port != cdnPort), "the CDN came back where the case says");
    }

    [Fact]
    public async Task After_sigkill_the_rerun_fetches_only_what_the_journal_did_not_record()
    {
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--chunk-size", "2097152", "--speed-test-duration", "0", "-t", "4"];

        using (var first = HfdlProcess.Start(cli.Environment, args))
        {
            await first.WaitUntilAsync(() => TryRecordedBytes(state, "model.safetensors") >= 8 * 1024 * 1024, TimeSpan.FromSeconds(60), "8 MiB of the big file recorded as on disk");
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        var recorded = RecordedBytes(state, "model.safetensors");
        Assert.False(File.Exists(Path.Combine(target, "model.safetensors")));
        await server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
        server.Requests.Clear();

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        var fetched = server.Requests.Snapshot().Where(r => r.Listener == "cdn").Sum(r => r.BodyBytesSent);
        Assert.True(fetched <= BigSize - recorded, $"the rerun fetched {fetched} bytes of the big file, but only {BigSize - recorded} were left");
        Assert.DoesNotContain(RepoAssert.ListFiles(target), f => f.EndsWith(".hfdl-part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_sigkill_just_before_a_journal_save_loses_at_most_half_a_second_of_transfer()
    {
        const long Rate = 4_000_000;
        const int Connections = 4;
        var store = Store(HubFaults.None with { GlobalBytesPerSecond = Rate });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--chunk-size", "2097152", "--speed-test-duration", "0", "-t", $"{Connections}"];
        var changes = new List<TimeSpan>();

        using (var first = HfdlProcess.Start(cli.Environment, args))
        {
            await first.WaitUntilAsync(() => TryRecordedBytes(state, "model.safetensors") >= 4 * 1024 * 1024, TimeSpan.FromSeconds(60), "4 MiB of the big file recorded");
            // Learn how often the journal records progress, then kill hfdl when the last record is almost that old:
            // the worst moment, when the most has arrived since the journal last said so.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var recorded = TryRecordedBytes(state, "model.safetensors");
            var lastChange = clock.Elapsed;
            while (true)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "The journal never stayed unchanged for most of its interval.");
                var now = TryRecordedBytes(state, "model.safetensors");
                if (now != recorded)
                {
                    changes.Add(clock.Elapsed - lastChange);
                    (recorded, lastChange) = (now, clock.Elapsed);
                }
                else if (changes.Count >= 3 && clock.Elapsed - lastChange >= 0.8 * Median(changes))
                {
                    break; // most of an interval since the last record
                }
                await Task.Delay(5); // polls the journal file
            }
            first.KillHard();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.False(File.Exists(Path.Combine(target, "model.safetensors")), "the big file finished before the kill; slow the hub down");
        await server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
        var firstRun = BigFileBytesSent(server);
        server.Requests.Clear();

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        var fetchedTwice = firstRun + BigFileBytesSent(server) - BigSize;
        // Half a second of transfer, plus what was on the way: per connection, the hub's last piece (a twentieth of a
        // second) in the socket and a gathered write not yet made.
        var allowance = (Rate / 2) + (Connections * 512L * 1024);
        Assert.True(fetchedTwice <= allowance, $"{fetchedTwice:N0} bytes were fetched twice (allowed {allowance:N0}); the journal recorded every {Median(changes).TotalMilliseconds:0} ms");
    }

    [Theory]
    [InlineData("KILL")]
    [InlineData("TERM")]
    public async Task A_small_file_cut_by_a_kill_or_a_signal_resumes_from_what_the_journal_recorded(string how)
    {
        const long Size = (24L * 1024 * 1024) + 17; // below the default --file-size-threshold: the small-file path
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/small-resume", repo => repo
            .File("config.json", "{\"small\":1}\n")
            .File("weights.bin", SyntheticContent.Create(Size, seed: 33))
            .Settings(s => s with { Faults = HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 } }));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/small-resume", "--local-dir", target];

        using (var first = HfdlProcess.Start(cli.Environment, args))
        {
            await first.WaitUntilAsync(() => TryRecordedBytes(state, "weights.bin") >= 4 * 1024 * 1024, TimeSpan.FromSeconds(60), "4 MiB of the small file recorded");
            if (how == "KILL")
            {
                first.KillHard();
                await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
            }
            else
            {
                first.Signal(how);
                Assert.Equal(143, await first.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            }
        }
        var recorded = RecordedBytes(state, "weights.bin");
        Assert.InRange(recorded, 4 * 1024 * 1024, Size - 1);
        Assert.False(File.Exists(Path.Combine(target, "weights.bin")));
        Assert.Single(Directory.GetFiles(target, "*.hfdl-part"));
        await server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));

        var dryRun = await cli.RunAsync([.. args, "--dry-run"]);
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Matches(@"resume.*weights\.bin|weights\.bin.*resume", dryRun.Out + dryRun.Error);
        server.Requests.Clear();

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/small-resume"), target);
        var fetched = server.Requests.Snapshot().Where(r => r.Listener == "cdn" && r.PathAndQuery.Contains("weights.bin", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent);
        Assert.True(fetched <= Size - recorded, $"the rerun fetched {fetched:N0} bytes of the small file, but only {Size - recorded:N0} were left");
        Assert.Empty(Directory.GetFiles(target, "*.hfdl-part"));
    }

    /// <summary>
    /// A small file's partial data from an earlier run: written in order (one range from byte 0), or left by a big-file
    /// run before --file-size-threshold was raised (ranges with a gap, of which only the first counts). file_started says
    /// how much of it the run kept, and that is what the dry run announced.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_resumed_small_file_reports_the_bytes_it_kept_as_the_dry_run_announced(bool leftByABigFileRun)
    {
        const long Size = 6L * 1024 * 1024;
        const long Kept = 2L * 1024 * 1024;
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/small-kept", repo => repo
            .File("weights.bin", SyntheticContent.Create(Size, seed: 35)));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var stateFile = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/small-kept", "--local-dir", target];
        Assert.Equal(0, (await cli.RunAsync(args)).ExitCode);
        // What an interrupted run leaves: the file's first bytes in a temporary file the journal names, with the
        // ranges it recorded.
        var content = File.ReadAllBytes(Path.Combine(target, "weights.bin"));
        File.Delete(Path.Combine(target, "weights.bin"));
        var temp = Path.Combine(target, ".weights.bin.5eed5eed.hfdl-part");
        File.WriteAllBytes(temp, content.AsSpan(0, (int)(leftByABigFileRun ? 4 * 1024 * 1024 : Kept)).ToArray());
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(stateFile))!;
        var entry = state["files"]!["weights.bin"]!;
        entry["status"] = "partial";
        entry["tempFile"] = Path.GetFileName(temp);
        entry["ranges"] = leftByABigFileRun
            ? new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonArray(0, Kept), new System.Text.Json.Nodes.JsonArray(3 * 1024 * 1024, 4 * 1024 * 1024))
            : new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonArray(0, Kept));
        File.WriteAllText(stateFile, state.ToJsonString());

        var dryRun = await cli.RunAsync([.. args, "--dry-run", "--json"]);
        var rerun = await cli.RunAsync([.. args, "--json"]);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        var planned = JsonDocument.Parse(dryRun.Out.Split('\n')[0]).RootElement.GetProperty("entries").EnumerateArray().Single();
        Assert.Equal("resume", planned.GetProperty("action").GetString());
        Assert.Equal(Kept, planned.GetProperty("bytes_on_disk").GetInt64());
        var started = rerun.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "file_started");
        Assert.Equal(Kept, started.GetProperty("resumed_bytes").GetInt64());
        Assert.Equal(content, File.ReadAllBytes(Path.Combine(target, "weights.bin")));
    }

    [Fact]
    public async Task An_interrupted_repair_of_a_corrupt_file_resumes_and_its_plan_and_dry_run_say_so()
    {
        // helper-58 #3: the repair's plan said "download, 0 on disk" while the run resumed the part file it had left.
        const long Size = 6L * 1024 * 1024;
        const long Kept = 2L * 1024 * 1024;
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/repair", repo => repo
            .File("weights.bin", SyntheticContent.Create(Size, seed: 36)));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var stateFile = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/repair", "--local-dir", target, "--file-size-threshold", "1", "--verify", "--fix-broken", "--json"];
        Assert.Equal(0, (await cli.RunAsync("download", "acme/repair", "--local-dir", target)).ExitCode);
        var final = Path.Combine(target, "weights.bin");
        var content = File.ReadAllBytes(final);
        // Corrupt under its final name, same size; the repair of it was interrupted with its first 2 MiB journaled.
        var corrupt = content.ToArray();
        corrupt[Size / 2] ^= 0x5a;
        File.WriteAllBytes(final, corrupt);
        var temp = Path.Combine(target, ".weights.bin.5eed5eed.hfdl-part");
        File.WriteAllBytes(temp, content.AsSpan(0, (int)Kept).ToArray());
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(stateFile))!;
        var entry = state["files"]!["weights.bin"]!;
        entry["status"] = "partial";
        entry["tempFile"] = Path.GetFileName(temp);
        entry["ranges"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonArray(0, Kept));
        File.WriteAllText(stateFile, state.ToJsonString());

        var dryRun = await cli.RunAsync([.. args, "--dry-run"]);
        var repair = await cli.RunAsync(args);

        Assert.True(repair.ExitCode == 0, repair.ToString());
        Assert.Equal(content, File.ReadAllBytes(final));
        static List<JsonElement> Events(CliResult run, string name) => [.. run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).Where(e => e.GetProperty("event").GetString() == name)];
        foreach (var plan in new[] { Events(dryRun, "plan")[^1], Events(repair, "plan")[^1] })
        {
            Assert.Equal(Kept, plan.GetProperty("bytes_resumed").GetInt64());
            Assert.Equal(Size - Kept, plan.GetProperty("bytes_to_download").GetInt64());
        }
        // The dry run lists each file: this one resumes, with what it has on disk.
        var planned = Events(dryRun, "plan")[^1].GetProperty("entries").EnumerateArray().Single();
        Assert.Equal("resume", planned.GetProperty("action").GetString());
        Assert.Equal(Kept, planned.GetProperty("bytes_on_disk").GetInt64());
        Assert.Equal(Kept, Events(repair, "file_started").Single().GetProperty("resumed_bytes").GetInt64());
        Assert.Equal(Size - Kept, Events(repair, "summary").Single().GetProperty("bytes_fetched").GetInt64());
    }

    [Fact]
    public async Task A_small_file_s_partial_data_is_dropped_when_the_file_changed_on_the_hub()
    {
        const long Size = 6L * 1024 * 1024;
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/small-changed", repo => repo
            .File("weights.bin", SyntheticContent.Create(Size, seed: 34)));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        Directory.CreateDirectory(target);
        var main = store.MainSnapshot(RepoType.Model, "acme/small-changed");
        // What an interrupted run leaves: a journal naming a temporary file holding the first 2 MiB. Here the bytes are
        // garbage and the etag another one (the file changed on the Hub since): none of it may be kept.
        var temp = Path.Combine(target, ".weights.bin.0badc0de.hfdl-part");
        File.WriteAllBytes(temp, new byte[2 * 1024 * 1024]);
        WritePartialJournal(target, "acme/small-changed", "weights.bin", Size, new string('0', 64), temp, [[0, 2 * 1024 * 1024]]);
        var cli = new CliRunner(server, _temp);

        var result = await cli.RunAsync("download", "acme/small-changed", "--local-dir", target);

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(main, target);
        Assert.False(File.Exists(temp));
        Assert.Equal(Size, server.Requests.Snapshot().Where(r => r.Listener == "cdn").Sum(r => r.BodyBytesSent));
    }

    [Fact]
    public async Task A_big_file_journaled_before_its_first_byte_landed_starts_afresh_on_the_rerun()
    {
        const long Size = 3L * 1024 * 1024;
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/empty-partial", repo => repo
            .File("weights.bin", SyntheticContent.Create(Size, seed: 35)));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        Directory.CreateDirectory(target);
        var main = store.MainSnapshot(RepoType.Model, "acme/empty-partial");
        // What a run stopped right after opening the big file leaves: its temporary file, and no range written yet.
        var temp = Path.Combine(target, ".weights.bin.0badc0de.hfdl-part");
        File.WriteAllBytes(temp, new byte[Size]);
        WritePartialJournal(target, "acme/empty-partial", "weights.bin", Size, main.Files.Single().Content.Sha256, temp, []);
        var cli = new CliRunner(server, _temp);

        var result = await cli.RunAsync("download", "acme/empty-partial", "--local-dir", target, "--file-size-threshold", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(main, target);
        Assert.Empty(Directory.GetFiles(target, "*.hfdl-part"));
    }

    [Fact]
    public async Task A_download_never_removes_the_temporary_files_of_another_repo_s_folder_inside_its_own()
    {
        var store = new InMemoryRepoStore()
            .AddRepo(RepoType.Model, "acme/outer", repo => repo.File("config.json", "{}\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var outer = _temp.Combine("downloads");
        // Another repo's download folder inside this one (-d puts gpt2/x inside gpt2), with its journal and the
        // temporary file of a download in progress or interrupted, resumable.
        var inner = Path.Combine(outer, "acme", "inner");
        Directory.CreateDirectory(inner);
        File.WriteAllText(Path.Combine(inner, ".download_state"), "{}");
        var theirs = Path.Combine(inner, ".weights.bin.0123abcd.hfdl-part");
        File.WriteAllBytes(theirs, new byte[1024]);
        var locked = Path.Combine(outer, "other");
        Directory.CreateDirectory(locked);
        File.WriteAllText(Path.Combine(locked, ".hfdl.lock"), "");
        var lockedTemp = Path.Combine(locked, ".model.bin.4567cdef.hfdl-part");
        File.WriteAllBytes(lockedTemp, new byte[1024]);
        // A leftover of this repo's own, named by no journal: housekeeping removes it.
        var ours = Path.Combine(outer, ".config.json.89abcdef.hfdl-part");
        File.WriteAllBytes(ours, new byte[1024]);

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/outer", "--local-dir", outer);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(File.Exists(theirs), "another repo's temporary file was removed");
        Assert.True(File.Exists(lockedTemp), "a locked folder's temporary file was removed");
        Assert.False(File.Exists(ours));
    }

    [Theory]
    [InlineData("1")]      // every file big: the segmented path
    [InlineData("200")]    // every file small: one request each
    public async Task A_file_name_near_the_255_byte_limit_downloads_although_its_temporary_name_would_be_longer(string threshold)
    {
        // 254 bytes: legal, but ".<name>.<8 hex>.hfdl-part" would be 274.
        var longName = new string('L', 250) + ".txt";
        var utf8Name = "sub/" + string.Concat(Enumerable.Repeat("é", 120)) + ".bin"; // 244 bytes in UTF-8
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/long-names", repo => repo
            .File(longName, SyntheticContent.Create(300_000, seed: 36))
            .File(utf8Name, SyntheticContent.Create(200_000, seed: 37)));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/long-names", "--local-dir", target, "--file-size-threshold", threshold);

        Assert.True(result.ExitCode == 0, result.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/long-names"), target);
    }

    /// <summary>The journal an interrupted run leaves for one partial file of a model repo.</summary>
    private static void WritePartialJournal(string target, string repoId, string path, long size, string etag, string temp, long[][] ranges) =>
        File.WriteAllText(Path.Combine(target, ".download_state"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["schema"] = "hfdl.download_state",
            ["version"] = 1,
            ["repoType"] = "model",
            ["repoId"] = repoId,
            ["files"] = new Dictionary<string, object>
            {
                [path] = new Dictionary<string, object>
                {
                    ["size"] = size,
                    ["etag"] = etag,
                    ["status"] = "partial",
                    ["tempFile"] = Path.GetFileName(temp),
                    ["ranges"] = ranges,
                },
            },
        }));

    private static long BigFileBytesSent(HubServer server) =>
        server.Requests.Snapshot().Where(r => r.Listener == "cdn" && r.PathAndQuery.Contains("model.safetensors", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent);

    private static TimeSpan Median(List<TimeSpan> values) => values.Order().ElementAt(values.Count / 2);

    [Theory]
    [InlineData("INT", 130, "Interrupted.")]
    [InlineData("TERM", 143, "Stopped by SIGTERM.")]
    [InlineData("HUP", 129, "Stopped by SIGHUP.")]
    public async Task Ctrl_c_sigterm_and_sighup_stop_save_the_state_exit_128_plus_the_signal_and_the_same_command_finishes(string signal, int exitCode, string message)
    {
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--speed-test-duration", "0", "-t", "4"];

        using (var first = HfdlProcess.Start(cli.Environment, args))
        {
            await first.WaitUntilAsync(() => TryRecordedBytes(state, "model.safetensors") > 0, TimeSpan.FromSeconds(60), "part of the big file recorded");
            first.Signal(signal);
            var code = await first.WaitForExitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(exitCode, code);
            Assert.Contains($"{message} Run the same command again", first.Error, StringComparison.Ordinal);
        }
        // The journal was saved on the way out: it records what the last periodic save had not, and durably.
        Assert.True(RecordedBytes(state, "model.safetensors") > 0);
        Assert.Single(Directory.GetFiles(target, "*.hfdl-part"));

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
    }

    [Fact]
    public async Task An_interrupted_force_run_says_that_the_command_without_force_keeps_what_is_verified()
    {
        // helper-47: it said "Run the same command again to continue", while the same --force command starts from zero.
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--speed-test-duration", "0", "-t", "4"];
        Assert.Equal(0, (await cli.RunAsync(args)).ExitCode);

        using (var forced = HfdlProcess.Start(cli.Environment, [.. args, "--force"]))
        {
            await forced.WaitUntilAsync(() => TryRecordedBytes(state, "model.safetensors") is > 0 and < BigSize, TimeSpan.FromSeconds(60), "part of the big file recorded again");
            forced.Signal("INT");
            Assert.Equal(130, await forced.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("Interrupted. Run the same command without --force to keep the files verified on disk", forced.Error, StringComparison.Ordinal);
        }

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
    }

    [Fact]
    public async Task One_sigterm_delivered_twice_at_once_as_timeout_sends_it_is_one_graceful_stop()
    {
        // GNU timeout signals hfdl and then its process group: two SIGTERMs microseconds apart, once taken as a second
        // signal that skipped the journal's final save ("Stopped by SIGTERM again: hfdl exits now"; QA: helper-58 #2).
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var state = Path.Combine(target, ".download_state");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--speed-test-duration", "0", "-t", "4", "--json"];

        using (var run = HfdlProcess.Start(cli.Environment, args))
        {
            await run.WaitUntilAsync(() => TryRecordedBytes(state, "model.safetensors") > 0, TimeSpan.FromSeconds(60), "part of the big file recorded");
            run.Signal("TERM", times: 2);
            Assert.Equal(143, await run.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            var last = JsonDocument.Parse(run.Out.Trim().Split('\n')[^1]).RootElement;
            Assert.Equal("Stopped by SIGTERM. Run the same command again to continue; verified files are kept.", last.GetProperty("message").GetString());
            Assert.DoesNotContain("again: hfdl exits now", run.Out + run.Error, StringComparison.Ordinal);
        }

        var rerun = await cli.RunAsync(args);

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
    }

    [Fact]
    public void Stop_signals_at_once_are_one_request_a_later_one_exits_at_once_and_so_does_a_run_that_does_not_stop()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        using var source = new CancellationTokenSource();
        var exits = new List<int>();
        var said = new List<string>();
        var interruption = new Interruption(source, TimeSpan.FromSeconds(10), clock, exits.Add) { BeforeForcedExit = (message, _) => said.Add(message) };

        Assert.True(interruption.Stop(HfdlCommand.ExitTerminated, "Stopped by SIGTERM"));
        Assert.True(source.IsCancellationRequested);
        Assert.True(interruption.Stop(HfdlCommand.ExitTerminated, "Stopped by SIGTERM"), "the same SIGTERM to the process group");
        clock.Advance(Interruption.SameRequest - TimeSpan.FromMilliseconds(1));
        Assert.True(interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted"), "a Ctrl+C forwarded by a wrapper");
        Assert.Empty(exits);
        Assert.Equal(("Stopped by SIGTERM", HfdlCommand.ExitTerminated), interruption.Describe());

        clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.False(interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted"));
        Assert.Equal([HfdlCommand.ExitInterrupted], exits);
        Assert.Equal(["Interrupted again: hfdl exits now. " + Interruption.ContinueAdvice], said);

        var slowClock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        using var slowSource = new CancellationTokenSource();
        var slow = new Interruption(slowSource, TimeSpan.FromSeconds(10), slowClock, exits.Add) { BeforeForcedExit = (message, _) => said.Add(message) };
        slow.Stop(HfdlCommand.ExitHangUp, "Stopped by SIGHUP");
        slowClock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal([HfdlCommand.ExitInterrupted, HfdlCommand.ExitHangUp], exits);
        Assert.StartsWith("Stopped by SIGHUP, and the run did not stop within 10 s, so hfdl exits now.", said[^1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_second_ctrl_c_later_exits_at_once_and_the_json_stream_still_ends_with_an_error_event(bool force)
    {
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 3_000_000 });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        using var source = new CancellationTokenSource();
        var exits = new List<int>();
        var interruption = new Interruption(source, TimeSpan.FromSeconds(10), clock, exits.Add);
        var cli = new CliRunner(server, _temp) { Interruption = interruption };
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--json", .. force ? new[] { "--force" } : []];

        var run = cli.RunAsync(source.Token, args);
        while (TryRecordedBytes(Path.Combine(target, ".download_state"), "model.safetensors") == 0 && !run.IsCompleted)
        {
            await Task.Delay(20);
        }
        interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted");
        clock.Advance(Interruption.SameRequest + TimeSpan.FromMilliseconds(1));
        interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted");
        var result = await run;

        // The process ends where the exit is heard, so its last event is the one the forced exit wrote.
        Assert.Equal([HfdlCommand.ExitInterrupted], exits);
        var forced = result.Out.Split('\n').Where(l => l.Contains("again: hfdl exits now", StringComparison.Ordinal)).ToList();
        var last = JsonDocument.Parse(Assert.Single(forced)).RootElement;
        Assert.Equal("error", last.GetProperty("event").GetString());
        Assert.Equal(130, last.GetProperty("exit_code").GetInt32());
        // The same --force command starts over: a forced exit of one names the command that continues it.
        Assert.Contains(force ? "Run the same command without --force" : "Run the same command again", last.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, "ls", "acme/resume")]
    [InlineData(false, "download", "acme/resume", "--local-dir", "{target}", "--dry-run")]
    [InlineData(false, "download", "acme/resume", "--local-dir", "{target}", "--verify")]
    [InlineData(true, "download", "acme/resume", "--local-dir", "{target}")]
    [InlineData(true, "download", "acme/resume", "--local-dir", "{target}", "--verify", "--fix-broken")]
    public async Task Only_a_command_that_downloads_is_told_to_run_again_to_continue_when_stopped(bool writes, params string[] command)
    {
        // helper-58 #5: `hfdl ls` stopped said "Run the same command again to continue; verified files are kept."
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        string[] args = [.. command.Select(a => a == "{target}" ? target : a)];
        Directory.CreateDirectory(target);
        using var stopped = new CancellationTokenSource();
        await stopped.CancelAsync();

        var result = await new CliRunner(server, _temp).RunAsync(stopped.Token, args);

        Assert.True(result.ExitCode == 130, result.ToString());
        var advice = writes ? "Interrupted. Run the same command again to continue; verified files are kept." : "Interrupted.\n";
        Assert.Contains(advice, result.Error.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(writes, result.Error.Contains("Run the same command", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("garbage", "this is not json at all")]
    [InlineData("truncated", "{\"schema\":\"hfdl.download_state\",\"version\":1,\"repoType\":\"model\",\"repoId\":\"acme/res")]
    [InlineData("wrong schema", "{\"schema\":\"something.else\",\"version\":7,\"repoType\":\"model\",\"repoId\":\"acme/resume\",\"files\":{}}")]
    [InlineData("wrong repo", "{\"schema\":\"hfdl.download_state\",\"version\":1,\"repoType\":\"model\",\"repoId\":\"other/repo\",\"files\":{}}")]
    [InlineData("lying entry", "{\"schema\":\"hfdl.download_state\",\"version\":1,\"repoType\":\"model\",\"repoId\":\"acme/resume\",\"files\":{\"model.safetensors\":{\"size\":5,\"etag\":\"x\",\"status\":\"partial\",\"tempFile\":\"../../etc/passwd\",\"ranges\":[[0,5]]}}}")]
    public async Task A_state_file_that_fails_validation_is_set_aside_and_the_download_is_right(string kind, string content)
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        Directory.CreateDirectory(target);
        await File.WriteAllTextAsync(Path.Combine(target, ".download_state"), content);

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1");

        Assert.True(result.ExitCode == 0, $"{kind}: {result}");
        Assert.Contains("was not trusted", result.Error, StringComparison.Ordinal);
        Assert.Contains(Directory.GetFiles(target, ".download_state.invalid-*"), _ => true);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
    }

    [Fact]
    public async Task Bad_bytes_in_a_recorded_partial_file_are_never_kept()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var options = Engine.FastOptions with { BigFileThreshold = 1_000_000, ChunkSize = 1024 * 1024 };
        await StopOnceBigFileIsPartlyRecordedAsync(server, target, options);
        var part = Directory.GetFiles(target, "*.hfdl-part").Single();
        long recordedStart;
        using (var journal = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(target, ".download_state"))))
        {
            recordedStart = journal.RootElement.GetProperty("files").GetProperty("model.safetensors").GetProperty("ranges")[0][0].GetInt64();
        }
        await using (var stream = new FileStream(part, FileMode.Open, FileAccess.Write))
        {
            stream.Position = recordedStart + 1000;
            stream.Write(new byte[4096]); // zeros where the journal says good bytes are
        }

        var (summary, events) = await Engine.DownloadAsync(server, "acme/resume", target, options);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        Assert.Contains(events, e => e is FileRetrying { Path: "model.safetensors" });
    }

    [Fact]
    public async Task A_journal_that_records_more_than_the_temporary_file_holds_fetches_the_rest_again()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var options = Engine.FastOptions with { BigFileThreshold = 1_000_000, ChunkSize = 1024 * 1024 };
        var state = Path.Combine(target, ".download_state");
        await StopOnceBigFileIsPartlyRecordedAsync(server, target, options);
        // What a power cut leaves: the journal (saved without an fsync) claims the whole file, while the temporary file
        // (reserved without growing) ends where the writes that reached the disk ended.
        var part = Directory.GetFiles(target, "*.hfdl-part").Single();
        var journal = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(state))!;
        journal["files"]!["model.safetensors"]!["ranges"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonArray(0, BigSize));
        File.WriteAllText(state, journal.ToJsonString());
        await using (var stream = new FileStream(part, FileMode.Open, FileAccess.Write))
        {
            stream.SetLength(1024 * 1024);
        }

        var (summary, _) = await Engine.DownloadAsync(server, "acme/resume", target, options);

        Assert.Equal(0, summary.FilesFailed);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
    }

    [Fact]
    public async Task Two_runs_at_once_on_the_same_folder_do_not_corrupt_each_other()
    {
        var store = Store(HubFaults.None with { PerConnectionBytesPerSecond = 20_000_000 });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        string[] args = ["download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1"];

        var results = await Task.WhenAll(new CliRunner(server, _temp).RunAsync(args), new CliRunner(server, _temp).RunAsync(args));

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.ToString()));
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        Assert.Contains(results, r => r.Error.Contains("Another hfdl is downloading", StringComparison.Ordinal));
        Assert.Contains(results, r => r.Error.Contains("Downloaded 0 files", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Verify_reports_corrupt_truncated_missing_and_extra_files_and_fix_broken_repairs_exactly_those()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var cli = new CliRunner(server, _temp);
        var first = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1");
        Assert.True(first.ExitCode == 0, first.ToString());

        var tokenizer = Path.Combine(target, "tokenizer.json");
        var bytes = await File.ReadAllBytesAsync(tokenizer);
        bytes[12345] ^= 0x01;
        await File.WriteAllBytesAsync(tokenizer, bytes);
        File.SetLastWriteTimeUtc(tokenizer, File.GetLastWriteTimeUtc(tokenizer).AddSeconds(-100));
        await using (var model = new FileStream(Path.Combine(target, "model.safetensors"), FileMode.Open))
        {
            model.SetLength(1000);
        }
        File.Delete(Path.Combine(target, "vocab.txt"));
        await File.WriteAllTextAsync(Path.Combine(target, "notes.txt"), "mine\n");

        var verify = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--verify");

        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("corrupt  tokenizer.json", verify.Error, StringComparison.Ordinal);
        Assert.Contains("corrupt  model.safetensors (1000 bytes", verify.Error, StringComparison.Ordinal);
        Assert.Contains("missing  vocab.txt", verify.Error, StringComparison.Ordinal);
        Assert.Contains("extra    notes.txt", verify.Error, StringComparison.Ordinal);
        Assert.Contains("1 ok, 2 corrupt, 1 missing, 1 extra", verify.Error, StringComparison.Ordinal);
        // The plan line of a verification says what it does, not "to download: 0 files".
        Assert.Contains("each file on disk is hashed and compared with the Hub's hash (nothing is downloaded)", verify.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("to download: 0 files", verify.Error, StringComparison.Ordinal);

        server.Requests.Clear();
        var fix = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--verify", "--fix-broken", "--file-size-threshold", "1");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        var fetched = server.Requests.Snapshot().Where(r => r.StatusCode is 200 or 206 && (r.Listener == "cdn" || r.PathAndQuery.Contains("resolve", StringComparison.Ordinal)))
            .Select(r => r.PathAndQuery).ToList();
        Assert.DoesNotContain(fetched, p => p.Contains("config.json", StringComparison.Ordinal));
        Assert.Contains(fetched, p => p.Contains("vocab.txt", StringComparison.Ordinal));
        Assert.Equal("mine\n", await File.ReadAllTextAsync(Path.Combine(target, "notes.txt")));
    }

    [Fact]
    public async Task Verify_with_fix_broken_repairs_without_hashing_the_files_it_just_verified_a_second_time()
    {
        // helper-49: the repair that follows --verify planned every file of the right size as "to check" and hashed it
        // again, doubling the time of a run over a big model.
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var cli = new CliRunner(server, _temp);
        var first = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1");
        Assert.True(first.ExitCode == 0, first.ToString());
        // The journal goes, so nothing vouches for the files but the verification's hashing.
        File.Delete(Path.Combine(target, ".download_state"));
        var tokenizer = Path.Combine(target, "tokenizer.json");
        var bytes = await File.ReadAllBytesAsync(tokenizer);
        bytes[12345] ^= 0x01;
        await File.WriteAllBytesAsync(tokenizer, bytes);
        File.Delete(Path.Combine(target, "vocab.txt"));

        var fix = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--verify", "--fix-broken", "--file-size-threshold", "1", "--json");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
        var plans = fix.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("event").GetString() == "plan").ToList();
        Assert.Equal(2, plans.Count);
        var repair = plans[1];
        // config.json and model.safetensors verified ok: present. tokenizer.json (corrupt) and vocab.txt (missing): fetched.
        Assert.Equal(0, repair.GetProperty("files_to_verify").GetInt32());
        Assert.Equal(2, repair.GetProperty("files_present").GetInt32());
        Assert.Equal(2, repair.GetProperty("files_to_download").GetInt32());

        // The files it trusted are in the journal now: the next run keeps them unread.
        var again = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--file-size-threshold", "1", "--json");
        var plan = JsonDocument.Parse(again.Out.Split('\n')[0]).RootElement;
        Assert.Equal(4, plan.GetProperty("files_present").GetInt32());
    }

    [Fact]
    public async Task Force_downloads_everything_again()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var cli = new CliRunner(server, _temp);
        await cli.RunAsync("download", "acme/resume", "--local-dir", target);
        server.Requests.Clear();

        var forced = await cli.RunAsync("download", "acme/resume", "--local-dir", target, "--force");

        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Contains("Downloaded 4 files", forced.Error, StringComparison.Ordinal);
        RepoAssert.BitExact(store.MainSnapshot(RepoType.Model, "acme/resume"), target);
    }

    [Fact]
    public async Task Min_free_space_refuses_to_start_with_a_clear_message()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/resume", "--local-dir", target, "--min-free-space", "1000000000000");

        var cache = _temp.Combine("cache");
        var cached = await new CliRunner(server, _temp).RunAsync("download", "acme/resume", "--cache-dir", cache, "--min-free-space", "1000000000000");
        var jsonTarget = _temp.Combine("json");
        var json = await new CliRunner(server, _temp).RunAsync("download", "acme/resume", "--local-dir", jsonTarget, "--min-free-space", "1000000000000", "--json");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Not enough disk space", result.Error, StringComparison.Ordinal);
        // Refused before anything is written: no folder, lock, ref or listing is left behind (QA: stop 27).
        Assert.False(Directory.Exists(target), string.Join("\n", Directory.Exists(target) ? Directory.GetFileSystemEntries(target, "*", SearchOption.AllDirectories) : []));
        Assert.Equal(1, cached.ExitCode);
        Assert.Contains("Not enough disk space", cached.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(cache, "models--acme--resume")));
        // The plan was made before the refusal, and is written before its error (QA: helper-49: the error came alone).
        Assert.Equal(1, json.ExitCode);
        var events = json.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
        Assert.Equal(["plan", "error"], events.Select(e => e.GetProperty("event").GetString()));
        Assert.Equal(4, events[0].GetProperty("files_to_download").GetInt32());
        Assert.Equal(40, events[0].GetProperty("commit").GetString()!.Length);
        Assert.Equal(1, events[1].GetProperty("exit_code").GetInt32());
        Assert.Contains("Not enough disk space", events[1].GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(jsonTarget));
    }

    [Fact]
    public async Task Min_free_space_never_refuses_a_run_that_writes_nothing_and_the_dry_run_says_what_the_run_would_do()
    {
        var store = Store();
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var target = _temp.Combine("out");
        var cli = new CliRunner(server, _temp);
        string[] args = ["download", "acme/resume", "--local-dir", target, "--min-free-space", "1000000000000"];

        var refusedDryRun = await cli.RunAsync([.. args, "--dry-run"]);
        var refusedJson = await cli.RunAsync([.. args, "--dry-run", "--json"]);
        Assert.Equal(0, (await cli.RunAsync("download", "acme/resume", "--local-dir", target)).ExitCode);
        var complete = await cli.RunAsync(args);
        var fixBroken = await cli.RunAsync([.. args, "--fix-broken"]);
        var passingDryRun = await cli.RunAsync([.. args, "--dry-run"]);
        var passingJson = await cli.RunAsync([.. args, "--dry-run", "--json"]);

        // The dry run exits as the download would: 1 when it would refuse to start (QA: helper-35 saw 0).
        Assert.True(refusedDryRun.ExitCode == 1, refusedDryRun.ToString());
        Assert.Equal(1, refusedJson.ExitCode);
        Assert.Contains("the download would refuse to start", refusedDryRun.Error, StringComparison.Ordinal);
        Assert.False(DiskSpace(refusedJson).GetProperty("fits").GetBoolean());
        // The summary's exit_code is the process's: it said 0 while the dry run exited 1 (QA: helper-49).
        Assert.Equal(1, LastEvent(refusedJson, "summary").GetProperty("exit_code").GetInt32());
        Assert.Equal(0, LastEvent(passingJson, "summary").GetProperty("exit_code").GetInt32());
        Assert.True(complete.ExitCode == 0, complete.ToString());
        Assert.True(fixBroken.ExitCode == 0, fixBroken.ToString());
        Assert.Equal(0, passingDryRun.ExitCode);
        Assert.Matches("Disk space: nothing to write, so the reserve of .+ \\(--min-free-space\\) does not stop the download", passingDryRun.Error);
        var passing = DiskSpace(passingJson);
        Assert.True(passing.GetProperty("fits").GetBoolean());
        Assert.Equal(0, passing.GetProperty("bytes_needed").GetInt64());
        Assert.Equal(1_000_000_000_000_000_000, passing.GetProperty("bytes_reserved").GetInt64());
    }

    private static JsonElement DiskSpace(CliResult dryRun) =>
        JsonDocument.Parse(dryRun.Out.Split('\n')[0]).RootElement.GetProperty("disk_space").Clone();

    private static JsonElement LastEvent(CliResult run, string name)
    {
        var last = JsonDocument.Parse(run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.Clone();
        Assert.Equal(name, last.GetProperty("event").GetString());
        return last;
    }

    [Fact]
    public async Task A_rejected_token_is_read_again_once_from_its_source()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/private", repo => repo
            .File("a.txt", "secret\n")
            .Settings(s => s with { Private = true, AllowedTokens = ["hf_new_token"] }));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store, Users = [new HubUser("hf_new_token", "alice", [])] });
        using var client = new HubClient(new HubClientOptions
        {
            Endpoint = server.Endpoint,
            Token = new AccessToken("hf_expired_token", TokenOrigin.TokenFile, "token"),
            ReloadToken = () => new AccessToken("hf_new_token", TokenOrigin.TokenFile, "token"),
        });

        var summary = await new RepoDownloader(client, Engine.FastOptions).DownloadAsync(new DownloadRequest
        {
            RepoType = RepoType.Model,
            RepoId = RepoId.Parse("acme/private"),
            TargetFolder = _temp.Combine("out"),
        }, null, CancellationToken.None);

        Assert.Equal(1, summary.FilesDownloaded);
        Assert.Contains(server.Requests.Snapshot(), r => r.StatusCode == 401 && r.Authorization == "Bearer hf_expired_token");
    }
}
