using System.Globalization;
using System.Text;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Hfdl.Cli.Output;

/// <summary>
/// Turns progress snapshots, plans and listings into Spectre.Console renderables. Pure: the same snapshot and width
/// always give the same output, so tests render it on a fixed-width <c>TestConsole</c>.
/// </summary>
internal static class ProgressView
{
    /// <summary>Most file lines the live display shows; the rest are counted.</summary>
    public const int MaxFileLines = 10;

    /// <summary>The live area: header, overall bar, counters, one line per active file, big-file connections.</summary>
    public static IRenderable Live(ProgressSnapshot s, int width, bool unicode)
    {
        // Laid out for the terminal's real width, however narrow: a row wider than the terminal wraps, and the redraw
        // then leaves stale lines behind.
        width = Math.Max(20, width);
        var lines = new List<string>();
        if (s.Revision is { } r)
        {
            var commit = s.Plan is null ? r.Commit : r.Commit[..Math.Min(8, r.Commit.Length)];
            lines.Add(Fit($"[bold]{Esc(r.RepoId.ToString())}[/] [grey]{r.RepoType.ToString().ToLowerInvariant()} @ {Esc(r.Revision)} ({commit})[/]"
                + (s.Plan is { } p ? $" [grey]{(unicode ? "→" : "->")}[/] {Esc(p.TargetFolder)}" : ""), width));
        }
        else
        {
            lines.Add(Fit("[grey]resolving the revision...[/]", width));
        }
        if (s.Plan is null)
        {
            lines.Add(Fit(s.FilesListed > 0
                ? $"[grey]listing files... {s.FilesListed.ToString("N0", CultureInfo.InvariantCulture)} so far[/]"
                : "[grey]listing files...[/]", width));
            return new Rows(lines.Select(l => new Markup(l)));
        }

        var percent = (s.Fraction * 100).ToString("0", CultureInfo.InvariantCulture).PadLeft(3) + "%";
        var suffix = $" {percent}  {Units.Bytes(s.BytesDone)} / {Units.Bytes(s.BytesTotal)}  {Units.Rate(s.BytesPerSecond)}  ETA {(s.Eta is { } eta ? Units.Duration(eta) : "--")}";
        if (width - suffix.Length - 1 < 10)
        {
            // Narrow: the bytes go (the counters and the file rows keep them), the rate and ETA stay.
            suffix = $" {percent}  {Units.Rate(s.BytesPerSecond)}  ETA {(s.Eta is { } left ? Units.Duration(left) : "--")}";
        }
        var barWidth = Math.Clamp(width - suffix.Length - 1, 4, 60);
        lines.Add(Fit(Bar(s.Fraction, barWidth, unicode) + Esc(suffix), width));

        var counters = new StringBuilder();
        counters.Append(CultureInfo.InvariantCulture, $"[green]{s.FilesDone} done[/] {Dot(unicode)} {s.FilesSkipped} skipped {Dot(unicode)} ");
        counters.Append(s.FilesFailed > 0 ? $"[red]{s.FilesFailed} failed[/]" : "0 failed");
        counters.Append(CultureInfo.InvariantCulture, $" {Dot(unicode)} {s.Active.Count} active {Dot(unicode)} {s.FilesQueued} queued");
        if (s.Retries > 0)
        {
            counters.Append(CultureInfo.InvariantCulture, $" {Dot(unicode)} [yellow]{s.Retries} {(s.Retries == 1 ? "retry" : "retries")}[/]");
        }
        counters.Append(CultureInfo.InvariantCulture, $"  [grey]elapsed {Units.Duration(s.Elapsed)}[/]");
        lines.Add(Fit(counters.ToString(), width));

        // name, bar, "done / size", speed, " big", " STALLED nn s " (or " waiting") must fit on one line. Names are measured as shown
        // (escaped, in terminal cells: a CJK character takes two), so the bars of all rows line up. A narrower
        // terminal drops the speed, then the bar, then the bytes (a percentage instead), before the name gets short.
        var shown = s.Active.Take(MaxFileLines).ToList();
        var row = FileRow.For(width, shown);
        foreach (var file in shown)
        {
            lines.AddRange(FileLines(file, row, width, unicode));
        }
        if (s.Active.Count > MaxFileLines)
        {
            lines.Add(Fit($"  [grey]... and {s.Active.Count - MaxFileLines} more active[/]", width));
        }
        if (s.Connections is { } c)
        {
            lines.Add(Fit("  " + Esc(Connections(c, withSpeeds: true)), width));
        }
        return new Rows(lines.Select(l => new Markup(l)));
    }

