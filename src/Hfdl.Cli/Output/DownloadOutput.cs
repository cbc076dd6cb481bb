using System.Globalization;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Spectre.Console;

namespace Hfdl.Cli.Output;

/// <summary>
/// Where a download's output goes. stdout carries results only: the download folder at the end, or with
/// <c>--json</c> the NDJSON events. stderr is for people: a live display on a terminal, plain lines otherwise
/// (pipes, CI logs, <c>TERM=dumb</c>, <c>NO_COLOR</c>, <c>HF_HUB_DISABLE_PROGRESS_BARS</c>), only errors with <c>-q</c>.
/// </summary>
internal sealed class DownloadOutput : IAsyncDisposable
{
    private readonly CliContext _context;
    private readonly bool _quiet;
    private readonly JsonEvents? _json;
    private readonly JsonProgress? _jsonProgress;
    private readonly LiveProgress? _live;
    private readonly PlainProgress? _plain;
    private readonly IProgress<DownloadEvent> _progress;
    private readonly PlainProgress? _linesBeforeLive;
    private readonly IProgress<DownloadEvent> _checkProgress;
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();

    private DownloadOutput(CliContext context, bool json, bool quiet, bool verbose)
    {
        _context = context;
        _quiet = quiet;
        var sinks = new List<IProgress<DownloadEvent>>();
        JsonProgress? events = null;
        if (json)
        {
            _json = new JsonEvents(context.Out);
            events = _jsonProgress = new JsonProgress(_json);
            sinks.Add(events);
        }
        if (!quiet && UseLiveDisplay(context))
        {
            _live = new LiveProgress(context.ErrorConsole ?? CreateErrorConsole(), verbose);
            sinks.Add(_live);
        }
        else
        {
            _plain = new PlainProgress(context.Error, quiet, verbose);
            sinks.Add(_plain);
        }
        _progress = sinks.Count == 1 ? sinks[0] : new FanOut([.. sinks]);
        if (_live is null)
        {
            _checkProgress = _progress;
        }
        else
        {
            // The live display shows transfers; a verification or a dry run before any (which it would leave blank
            // for minutes of hashing or listing, and whose corrupt and missing files it would never name) prints lines.
            _linesBeforeLive = new PlainProgress(context.Error, quiet, verbose);
            _checkProgress = events is null ? _linesBeforeLive : new FanOut([events, _linesBeforeLive]);
        }
    }

    /// <summary>The progress of a download (the live display, lines, or events).</summary>
    public IProgress<DownloadEvent> Progress => _progress;

    /// <summary>The progress of <c>--verify</c> and <c>--dry-run</c>: as <see cref="Progress"/>, but lines where that is the live display.</summary>
    public IProgress<DownloadEvent> CheckProgress => _checkProgress;

    public bool IsJson => _json is not null;

    public static DownloadOutput Create(CliContext context, bool json, bool quiet, bool verbose) => new(context, json, quiet, verbose);

    /// <summary>
    /// A live display only on an interactive terminal that can take it: not with <c>TERM=dumb</c> or <c>NO_COLOR</c>,
    /// nor when <c>HF_HUB_DISABLE_PROGRESS_BARS</c> is true (1, ON, YES, TRUE), as in huggingface_hub.
    /// </summary>
    public static bool UseLiveDisplay(CliContext context) =>
        context.IsTerminal
        && context.Environment.Get("NO_COLOR") is null
        && !string.Equals(context.Environment.Get("TERM"), "dumb", StringComparison.OrdinalIgnoreCase)
        && !context.Environment.IsTrue("HF_HUB_DISABLE_PROGRESS_BARS");

