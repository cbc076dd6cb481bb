using Hfdl.Cli.Output;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Microsoft.Extensions.Time.Testing;
using Spectre.Console;
using Spectre.Console.Rendering;
using Spectre.Console.Testing;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>The live display's model and view, rendered on a fixed-width fake console (no live refresh).</summary>
public sealed class ProgressRenderingTests
{
    private readonly FakeTimeProvider _time = new();

    private static string Render(IRenderable renderable, int width = 110)
    {
        var console = new TestConsole().Width(width);
        console.Write(renderable);
        return console.Output;
    }

    private ProgressModel Planned(long bytesToDownload = 10_000_000, int files = 4)
    {
        var model = new ProgressModel(_time);
        model.Report(new RevisionResolved(RepoType.Model, RepoId.Parse("acme/demo"), "main", new string('c', 40)));
        model.Report(new PlanReady("/data/acme/demo", files + 1, bytesToDownload + 10, files, bytesToDownload, 1, 5_000_000));
        return model;
    }

    [Fact]
    public void The_live_view_shows_the_overall_bar_speed_eta_counters_and_a_line_per_active_file()
    {
        var model = Planned();
        model.Report(new FileStarted("model-00001-of-00002.safetensors", 6_000_000, IsBig: true));
        model.Report(new FileStarted("config.json", 1_000_000, IsBig: false));
        model.Snapshot();
        _time.Advance(TimeSpan.FromSeconds(1));
        model.Report(new FileProgress("model-00001-of-00002.safetensors", 3_000_000, 6_000_000));
        model.Report(new FileProgress("config.json", 1_000_000, 1_000_000));
        model.Report(new FileCompleted("config.json", 1_000_000, "git-sha1:" + new string('a', 40), TimeSpan.FromSeconds(1)));
        model.Snapshot();
        _time.Advance(TimeSpan.FromSeconds(1));
        model.Report(new FileProgress("model-00001-of-00002.safetensors", 5_000_000, 6_000_000));
        model.Report(new TransferStats(4, 4, 3_000_000, [800_000, 750_000, 700_000, 750_000], "Steady"));

        var text = Render(ProgressView.Live(model.Snapshot(), 110, unicode: true));

        Assert.Contains("acme/demo", text, StringComparison.Ordinal);
        Assert.Contains("main (cccccccc)", text, StringComparison.Ordinal);
        Assert.Contains(" 60%  6.0 MB / 10.0 MB  3.0 MB/s  ETA 1.3 s", text, StringComparison.Ordinal);
        Assert.Contains("1 done · 1 skipped · 0 failed · 1 active · 2 queued", text, StringComparison.Ordinal);
        Assert.Contains("model-00001-of-00002.safetensors", text, StringComparison.Ordinal);
        Assert.Contains("5.0 MB / 6.0 MB", text, StringComparison.Ordinal);
        Assert.Contains("big", text, StringComparison.Ordinal);
        Assert.Contains("4 connections (target 4, Steady) 3.0 MB/s: 0.8 0.8 0.7 0.8 MB/s", text, StringComparison.Ordinal);
        Assert.DoesNotContain("config.json", text, StringComparison.Ordinal);
        Assert.All(text.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 110, line));
    }

    [Fact]
    public void A_file_without_progress_for_five_seconds_is_marked_stalled_and_the_mark_goes_when_bytes_flow()
    {
        var model = Planned();
        model.Report(new FileStarted("weights.bin", 5_000_000, IsBig: false));
        model.Report(new FileProgress("weights.bin", 1_000_000, 5_000_000));

        _time.Advance(TimeSpan.FromSeconds(4));
        var before = Render(ProgressView.Live(model.Snapshot(), 110, unicode: true));
        _time.Advance(TimeSpan.FromSeconds(3));
        var stalled = Render(ProgressView.Live(model.Snapshot(), 110, unicode: true));
        model.Report(new FileProgress("weights.bin", 1_500_000, 5_000_000));
        var after = Render(ProgressView.Live(model.Snapshot(), 110, unicode: true));

        Assert.DoesNotContain("STALLED", before, StringComparison.Ordinal);
        Assert.Contains("STALLED 7 s", stalled, StringComparison.Ordinal);
        Assert.DoesNotContain("STALLED", after, StringComparison.Ordinal);
    }

    [Fact]
    public void A_big_file_no_connection_works_on_is_waiting_not_stalled_until_one_takes_it()
    {
        // helper-58 #4: one connection (a slow hub, --max-speed) on the first big file showed the second as
        // "STALLED 19 s" for as long as it waited its turn.
        var writer = new StringWriter();
        using var plain = new Hfdl.Cli.PlainProgress(writer, quiet: false, time: _time, statusInterval: TimeSpan.FromHours(1));
        var model = Planned(bytesToDownload: 10_000_000, files: 2);
        void Report(DownloadEvent e)
        {
            model.Report(e);
            plain.Report(e);
        }
        plain.Report(new PlanReady("/data/acme/demo", 3, 10_000_010, 2, 10_000_000, 1, 5_000_000));
        Report(new FileStarted("first.bin", 5_000_000, IsBig: true));
        Report(new FileStarted("second.bin", 5_000_000, IsBig: true));
        for (var second = 1; second <= 20; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            Report(new FileProgress("first.bin", second * 200_000, 5_000_000) { Connections = 1 });
            Report(new FileProgress("second.bin", 0, 5_000_000) { Connections = 0 });
        }
        var waiting = model.Snapshot();
        var live = Render(ProgressView.Live(waiting, 110, unicode: true));
        plain.WriteStatus();
        // A connection takes it: a stall counts from then on, not from when it started waiting.
        Report(new FileProgress("second.bin", 0, 5_000_000) { Connections = 1 });
        _time.Advance(TimeSpan.FromSeconds(4));
        var taken = model.Snapshot();
        _time.Advance(TimeSpan.FromSeconds(2));
        var stalled = model.Snapshot();

        var waitingFile = waiting.Active.Single(f => f.Path == "second.bin");
        Assert.Null(waitingFile.StalledFor);
        Assert.True(waitingFile.WaitingForConnection);
        Assert.DoesNotContain("STALLED", live, StringComparison.Ordinal);
        Assert.Contains("waiting", live.Split('\n').Single(l => l.Contains("second.bin", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains("second.bin 0% waiting for a connection", writer.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("STALLED", writer.ToString(), StringComparison.Ordinal);
        Assert.All(taken.Active, f => Assert.Null(f.StalledFor));
        Assert.False(taken.Active.Single(f => f.Path == "second.bin").WaitingForConnection);
        Assert.Equal(TimeSpan.FromSeconds(6), stalled.Active.Single(f => f.Path == "second.bin").StalledFor);
    }

    [Fact]
    public void A_file_waiting_to_retry_shows_the_retry_instead_of_stalled()
    {
        var model = Planned();
        model.Report(new FileStarted("weights.bin", 5_000_000, IsBig: false));
        _time.Advance(TimeSpan.FromSeconds(6));
        model.Report(new FileRetrying("weights.bin", 2, "The Hub answered 503.", TimeSpan.FromSeconds(4)));
        _time.Advance(TimeSpan.FromSeconds(1));

        var text = Render(ProgressView.Live(model.Snapshot(), 110, unicode: true));

        Assert.Contains("retry 2 in 3.0 s: The Hub answered 503.", text, StringComparison.Ordinal);
        Assert.All(text.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 110, line));
        Assert.DoesNotContain("STALLED", text, StringComparison.Ordinal);
        Assert.Contains("1 retry", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Active_file_rows_are_laid_out_by_the_cells_their_names_take_as_shown_and_never_pass_the_width()
    {
        // Escaped names are longer than the raw ones, CJK characters take two cells, 40 zero-width spaces take none
        // raw and 240 escaped: every row still puts its bar in the same column, and none is wider than the display.
        string[] names =
        [
            "bidi\u202Etxt.exe",
            "验证集.json",
            "训练数据_第一部分_训练数据_第二部分.json",
            string.Concat(Enumerable.Repeat("\u200B", 40)) + ".bin",
            "plain.bin",
        ];
        var model = Planned(bytesToDownload: 5_000_000, files: names.Length);
        foreach (var name in names)
        {
            model.Report(new FileStarted(name, 1_000_000, IsBig: false));
            model.Report(new FileProgress(name, 400_000, 1_000_000));
        }
        model.Report(new FileRetrying(names[1], 2, "'验证集.json' answered 503: 服务暂时不可用，请稍后再试。服务暂时不可用，请稍后再试。 \u202E", TimeSpan.FromSeconds(9)));

        foreach (var width in new[] { 80, 100 })
        {
            var rows = Render(ProgressView.Live(model.Snapshot(), width, unicode: true), width: 300).Split('\n').Select(r => r.TrimEnd()).ToList();

            Assert.All(rows, row => Assert.True(row.GetCellWidth() <= width, $"{row.GetCellWidth()} cells: {row}"));
            var files = rows.Where(r => r.StartsWith("  ", StringComparison.Ordinal) && r.IndexOfAny(['━', '─']) > 0).ToList();
            Assert.Equal(names.Length, files.Count);
            Assert.Single(files.Select(r => r[..r.IndexOfAny(['━', '─'])].GetCellWidth()).Distinct());
            Assert.Contains(files, r => r.Contains("2Etxt.exe", StringComparison.Ordinal));
            Assert.DoesNotContain(rows, r => r.Contains('\u202E', StringComparison.Ordinal) || r.Contains('\u200B', StringComparison.Ordinal));
            Assert.Contains(rows, r => r.Contains("↻ retry 2 in", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void A_narrow_terminal_gets_rows_that_fit_it_dropping_the_speed_then_the_bars_before_the_names()
    {
        // The layout assumed 40 columns at least and file rows of 75: narrower terminals wrapped every row, and each
        // redraw left stale lines behind (QA: stop 27).
        var model = Planned(bytesToDownload: 5_000_000_000, files: 3);
        model.Report(new FileStarted("model-00001-of-00002.safetensors", 4_000_000_000, IsBig: true));
        model.Report(new FileProgress("model-00001-of-00002.safetensors", 1_500_000_000, 4_000_000_000));
        model.Report(new FileStarted("config.json", 1_000, IsBig: false));
        model.Report(new FileRetrying("config.json", 3, "'config.json' answered 503: Service Unavailable", TimeSpan.FromSeconds(9)));
        var stalledAt = model.Snapshot();
        var stalled = stalledAt with { Active = [.. stalledAt.Active.Select(f => f with { StalledFor = TimeSpan.FromSeconds(1234) })] };

        foreach (var width in new[] { 20, 30, 45, 60, 70, 80, 100, 140 })
        {
            foreach (var unicode in new[] { true, false })
            {
                var rows = Render(ProgressView.Live(stalled, width, unicode), width: 300).Split('\n').Select(r => r.TrimEnd()).ToList();

                Assert.All(rows, row => Assert.True(row.GetCellWidth() <= width, $"{width} columns, a row of {row.GetCellWidth()} cells: {row}"));
                Assert.Contains(rows, r => r.Contains("STALLED 1234 s", StringComparison.Ordinal) || width < 40);
                Assert.Contains(rows, r => r.Contains("safetensors", StringComparison.Ordinal) || width < 45);
            }
        }
        var wide = Render(ProgressView.Live(stalled, 140, unicode: true), width: 300);
        var narrow = Render(ProgressView.Live(stalled, 45, unicode: true), width: 300);
        Assert.Contains("1.5 GB / 4.0 GB", wide, StringComparison.Ordinal);
        Assert.Contains("...02.safetensors  38% big", narrow, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(80, "model.safetensors", true, true)]
    [InlineData(80, "onnx/decoder_model_merged_quantized.onnx", false, true)]
    [InlineData(60, "model.safetensors", false, true)]
    [InlineData(48, "model.safetensors", false, false)]
    [InlineData(30, "model.safetensors", false, false)]
    public void A_file_row_drops_its_speed_then_its_bar_before_it_shortens_the_name(int width, string name, bool speed, bool bar)
    {
        // At 80 columns "model.safetensors" was cut to "...fetensors" beside its bar, bytes and speed, with 20 columns
        // left blank for a " big" and a " STALLED" the row did not show (QA: helper-49).
        var model = Planned(bytesToDownload: 60_000_000, files: 1);
        model.Report(new FileStarted(name, 60_000_000, IsBig: false));
        model.Report(new FileProgress(name, 8_400_000, 60_000_000));
        _time.Advance(TimeSpan.FromSeconds(4));
        model.Report(new FileProgress(name, 8_400_001, 60_000_000));

        var rows = Render(ProgressView.Live(model.Snapshot(), width, unicode: true), width: 300).Split('\n').Select(r => r.TrimEnd()).ToList();

        var row = Assert.Single(rows, r => r.StartsWith("  ", StringComparison.Ordinal) && r.Contains(name, StringComparison.Ordinal));
        Assert.True(row.GetCellWidth() <= width, $"{row.GetCellWidth()} cells: {row}");
        Assert.Equal(speed, row.EndsWith("/s", StringComparison.Ordinal));
        Assert.Equal(bar, row.IndexOfAny(['━', '─']) > 0);
        Assert.Contains(width >= 48 ? "8.4 MB / 60.0 MB" : " 14%", row, StringComparison.Ordinal);
    }

    [Fact]
    public void Totals_never_go_backwards_nor_inflate_when_a_file_restarts_after_a_retry()
    {
        var model = Planned(bytesToDownload: 1000, files: 1);
        var seen = new List<ProgressSnapshot>();
        model.Report(new FileStarted("a.bin", 1000, IsBig: false));
        model.Report(new FileProgress("a.bin", 600, 1000));
        seen.Add(model.Snapshot());
        model.Report(new FileRetrying("a.bin", 2, "content did not match the expected hash", TimeSpan.Zero));
        model.Report(new FileProgress("a.bin", 200, 1000));
        seen.Add(model.Snapshot());
        model.Report(new FileProgress("a.bin", 700, 1000));
        seen.Add(model.Snapshot());
        model.Report(new FileProgress("a.bin", 1000, 1000));
        model.Report(new FileCompleted("a.bin", 1000, "git-sha1:" + new string('a', 40), TimeSpan.FromSeconds(1)));
        seen.Add(model.Snapshot());

        Assert.Equal([600L, 600, 700, 1000], seen.Select(s => s.BytesDone));
        Assert.All(seen, s => Assert.Equal(1000, s.BytesTotal));
        Assert.Equal(1000, seen[^1].BytesTransferred);
        Assert.Equal(1.0, seen[^1].Fraction);
    }

    [Fact]
    public void Progress_beyond_a_files_size_is_not_counted()
    {
        var model = Planned(bytesToDownload: 1000, files: 1);
        model.Report(new FileStarted("a.bin", 1000, IsBig: false));
        model.Report(new FileProgress("a.bin", 5000, 1000));

        Assert.Equal(1000, model.Snapshot().BytesDone);
    }

    [Fact]
    public void A_failed_file_leaves_the_total_without_taking_back_its_bytes()
    {
        var model = Planned(bytesToDownload: 2000, files: 2);
        model.Report(new FileStarted("a.bin", 1000, IsBig: false));
        model.Report(new FileStarted("b.bin", 1000, IsBig: false));
        model.Report(new FileProgress("a.bin", 400, 1000));
        var before = model.Snapshot();
        model.Report(new FileFailed("a.bin", "'a.bin' failed."));
        var after = model.Snapshot();

        Assert.Equal(400, before.BytesDone);
        Assert.Equal(400, after.BytesDone);
        Assert.Equal(1400, after.BytesTotal);
        Assert.Equal(1, after.FilesFailed);
    }

    [Fact]
    public void Resumed_bytes_count_as_done_but_not_as_speed()
    {
        var model = Planned(bytesToDownload: 10_000_000, files: 1);
        model.Snapshot();
        model.Report(new FileStarted("big.bin", 10_000_000, IsBig: true, ResumedBytes: 6_000_000));
        _time.Advance(TimeSpan.FromSeconds(1));
        model.Report(new FileProgress("big.bin", 7_000_000, 10_000_000));

        var snapshot = model.Snapshot();

        Assert.Equal(7_000_000, snapshot.BytesDone);
        Assert.Equal(1_000_000, snapshot.BytesTransferred);
        Assert.Equal(1_000_000, snapshot.BytesPerSecond, 1);
        Assert.Equal(1_000_000, snapshot.Active.Single().BytesPerSecond, 1);
    }

    [Fact]
    public void Retries_of_one_file_are_shown_at_most_once_a_second_in_plain_and_live_output()
    {
        // A server restart makes each of a big file's connections retry at once: one line, not forty.
        var writer = new StringWriter();
        using var plain = new Hfdl.Cli.PlainProgress(writer, quiet: false, time: _time, statusInterval: TimeSpan.FromHours(1));
        var model = Planned(bytesToDownload: 10_000_000, files: 1);
        model.Report(new FileStarted("big.bin", 10_000_000, IsBig: true));
        for (var second = 0; second < 2; second++)
        {
            for (var connection = 0; connection < 40; connection++)
            {
                var retry = new FileRetrying("big.bin", 1, "Connection refused", TimeSpan.FromSeconds(1));
                plain.Report(retry);
                model.Report(retry);
            }
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        plain.Report(new FileRetrying("other.bin", 1, "Connection refused", TimeSpan.FromSeconds(1)));

        Assert.Equal(3, writer.ToString().Split('\n').Count(l => l.StartsWith("retry ", StringComparison.Ordinal)));
        Assert.Equal(2, model.DrainLog().OfType<FileRetrying>().Count());
    }

    [Fact]
    public void No_eta_is_promised_in_the_first_second_of_transfer()
    {
        var model = Planned(bytesToDownload: 10_000_000, files: 1);
        model.Report(new FileStarted("big.bin", 10_000_000, IsBig: true));
        model.Snapshot();
        _time.Advance(TimeSpan.FromMilliseconds(300));
        model.Report(new FileProgress("big.bin", 1_000, 10_000_000));
        var early = model.Snapshot();
        _time.Advance(TimeSpan.FromMilliseconds(600));
        model.Report(new FileProgress("big.bin", 2_000_000, 10_000_000));
        var stillEarly = model.Snapshot();
        _time.Advance(TimeSpan.FromMilliseconds(500));
        model.Report(new FileProgress("big.bin", 4_000_000, 10_000_000));
        var settled = model.Snapshot();

        Assert.Null(early.Eta);
        Assert.Null(stillEarly.Eta);
        Assert.NotNull(settled.Eta);
        Assert.Contains("ETA --", Render(ProgressView.Live(early, 110, unicode: true)), StringComparison.Ordinal);
    }

    [Fact]
    public void The_speed_is_a_sliding_window_average_that_falls_to_zero_when_nothing_arrives()
    {
        var model = Planned(bytesToDownload: 100_000_000, files: 1);
        model.Report(new FileStarted("a.bin", 100_000_000, IsBig: false));
        model.Snapshot();
        for (var second = 1; second <= 3; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            model.Report(new FileProgress("a.bin", second * 2_000_000L, 100_000_000));
            model.Snapshot();
        }
        var flowing = model.Snapshot().BytesPerSecond;
        for (var second = 0; second < 6; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            model.Snapshot();
        }

        Assert.Equal(2_000_000, flowing, 1);
        Assert.Equal(0, model.Snapshot().BytesPerSecond);
        Assert.Null(model.Snapshot().Eta);
    }

    [Fact]
    public void Many_threads_reporting_at_once_add_up_exactly()
    {
        var model = Planned(bytesToDownload: 64 * 10_000, files: 64);
        Parallel.For(0, 64, i =>
        {
            var path = $"f{i}.bin";
            model.Report(new FileStarted(path, 10_000, IsBig: false));
            for (var b = 1_000; b <= 10_000; b += 1_000)
            {
                model.Report(new FileProgress(path, b, 10_000));
                if (b % 3_000 == 0)
                {
                    model.Snapshot();
                }
            }
            model.Report(new FileCompleted(path, 10_000, "git-sha1:" + new string('a', 40), TimeSpan.FromSeconds(1)));
        });

        var snapshot = model.Snapshot();

        Assert.Equal(640_000, snapshot.BytesDone);
        Assert.Equal(640_000, snapshot.BytesTransferred);
        Assert.Equal(64, snapshot.FilesDone);
        Assert.Empty(snapshot.Active);
    }

    [Fact]
    public void Without_unicode_the_view_uses_ascii_bars()
    {
        var model = Planned();
        model.Report(new FileStarted("a.bin", 1_000_000, IsBig: false));
        model.Report(new FileProgress("a.bin", 500_000, 1_000_000));

        var text = Render(ProgressView.Live(model.Snapshot(), 80, unicode: false));

        Assert.Contains("#", text, StringComparison.Ordinal);
        Assert.DoesNotContain("━", text, StringComparison.Ordinal);
        Assert.DoesNotContain("·", text, StringComparison.Ordinal);
    }

    [Fact]
    public void More_active_files_than_fit_are_counted_on_one_line()
    {
        var model = Planned(bytesToDownload: 30_000, files: 30);
        for (var i = 0; i < 14; i++)
        {
            model.Report(new FileStarted($"file{i:00}.txt", 1_000, IsBig: false));
        }

        var text = Render(ProgressView.Live(model.Snapshot(), 110, unicode: true));

        Assert.Contains("file09.txt", text, StringComparison.Ordinal);
        Assert.DoesNotContain("file10.txt", text, StringComparison.Ordinal);
        Assert.Contains("... and 4 more active", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_plan_table_shows_path_size_kind_storage_and_action()
    {
        var plan = new DownloadPlan(RepoType.Model, RepoId.Parse("acme/demo"), "main", new string('c', 40), "/data/acme/demo", 5_000_000,
        [
            new PlannedFile("config.json", 30, IsLfs: false, IsBig: false, PlannedAction.Present, 30),
            new PlannedFile("model.safetensors", 8_000_000, IsLfs: true, IsBig: true, PlannedAction.Resume, 3_000_000),
            new PlannedFile("tokenizer.json", 2_000, IsLfs: false, IsBig: false, PlannedAction.Download, 0),
        ], null);

        var text = Render(ProgressView.PlanTable(plan, unicode: true), 120);
        var totals = string.Join("\n", ProgressView.PlanTotals(plan));

        Assert.Matches(@"config\.json\s+│\s+30 B\s+│ small │ regular │ present", text);
        Assert.Matches(@"model\.safetensors\s+│\s+8\.0 MB\s+│ big\s+│ LFS\s+│ resume \(3\.0 MB on disk\)", text);
        Assert.Matches(@"tokenizer\.json\s+│\s+2\.0 kB\s+│ small │ regular │ download", text);
        Assert.Contains("3 files, 8.0 MB; to download: 2 files, 5.0 MB (resumed: 3.0 MB already on disk); already present: 1 files; big files (>= 5.0 MB): 1", totals, StringComparison.Ordinal);
    }

    [Fact]
    public void The_summary_says_what_was_done_how_fast_whether_it_is_verified_and_where()
    {
        var ok = ProgressView.SummaryLines(new DownloadSummary("/data/acme/demo", new string('c', 40), 3, 2, 0, 50_000_000, TimeSpan.FromSeconds(10)), []);
        var failed = ProgressView.SummaryLines(new DownloadSummary("/data/acme/demo", new string('c', 40), 3, 2, 1, 50_000_000, TimeSpan.FromSeconds(10)), [new FileFailed("x.bin", "'x.bin' failed.")]);

        Assert.Equal("Downloaded 3 files (50.0 MB) in 10.0 s at 5.0 MB/s; 2 already present, 0 failed.", ok[0]);
        Assert.StartsWith("Every file is verified: all 5 match the Hub's hashes", ok[1], StringComparison.Ordinal);
        Assert.Equal("Files are in /data/acme/demo", ok[^1]);
        Assert.StartsWith("Not complete: 1 file(s) failed", failed[1], StringComparison.Ordinal);
        Assert.Contains("  failed x.bin: 'x.bin' failed.", failed);
    }

    [Fact]
    public void The_summary_says_how_much_came_over_the_network_and_how_much_from_the_xet_chunk_cache()
    {
        var plain = ProgressView.SummaryLines(new DownloadSummary("/d", new string('c', 40), 1, 0, 0, 50_000_000, TimeSpan.FromSeconds(1)) { BytesFetched = 50_000_000 }, []);
        var xet = ProgressView.SummaryLines(new DownloadSummary("/d", new string('c', 40), 1, 0, 0, 50_000_000, TimeSpan.FromSeconds(1)) { BytesFetched = 2_000_000, BytesFromCache = 45_000_000, UsedXet = true }, []);
        var cold = ProgressView.SummaryLines(new DownloadSummary("/d", new string('c', 40), 1, 0, 0, 50_000_000, TimeSpan.FromSeconds(1)) { BytesFetched = 50_100_000, UsedXet = true }, []);

        Assert.DoesNotContain(plain, l => l.Contains("chunk cache", StringComparison.Ordinal));
        Assert.Equal("2.0 MB came over the network and 45.0 MB from the Xet chunk cache.", xet[1]);
        Assert.Equal("50.1 MB came over the network and 0 B from the Xet chunk cache.", cold[1]);
    }
}
