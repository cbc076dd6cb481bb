using System.Globalization;
using Hfdl.Cli.Output;
using Hfdl.Core.Progress;

namespace Hfdl.Cli;

/// <summary>
/// Plain progress lines for logs and pipes (no escape codes): one line per finished, skipped or failed file, one for
/// retries, a status line every few seconds while files are transferring (overall progress, speed, ETA, active files,
/// stalled ones marked), and the summary. Thread-safe: the engine reports from many workers.
/// </summary>
internal sealed class PlainProgress : IProgress<DownloadEvent>, IDisposable
{
    public static readonly TimeSpan StatusInterval = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan VerboseStatusInterval = TimeSpan.FromSeconds(1);

    private readonly TextWriter _writer;
    private readonly bool _quiet;
    private readonly bool _verbose;
    private readonly object _gate = new();
    private readonly ProgressModel _model;
    private readonly ITimer? _timer;
    private bool _planned;
    private long? _listingShownAt;

    /// <summary>At most one "listing N files so far" line in this time.</summary>
    private static readonly TimeSpan ListingLineInterval = TimeSpan.FromSeconds(5);
    private bool _finished;

    public PlainProgress(TextWriter writer, bool quiet, bool verbose = false, TimeProvider? time = null, TimeSpan? statusInterval = null)
    {
        _writer = writer;
        _quiet = quiet;
        _verbose = verbose;
        var clock = time ?? TimeProvider.System;
        _clock = clock;
        _model = new ProgressModel(clock);
        if (!quiet)
        {
            var interval = statusInterval ?? (verbose ? VerboseStatusInterval : StatusInterval);
            _timer = clock.CreateTimer(_ => WriteStatus(), null, interval, interval);
        }
    }

    private readonly TimeProvider _clock;
    private readonly Dictionary<string, long> _retryShownAt = new(StringComparer.Ordinal);

    public ProgressModel Model => _model;

    public int Failed { get; private set; }

    public void Report(DownloadEvent value)
    {
        _model.Report(value);
        lock (_gate)
        {
            switch (value)
            {
                case FileFailed failed:
                    Failed++;
                    _writer.WriteLine($"failed   {failed.Path}: {failed.Error}");
                    break;
                case FileVerified { Status: not VerifyStatus.Ok } bad when _quiet:
                    // -q prints only errors, and a file --verify finds corrupt, missing or extra is one.
                    _writer.WriteLine($"{bad.Status.ToString().ToLowerInvariant(),-8} {bad.Path}{(bad.Detail is null ? "" : $" ({bad.Detail})")}");
                    break;
                case not null when _quiet:
                    break;
                case Warning warning:
                    _writer.WriteLine($"warning: {warning.Message}");
                    break;
                case FileVerified { Status: VerifyStatus.Ok } when !_verbose:
                    break;
                case FileVerified verified:
                    _writer.WriteLine($"{verified.Status.ToString().ToLowerInvariant(),-8} {verified.Path}{(verified.Detail is null ? "" : $" ({verified.Detail})")}");
                    break;
                case WaitingForLock waiting:
                    _writer.WriteLine($"Another hfdl is downloading into {waiting.Folder} ({waiting.Holder}); waiting for it to finish.");
                    break;
                case RevisionResolved resolved:
                    _writer.WriteLine($"{resolved.RepoType.ToString().ToLowerInvariant()} {resolved.RepoId} at {resolved.Revision} = commit {resolved.Commit}");
                    break;
                case ListingProgress listing when _listingShownAt is not { } shown || _clock.GetElapsedTime(shown) >= ListingLineInterval:
                    // A listing of many pages takes minutes: a line now and then says it is not hung, without a line per page.
                    _listingShownAt = _clock.GetTimestamp();
                    _writer.WriteLine($"listing  {listing.FilesListed.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} files so far");
                    break;
                case PlanReady plan:
                    _planned = true;
                    _writer.WriteLine(plan.Verify
                        ? $"{plan.TotalFiles} files, {Units.Bytes(plan.TotalBytes)}; each file on disk is hashed and compared with the Hub's hash (nothing is downloaded)"
                        : $"{plan.TotalFiles} files, {Units.Bytes(plan.TotalBytes)}; {ProgressView.ToDownloadText(plan.FilesToDownload, plan.BytesToDownload - plan.BytesOnDisk, plan.FilesToVerify, plan.BytesToVerify, plan.BytesOnDisk)}; already verified: {plan.FilesAlreadyPresent}");
                    break;
                case FileCompleted done:
                    _writer.WriteLine($"done     {done.Path} ({Units.Bytes(done.Size)}{ProgressView.RateText(done)}, {ProgressView.HashName(done.Hash)} verified)");
                    break;
                case FileSkipped skipped when skipped.Reason != "already downloaded and verified":
                    _writer.WriteLine($"kept     {skipped.Path} ({skipped.Reason})");
                    break;
                case FileRetrying retrying when ProgressModel.ShowRetry(_retryShownAt, retrying.Path, _clock.GetTimestamp(), _clock):
                    _writer.WriteLine(RetryLine(retrying.Path, retrying.Attempt, retrying.Delay, retrying.Reason));
                    break;
                case RequestRetrying retrying:
                    _writer.WriteLine(RetryLine(retrying.Request, retrying.Attempt, retrying.Delay, retrying.Reason));
                    break;
                case DownloadFinished finished:
                    _finished = true;
                    foreach (var line in ProgressView.SummaryLines(finished.Summary, _model.Failures, listFailures: false))
                    {
                        _writer.WriteLine(line);
                    }
                    break;
            }
        }
    }