    private static IAnsiConsole CreateErrorConsole() => DrawWithin(AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(StandardStreams.Error),
        Ansi = AnsiSupport.Yes,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.Yes,
    }));

    /// <summary>
    /// Box drawing and bar characters only when the output's encoding can carry them: in a Latin-1 locale
    /// (<c>LANG=en_US.ISO-8859-1</c>) they came out as rows of <c>?</c>, so tables and bars are drawn in ASCII there.
    /// </summary>
    private static IAnsiConsole DrawWithin(IAnsiConsole console)
    {
        if (console.Profile.Encoding.CodePage is not (65001 or 1200 or 1201 or 12000 or 12001))
        {
            console.Profile.Capabilities.Unicode = false;
        }
        return console;
    }

    /// <summary>Creates a console for results on stdout: colours and the terminal's width only when stdout is one.</summary>
    public static IAnsiConsole CreateOutConsole(CliContext context)
    {
        if (context.OutConsole is { } given)
        {
            return given;
        }
        var terminal = context.OutIsTerminal && UseLiveDisplay(context with { IsTerminal = true });
        var console = DrawWithin(AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(TerminalText.Unwrap(context.Out)),
            Ansi = terminal ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        }));
        if (!terminal)
        {
            // A pipe has no width: never wrap a row of a table.
            console.Profile.Width = 400;
        }
        return console;
    }

    public void Start() => _live?.Start();

    /// <summary>Ends the display and prints the outcome; returns the exit code.</summary>
    public async Task<int> FinishAsync(DownloadSummary summary)
    {
        IReadOnlyList<FileFailed> failures = _live?.Model.Failures ?? _plain?.Model.Failures ?? [];
        if (_live is not null)
        {
            await _live.DisposeAsync().ConfigureAwait(false);
            var console = _live.Console;
            var lines = ProgressView.SummaryLines(summary, failures);
            var ok = summary.FilesFailed == 0;
            var unicode = console.Profile.Capabilities.Unicode;
            console.MarkupLine($"[{(ok ? "green" : "red")}]{(ok ? unicode ? "✓" : "OK" : unicode ? "✗" : "FAILED")}[/] [bold]{TerminalText.Markup(lines[0])}[/]");
            foreach (var line in lines.Skip(1))
            {
                console.MarkupLine("  " + TerminalText.Markup(line));
            }
        }
        if (summary.FilesFailed > 0)
        {
            _context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"error: {summary.FilesFailed} file(s) could not be downloaded (see above). {ProgressView.NextStep(failures)} Verified files are kept."));
        }
        else if (_json is null)
        {
            WriteFolder(_context, summary.TargetFolder);
        }
        return ExitCodeOf(summary);
    }

    /// <summary>The exit code of a download that ran to its end (its <c>summary</c> event says the same): 1 when a file failed.</summary>
    public static int ExitCodeOf(DownloadSummary summary) => summary.FilesFailed == 0 ? HfdlCommand.ExitOk : HfdlCommand.ExitFailure;

    /// <summary>
    /// The download folder on stdout, for <c>dir=$(hfdl org/model -q)</c>: exactly as it is when stdout is not a
    /// terminal (a folder the user named, escaped, would name none), escaped like any text on a terminal.
    /// </summary>
    public static void WriteFolder(CliContext context, string folder) =>
        (context.OutIsTerminal ? context.Out : TerminalText.Unwrap(context.Out)).WriteLine(folder);

    /// <summary>A dry run: the plan as a table on stdout (or one <c>plan</c> event), the totals on stderr.</summary>
    /// <param name="plan">The plan.</param>
    /// <param name="offlineAsked">Offline was asked for (--offline, HF_HUB_OFFLINE), rather than the Hub being out of reach.</param>
    public int WritePlan(DownloadPlan plan, bool offlineAsked)
    {
        if (_json is not null)
        {
            // What the plan's warning says on stderr (the Hub out of reach, a journal set aside, no cached listing), said
            // before the plan, as a download's warnings are: a dry run wrote none.
            if (plan.Warning is { } said)
            {
                _json.Warning(said);
            }
            _json.Plan(plan);
        }
        else if (plan.Files.Count + plan.Extras.Count <= ProgressView.LargestDrawnPlan)
        {
            var console = CreateOutConsole(_context);
            console.Write(ProgressView.PlanTable(plan, console.Profile.Capabilities.Unicode));
        }
        else
        {
            // A table of a huge repo is measured and drawn line by line, not built in memory first.
            foreach (var line in ProgressView.PlanLines(plan, (_context.OutIsTerminal || _context.OutConsole is not null) && CreateOutConsole(_context).Profile.Capabilities.Unicode))
            {
                _context.Out.WriteLine(line);
            }
        }
        if (!_quiet)
        {
            if (plan.Warning is { } warning)
            {
                _context.Error.WriteLine($"warning: {warning}");
            }
            foreach (var line in ProgressView.PlanTotals(plan))
            {
                _context.Error.WriteLine(line);
            }
            _context.Error.WriteLine("Dry run: nothing was downloaded and nothing was written.");
        }
        var blocked = plan.Files.Where(f => f.Blocked is not null).ToList();
        foreach (var file in blocked)
        {
            _context.Error.WriteLine($"error: {SafeText.Printable(file.Blocked!)}: the download would fail for it.");
        }
        // Without the network a file to download or resume cannot be: the download would report it missing and fail.
        var unreachable = plan.Offline ? plan.Files.Count(f => f.Blocked is null && f.Action is PlannedAction.Download or PlannedAction.Resume) : 0;
        if (unreachable > 0)
        {
            _context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"error: {unreachable} file(s) of the revision are missing or incomplete on disk, and without the network they cannot be downloaded: the download would fail. {(offlineAsked ? "Run it without --offline / HF_HUB_OFFLINE (and with the Hub in reach) to fetch them." : "Run it again once the Hub can be reached to fetch them.")}"));
        }
        // The exit code the download would have: 1 when a file would fail, or when it would not start for want of space.
        var wouldNotStart = plan.DiskSpace is { Fits: false, Needed: > 0 };
        if (wouldNotStart && _quiet)
        {
            _context.Error.WriteLine("error: the download would refuse to start: what it has to write does not fit on the disk (with --min-free-space kept free).");
        }
        var exitCode = blocked.Count + unreachable > 0 || wouldNotStart ? HfdlCommand.ExitFailure : HfdlCommand.ExitOk;
        // Every --json run ends with a summary, a dry run too: nothing downloaded, the present files counted as skipped,
        // and the exit code the process ends with (a download that would not start fails no file, yet exits 1).
        _json?.Summary(new DownloadSummary(plan.TargetFolder, plan.Commit, 0, plan.FilesPresent, blocked.Count + unreachable, 0, Elapsed) { Unchecked = plan.WithoutListing }, exitCode, w => w.WriteBoolean("dry_run", true));
        return exitCode;
    }

    /// <summary>
    /// The outcome of <c>--verify</c>: the counts on stderr and, when nothing is repaired after it
    /// (<paramref name="repairFollows"/> false), the <c>summary</c> event; returns the exit code (1 when a file is not ok).
    /// </summary>
    public int FinishVerify(VerificationReport report, bool repairFollows, bool offline)
    {
        var corrupt = report.Count(VerifyStatus.Corrupt);
        var missing = report.Count(VerifyStatus.Missing);
        var extra = report.Count(VerifyStatus.Extra);
        if (!_quiet || corrupt + missing + extra > 0)
        {
            // -q prints only errors: a verification that found every file ok has nothing to say.
            _context.Error.WriteLine(
                $"Verified {report.Files.Count} files in {report.Folder}: {report.Count(VerifyStatus.Ok)} ok, {corrupt} corrupt, {missing} missing, {extra} extra.");
        }
        if (repairFollows)
        {
            return HfdlCommand.ExitOk; // The repair's own events and summary follow.
        }
        if (corrupt + missing > 0)
        {
            // --fix-broken is refused offline: the advice must be one the user can follow.
            _context.Error.WriteLine(offline
                ? "Run the same command with --fix-broken and without --offline / HF_HUB_OFFLINE to download the corrupt and missing files again."
                : "Run the same command with --fix-broken to download the corrupt and missing files again.");
        }
        if (extra > 0)
        {
            // --fix-broken does not touch them, so it must not be offered for them alone.
            _context.Error.WriteLine($"The extra file{(extra == 1 ? " is" : "s are")} not the repo's at this revision, and hfdl never deletes {(extra == 1 ? "it" : "them")}: remove {(extra == 1 ? "it" : "them")}, or leave {(extra == 1 ? "it" : "them")} out with --exclude, for --verify to pass.");
        }
        var exitCode = report.AllOk ? HfdlCommand.ExitOk : HfdlCommand.ExitFailure;
        _json?.Summary(new DownloadSummary(report.Folder, report.Commit, 0, 0, corrupt + missing + extra, 0, Elapsed), exitCode, w =>
        {
            w.WriteNumber("files_ok", report.Count(VerifyStatus.Ok));
            w.WriteNumber("files_corrupt", corrupt);
            w.WriteNumber("files_missing", missing);
            w.WriteNumber("files_extra", extra);
        });
        return exitCode;
    }

    private TimeSpan Elapsed => System.Diagnostics.Stopwatch.GetElapsedTime(_started);

    public async ValueTask DisposeAsync()
    {
        // Before a fatal error event is written: no progress may follow it.
        _jsonProgress?.Dispose();
        if (_live is not null)
        {
            await _live.DisposeAsync().ConfigureAwait(false);
        }
        _plain?.Dispose();
        _linesBeforeLive?.Dispose();
    }

    private sealed class FanOut(IProgress<DownloadEvent>[] sinks) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value)
        {
            foreach (var sink in sinks)
            {
                sink.Report(value);
            }
        }
    }
}