    /// <summary>
    /// What the active files' rows show at a width: every column that fits beside the longest name in full (up to
    /// <see cref="FullName"/> cells), dropping the speed, then the bar, then the bytes first; names are cut only when
    /// even a percentage alone leaves too little room.
    /// </summary>
    private readonly record struct FileRow(int NameWidth, int BarWidth, bool Bytes, bool Rate)
    {
        /// <summary>A name longer than this (a deep path) is cut in any case: the columns after it matter more.</summary>
        private const int FullName = 40;

        /// <summary>The widest name column; the space between a shorter name and its bar lines the bars up.</summary>
        private const int WidestName = 48;

        public static FileRow For(int width, IReadOnlyList<FileSnapshot> files)
        {
            // "  " before the name; after it " big" and " STALLED nnnn s " only when a row shows them: reserving both
            // always cut "model.safetensors" at 80 columns and left 21 of them blank (QA: helper-49).
            var margins = 2 + (files.Any(f => f.IsBig) ? 4 : 0) + files.Select(StalledCells).DefaultIfEmpty(0).Max();
            var longest = Math.Min(FullName, files.Select(f => ProgressView.Cells(TerminalText.Escape(f.Path))).DefaultIfEmpty(0).Max());
            FileRow[] layouts =
            [
                new(0, width >= 100 ? 16 : 8, Bytes: true, Rate: true),
                new(0, 8, Bytes: true, Rate: false),
                new(0, 0, Bytes: true, Rate: false),
                new(0, 0, Bytes: false, Rate: false),
            ];
            foreach (var layout in layouts)
            {
                var room = width - margins - layout.Cells;
                if (room >= Math.Max(longest, 4))
                {
                    return layout with { NameWidth = Math.Min(WidestName, room) };
                }
            }
            return layouts[^1] with { NameWidth = Math.Max(4, width - margins - layouts[^1].Cells) };
        }

        /// <summary>Cells taken by everything but the name and the margins.</summary>
        private int Cells => (BarWidth > 0 ? 1 + BarWidth : 0) + (Bytes ? 22 : 5) + (Rate ? 12 : 0);

        /// <summary>
        /// The cells of " STALLED n s " or " waiting" (with the space before it) when the row shows it; a file waiting
        /// to retry says so on a line of its own instead.
        /// </summary>
        private static int StalledCells(FileSnapshot file) =>
            (file.Retry is { } r && r.Remaining > TimeSpan.Zero) ? 0
            : file.StalledFor is { } stalled ? 13 + ((int)stalled.TotalSeconds).ToString(CultureInfo.InvariantCulture).Length
            : file.WaitingForConnection ? 8
            : 0;
    }

    private static IEnumerable<string> FileLines(FileSnapshot file, FileRow row, int width, bool unicode)
    {
        var fraction = file.Size > 0 ? (double)file.Done / file.Size : 1;
        var line = new StringBuilder("  ");
        line.Append(Esc(PadCells(TruncateLeft(TerminalText.Escape(file.Path), row.NameWidth), row.NameWidth)));
        if (row.BarWidth > 0)
        {
            line.Append(' ');
            line.Append(Bar(fraction, row.BarWidth, unicode));
        }
        line.Append(Esc(row.Bytes
            ? $" {Units.Bytes(file.Done),9} / {Units.Bytes(file.Size),-9}"
            : $" {(fraction * 100).ToString("0", CultureInfo.InvariantCulture),3}%"));
        if (row.Rate)
        {
            line.Append(Esc($" {Units.Rate(file.BytesPerSecond),11}"));
        }
        if (file.IsBig)
        {
            line.Append(" [blue]big[/]");
        }
        var waiting = file.Retry is { } r && r.Remaining > TimeSpan.Zero;
        if (!waiting && file.StalledFor is { } stalled)
        {
            line.Append(CultureInfo.InvariantCulture, $" [black on yellow] STALLED {(int)stalled.TotalSeconds} s [/]");
        }
        else if (!waiting && file.WaitingForConnection)
        {
            // A big file the connections have not reached yet (they all work on other files): not a stall.
            line.Append(" [grey]waiting[/]");
        }
        yield return Fit(line.ToString(), width);
        if (waiting && file.Retry is { } retry)
        {
            // The reason gets a line of its own: it is what the user needs to read.
            var text = $"{(unicode ? "↻" : "~")} retry {retry.Attempt} in {Units.Duration(retry.Remaining)}: {retry.Reason}";
            yield return "    [yellow]" + Esc(Truncate(TerminalText.Escape(text), width - 5)) + "[/]";
        }
    }