    /// <summary>The line of a retry, of a file or of a request to the Hub.</summary>
    public static string RetryLine(string what, int attempt, TimeSpan delay, string reason) =>
        string.Create(CultureInfo.InvariantCulture, $"retry    {what} (attempt {attempt}, in {delay.TotalSeconds:0.#} s): {reason}");

    /// <summary>One status line: overall bytes, speed and ETA, counters, active files; stalled files, and big files waiting for a connection, are marked.</summary>
    public void WriteStatus()
    {
        var s = _model.Snapshot();
        lock (_gate)
        {
            if (!_planned || _finished || (s.Active.Count == 0 && s.FilesQueued == 0))
            {
                return;
            }
            var percent = (s.Fraction * 100).ToString("0", CultureInfo.InvariantCulture);
            var eta = s.Eta is { } e ? Units.Duration(e) : "--";
            var files = string.Join(", ", s.Active.Take(8).Select(f =>
                $"{f.Path} {(f.Size > 0 ? (100.0 * f.Done / f.Size).ToString("0", CultureInfo.InvariantCulture) : "100")}%"
                + (f.StalledFor is { } stalled ? $" STALLED {(int)stalled.TotalSeconds} s" : f.WaitingForConnection ? " waiting for a connection" : "")));
            if (s.Active.Count > 8)
            {
                files += $", and {s.Active.Count - 8} more";
            }
            var connections = s.Connections is { } c ? $"; {ProgressView.Connections(c, _verbose)}" : "";
            _writer.WriteLine(
                $"status   {percent}% {Units.Bytes(s.BytesDone)} / {Units.Bytes(s.BytesTotal)} at {Units.Rate(s.BytesPerSecond)}, ETA {eta}; " +
                $"{s.FilesDone} done, {s.FilesSkipped} skipped, {s.FilesFailed} failed, {s.FilesQueued} queued{connections}; {files}");
        }
    }

    public void Dispose() => _timer?.Dispose();
}

/// <summary>Retries of metadata calls as plain lines, for commands without a progress display (<c>ls</c>, <c>whoami</c>).</summary>
internal sealed class RetryLines(TextWriter writer) : IProgress<RequestRetrying>
{
    public void Report(RequestRetrying value) =>
        writer.WriteLine(PlainProgress.RetryLine(value.Request, value.Attempt, value.Delay, value.Reason));
}