    public static string Connections(TransferStats c, bool withSpeeds)
    {
        var text = $"{c.Connections} connection{(c.Connections == 1 ? "" : "s")} (target {c.TargetConnections}, {c.Phase}) {Units.Rate(c.BytesPerSecond)}";
        if (withSpeeds && c.PerConnectionBytesPerSecond.Count > 0)
        {
            text += ": " + string.Join(" ", c.PerConnectionBytesPerSecond.Select(v => (v / Units.MB).ToString("0.0", CultureInfo.InvariantCulture))) + " MB/s";
        }
        return text;
    }

    /// <summary>A bar of <paramref name="width"/> cells as markup: filled green, the rest grey.</summary>
    public static string Bar(double fraction, int width, bool unicode)
    {
        fraction = double.IsFinite(fraction) ? Math.Clamp(fraction, 0, 1) : 0;
        var filled = (int)Math.Floor(fraction * width);
        var rest = width - filled;
        return unicode
            ? $"[green]{new string('━', filled)}[/][grey]{new string('─', rest)}[/]"
            : $"[green]{new string('#', filled)}[/][grey]{new string('-', rest)}[/]";
    }

    /// <summary>One log line for an event worth its own line (as markup), or null.</summary>
    public static string? LogLine(DownloadEvent value, bool unicode, bool verbose) => value switch
    {
        FileCompleted done => $"[green]{(unicode ? "✓" : "done")}[/] {Esc(done.Path)} [grey]({Units.Bytes(done.Size)}{RateText(done)}, {HashName(done.Hash)} verified)[/]",
        FileSkipped kept => $"[blue]{(unicode ? "=" : "kept")}[/] {Esc(kept.Path)} [grey]({Esc(kept.Reason)})[/]",
        FileFailed failed => $"[red]{(unicode ? "✗" : "FAILED")} {Esc(failed.Path)}[/]: {Esc(failed.Error)}",
        Warning warning => $"[yellow]warning:[/] {Esc(warning.Message)}",
        WaitingForLock waiting => $"[yellow]Another hfdl is downloading into {Esc(waiting.Folder)}[/] [grey]({Esc(waiting.Holder)})[/]; waiting for it to finish.",
        FileVerified { Status: VerifyStatus.Ok } when !verbose => null,
        FileVerified verified => $"{(verified.Status == VerifyStatus.Ok ? "[green]" : "[red]")}{verified.Status.ToString().ToLowerInvariant(),-8}[/] {Esc(verified.Path)}{(verified.Detail is null ? "" : $" [grey]({Esc(verified.Detail)})[/]")}",
        FileRetrying retry =>
            $"[yellow]{(unicode ? "↻" : "retry")}[/] {Esc(retry.Path)} [grey](attempt {retry.Attempt}, in {retry.Delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s)[/]: {Esc(retry.Reason)}",
        RequestRetrying retry =>
            $"[yellow]{(unicode ? "↻" : "retry")}[/] {Esc(retry.Request)} [grey](attempt {retry.Attempt}, in {retry.Delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s)[/]: {Esc(retry.Reason)}",
        _ => null,
    };

    /// <summary>
    /// Log lines (markup) as rows of exactly <paramref name="width"/> terminal cells: a line longer than that wraps, and
    /// each row, the wrapped ones too, is padded by its display width (a CJK character takes two cells), so that written
    /// over the live display they leave nothing of it.
    /// </summary>
    public static IRenderable LogRows(IEnumerable<string> markup, int width) => new PaddedRows([.. markup.Select(m => new Markup(m))], width);

    private sealed class PaddedRows(IReadOnlyList<IRenderable> lines, int width) : Renderable
    {
        protected override IEnumerable<Segment> Render(RenderOptions options, int maxWidth)
        {
            var cells = Math.Max(1, Math.Min(width, maxWidth));
            foreach (var line in lines)
            {
                foreach (var row in Segment.SplitLines(line.Render(options, cells)))
                {
                    foreach (var segment in row)
                    {
                        yield return segment;
                    }
                    var padding = cells - row.CellCount();
                    if (padding > 0)
                    {
                        yield return new Segment(new string(' ', padding));
                    }
                    // What follows (the live area) starts on a row of its own.
                    yield return Segment.LineBreak;
                }
            }
        }
    }

    /// <summary>
    /// What to do about a run's failed files: run it again when the server or the network failed them; act first when
    /// a failure waits on the user (something in the way, a link, no permission), which a plain rerun would repeat.
    /// </summary>
    public static string NextStep(IReadOnlyList<FileFailed> failures)
    {
        var waiting = failures.Count(f => !f.Retryable);
        return waiting == 0 ? "Run the same command again to retry."
            : waiting == failures.Count ? "Each failure says what to do first: run as it is, the same command would fail them again."
            : $"Do first what {waiting} of the failures ask for, then run the same command again to retry them all.";
    }

    /// <summary>The closing lines of a run, as plain text (the renderers add colour).</summary>
    /// <param name="listFailures">Name each failure again (the live display's lines are gone; plain output printed them as they came).</param>
    public static List<string> SummaryLines(DownloadSummary s, IReadOnlyList<FileFailed> failures, bool listFailures = true)
    {
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"Downloaded {s.FilesDownloaded} files ({Units.Bytes(s.BytesDownloaded)}) in {Units.Duration(s.Elapsed)} at {Units.Rate(s.AverageBytesPerSecond)}; {s.FilesSkipped} already present, {s.FilesFailed} failed."),
            s.FilesFailed == 0 && s.Unchecked
                ? $"The {s.FilesSkipped} files were taken as the cache holds them, with no listing to check them against: `hfdl cache verify` hashes them against their blob names."
                : s.FilesFailed == 0
                ? $"Every file is verified: all {s.FilesDownloaded + s.FilesSkipped} match the Hub's hashes (sha256 for LFS, git sha1 otherwise)."
                : $"Not complete: {s.FilesFailed} file(s) failed; the {s.FilesDownloaded + s.FilesSkipped} others are verified. {NextStep(failures)}",
        };
        if (s.UsedXet || s.BytesFromCache > 0)
        {
            // What native Xet saved: chunks this machine already had (any repo, any revision) were not fetched again.
            // Said whenever Xet ran, 0 included: a cold run or a forced one says that nothing came from the cache.
            lines.Insert(1, $"{Units.Bytes(s.BytesFetched)} came over the network and {Units.Bytes(s.BytesFromCache)} from the Xet chunk cache.");
        }
        foreach (var failure in failures.Take(listFailures ? 20 : 0))
        {
            lines.Add($"  failed {failure.Path}: {failure.Error}");
        }
        if (listFailures && failures.Count > 20)
        {
            lines.Add($"  ... and {failures.Count - 20} more failures");
        }
        lines.Add($"Files are in {s.TargetFolder}");
        return lines;
    }

    /// <summary>The plan of a dry run as a table: path, size, small or big, storage, and what a download would do.</summary>
    /// <summary>Plans larger than this are written as aligned lines (<see cref="PlanLines"/>) instead of a drawn table.</summary>
    public const int LargestDrawnPlan = 2000;

    /// <summary>
    /// The plan as aligned text lines, one per file, with the columns of <see cref="PlanTable"/>: widths are measured in
    /// one pass and each line is made as it is written, so a repo of hundreds of thousands of files costs no more
    /// memory than its plan.
    /// </summary>
    public static IEnumerable<string> PlanLines(DownloadPlan plan, bool unicode)
    {
        var bar = unicode ? " │ " : " | ";
        var rows = plan.Files.Concat(plan.Extras);
        var pathWidth = Math.Max("path".Length, rows.Max(f => f.Path.Length));
        var sizeWidth = Math.Max("size".Length, rows.Max(f => Units.Bytes(f.Size).Length));
        yield return $"{"path".PadRight(pathWidth)}{bar}{"size".PadLeft(sizeWidth)}{bar}kind {bar}storage{bar}action";
        foreach (var file in rows.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var kind = file.Action == PlannedAction.Extra ? "" : file.IsBig ? "big" : "small";
            var storage = file.Action == PlannedAction.Extra ? "" : file.IsLfs ? "LFS" : "regular";
            yield return $"{file.Path.PadRight(pathWidth)}{bar}{Units.Bytes(file.Size).PadLeft(sizeWidth)}{bar}{kind,-5}{bar}{storage,-7}{bar}{ActionText(file, plan.Offline)}";
        }
    }

    public static IRenderable PlanTable(DownloadPlan plan, bool unicode)
    {
        var table = new Table().Border(TableBorderFor(unicode))
            .AddColumn("path")
            .AddColumn(new TableColumn("size").RightAligned())
            .AddColumn("kind")
            .AddColumn("storage")
            .AddColumn("action");
        foreach (var file in plan.Files.Concat(plan.Extras).OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var extra = file.Action == PlannedAction.Extra;
            table.AddRow(
                TerminalText.Text(file.Path),
                new Text(Units.Bytes(file.Size)),
                new Text(extra ? "" : file.IsBig ? "big" : "small"),
                new Text(extra ? "" : file.IsLfs ? "LFS" : "regular"),
                new Markup(ActionMarkup(file, plan.Offline)));
        }
        return table;
    }

    private static string ActionMarkup(PlannedFile file, bool offline) => file.Blocked is not null ? "[red]download fails[/] (a file or folder is in the way)"
        : offline && file.Action is PlannedAction.Download or PlannedAction.Resume ? "[red]missing[/] (no network: cannot be downloaded)"
        : file.Action switch
    {
        PlannedAction.Present => "[green]present[/]",
        PlannedAction.Resume => $"[yellow]resume[/] ({Units.Bytes(file.BytesOnDisk)} on disk)",
        PlannedAction.Verify => offline ? "[blue]verify[/] (on disk, not in the journal; offline a difference fails it)" : "[blue]verify[/] (on disk, not in the journal)",
        PlannedAction.Extra => "[grey]extra[/] (not in the repo; left alone)",
        _ => "download",
    };

    private static string ActionText(PlannedFile file, bool offline) => Markup.Remove(ActionMarkup(file, offline));

    /// <summary>
    /// "to download: N files, X" where files on disk that are only hashed first (not in the journal) are told apart:
    /// counting them as downloads promised gigabytes for a run that then fetched one file. X is what is left to fetch:
    /// the bytes resumed files already hold (<paramref name="resumedBytes"/>, not in <paramref name="bytes"/>) are said apart.
    /// </summary>
    /// <param name="offline">Nothing can be fetched: a file that differs fails.</param>
    public static string ToDownloadText(int files, long bytes, int verifyFiles, long verifyBytes, long resumedBytes, bool offline = false) =>
        $"to download: {files - verifyFiles} files, {Units.Bytes(bytes - verifyBytes)}"
        + (resumedBytes > 0 ? $" (resumed: {Units.Bytes(resumedBytes)} already on disk)" : "")
        + (verifyFiles > 0 ? $"; to check: {verifyFiles} files on disk, {Units.Bytes(verifyBytes)} ({(offline ? "hashed; offline one that differs fails" : "hashed, fetched only if they differ")})" : "");

    public static List<string> PlanTotals(DownloadPlan plan)
    {
        List<string> lines =
        [
            $"{plan.RepoType.ToString().ToLowerInvariant()} {plan.RepoId} at {plan.Revision} = commit {plan.Commit}",
            $"{plan.Files.Count} files, {Units.Bytes(plan.TotalBytes)}; {ToDownloadText(plan.FilesToFetch, plan.BytesToFetch, plan.FilesToVerify, plan.BytesToVerify, plan.BytesResumed, plan.Offline)}; already present: {plan.FilesPresent} files; big files (>= {Units.Bytes(plan.BigFileThreshold)}): {plan.Files.Count(f => f.IsBig)}"
                + (plan.Extras.Count > 0 ? $"; not in the repo (left alone): {plan.Extras.Count} file{(plan.Extras.Count == 1 ? "" : "s")}" : ""),
            $"Target: {plan.TargetFolder}",
        ];
        if (DiskSpaceLine(plan.DiskSpace) is { } space)
        {
            lines.Add(space);
        }
        return lines;
    }

    /// <summary>
    /// What the download would decide about disk space, said when it matters: a reserve was asked for, or what is left
    /// to write does not fit.
    /// </summary>
    private static string? DiskSpaceLine(DiskSpaceCheck? check)
    {
        if (check is not { } space || (space.Reserve == 0 && space.Fits))
        {
            return null;
        }
        var available = space.Available is { } free ? $"{Units.Bytes(free)} available" : "the free space cannot be told";
        var reserve = space.Reserve > 0 ? $" plus {Units.Bytes(space.Reserve)} kept free (--min-free-space)" : "";
        return space.Needed == 0
            ? $"Disk space: nothing to write, so the reserve of {Units.Bytes(space.Reserve)} (--min-free-space) does not stop the download."
            : space.Fits
                ? $"Disk space: {Units.Bytes(space.Needed)} to write{reserve}; {available}: the download would start."
                : $"Disk space: {Units.Bytes(space.Needed)} to write{reserve}, but only {available}: the download would refuse to start.";
    }

    public static string HashName(string hash) => hash.StartsWith("sha256:", StringComparison.Ordinal) ? "sha256" : "git sha1";

    /// <summary>", 12.3 MB/s" for files big enough that their rate means something (not latency).</summary>
    public static string RateText(FileCompleted done) =>
        done.Size >= Units.MB && done.Elapsed.TotalSeconds > 0 ? ", " + Units.Rate(done.Size / done.Elapsed.TotalSeconds) : "";

    /// <summary>
    /// Rounded box drawing where the output can carry it, ASCII elsewhere: Spectre's own fallback for a table is its
    /// square border, box drawing too, which a Latin-1 locale prints as rows of <c>?</c>.
    /// </summary>
    public static TableBorder TableBorderFor(bool unicode) => unicode ? TableBorder.Rounded : TableBorder.Ascii;

    private static string Dot(bool unicode) => unicode ? "·" : "|";

    private static string Esc(string text) => TerminalText.Markup(text);

    /// <summary>How many terminal cells <paramref name="text"/> takes (a CJK character two, a combining mark none).</summary>
    private static int Cells(string text) => text.GetCellWidth();

    /// <summary>Cuts text (as shown: escape it first) to <paramref name="width"/> cells, ending it with "...".</summary>
    private static string Truncate(string text, int width) => Cells(text) <= width ? text : Head(text, Math.Max(0, width - 3)) + "...";

    /// <summary>Cuts text (as shown: escape it first) to <paramref name="width"/> cells by its start: the file name matters most.</summary>
    public static string TruncateLeft(string text, int width) => Cells(text) <= width ? text : "..." + Tail(text, Math.Max(1, width - 3));

    private static string PadCells(string text, int width) => text + new string(' ', Math.Max(0, width - Cells(text)));

    /// <summary>The longest start of <paramref name="text"/> that takes at most <paramref name="cells"/> cells.</summary>
    private static string Head(string text, int cells)
    {
        var (used, end) = (0, 0);
        foreach (var rune in text.EnumerateRunes())
        {
            used += Cells(rune.ToString());
            if (used > cells)
            {
                break;
            }
            end += rune.Utf16SequenceLength;
        }
        return text[..end];
    }

    /// <summary>The longest end of <paramref name="text"/> that takes at most <paramref name="cells"/> cells.</summary>
    private static string Tail(string text, int cells)
    {
        var (used, start) = (0, text.Length);
        while (start > 0)
        {
            Rune.DecodeLastFromUtf16(text.AsSpan(0, start), out var rune, out var length);
            used += Cells(rune.ToString());
            if (used > cells)
            {
                break;
            }
            start -= length;
        }
        return text[start..];
    }

    /// <summary>Leaves markup as it is unless its visible text is wider than the line; then drops the markup and cuts it.</summary>
    private static string Fit(string markup, int width)
    {
        var plain = Markup.Remove(markup);
        return Cells(plain) <= width ? markup : Esc(Truncate(plain, width));
    }
}
