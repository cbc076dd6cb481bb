using Hfdl.Core.Progress;

namespace Hfdl.Cli.Output;

/// <summary>
/// What a run has done so far, built from the engine's events (which arrive from many threads) and read as
/// immutable snapshots by the renderers. Honest totals: a file counts at most its size, at most the most bytes it
/// ever reported (a retried range or a file downloaded again never counts twice), and the done count never goes
/// backwards; a failed file's missing bytes leave the total instead. Speeds are sliding-window averages of the bytes
/// received in this run (bytes resumed from an earlier run or found on disk are done, but were not transferred).
/// </summary>
internal sealed class ProgressModel : IProgress<DownloadEvent>
{
    /// <summary>No progress for this long marks an active file as stalled.</summary>
    public static readonly TimeSpan DefaultStallAfter = TimeSpan.FromSeconds(5);

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _stallAfter;
    private readonly long _started;
    private readonly Dictionary<string, ActiveFile> _active = new(StringComparer.Ordinal);
    private readonly List<DownloadEvent> _log = [];
    private readonly RateWindow _overall;
    private readonly List<FileFailed> _failures = [];
    private RevisionResolved? _revision;
    private int _listed;
    private PlanReady? _plan;
    private long _totalBytes;
    private long _settledBytes;
    private long _transferred;

    private readonly Dictionary<string, long> _retryShownAt = new(StringComparer.Ordinal);

    /// <summary>
    /// A file's retry lines at most once a second: when a server restarts, each of a big file's forty connections
    /// retries at once, and forty lines about one blip buried everything else (JSON still gets every retry).
    /// </summary>
    public static bool ShowRetry(Dictionary<string, long> shownAt, string path, long now, TimeProvider time)
    {
        if (shownAt.TryGetValue(path, out var at) && time.GetElapsedTime(at, now) < TimeSpan.FromSeconds(1))
        {
            return false;
        }
        shownAt[path] = now;
        return true;
    }

    /// <summary>When the first byte of the run was reported, or null before.</summary>
    private long? _firstByteAt;

    /// <summary>An ETA from less than this much transfer is noise (one small file at 0.3 s promised "ETA 46 h").</summary>
    private static readonly TimeSpan EtaAfter = TimeSpan.FromSeconds(1);
    private int _done;
    private int _skippedDuring;
    private int _failed;
    private int _retries;
    private long _activeOrder;
    private TransferStats? _stats;
    private long _statsAt;
    private DownloadSummary? _summary;

    public ProgressModel(TimeProvider? time = null, TimeSpan? stallAfter = null)
    {
        _time = time ?? TimeProvider.System;
        _stallAfter = stallAfter ?? DefaultStallAfter;
        _started = _time.GetTimestamp();
        _overall = new RateWindow(TimeSpan.FromSeconds(5), _time);
    }

    public void Report(DownloadEvent value)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            switch (value)
            {
                case RevisionResolved resolved:
                    _revision = resolved;
                    break;
                case ListingProgress listing:
                    _listed = listing.FilesListed;
                    break;
                case PlanReady plan:
                    _plan = plan;
                    _totalBytes = plan.BytesToDownload;
                    _overall.Add(now, 0);
                    break;
                case FileStarted started:
                    _active[started.Path] = new ActiveFile(started.Path, started.Size, started.IsBig, started.ResumedBytes, now, _activeOrder++, _time);
                    _log.Add(started);
                    break;
                case FileProgress progress when _active.TryGetValue(progress.Path, out var file):
                    var bytes = Math.Min(progress.BytesDone, file.Size);
                    if (bytes > file.MaxBytes)
                    {
                        _transferred += bytes - file.MaxBytes;
                        file.MaxBytes = bytes;
                        file.LastAdvance = now;
                        file.Retry = null;
                    }
                    if (progress.Connections is { } connections)
                    {
                        // A big file no connection works on waits for one (they are all on other files): no stall. Its
                        // quiet time starts when a connection takes it.
                        file.WaitingForConnection = connections == 0 && bytes < file.Size;
                        if (file.WaitingForConnection)
                        {
                            file.LastAdvance = now;
                        }
                    }
                    break;
                case FileRetrying retrying:
                    _retries++;
                    if (_active.TryGetValue(retrying.Path, out var retried))
                    {
                        retried.Retry = retrying;
                        retried.RetryAt = now;
                    }
                    if (ShowRetry(_retryShownAt, retrying.Path, now, _time))
                    {
                        _log.Add(retrying);
                    }
                    break;
                case FileCompleted completed:
                    if (_active.Remove(completed.Path, out var finished))
                    {
                        // The tail after the last progress report arrived too.
                        _transferred += Math.Max(0, completed.Size - finished.MaxBytes);
                    }
                    else
                    {
                        _transferred += completed.Size;
                    }
                    _settledBytes += completed.Size;
                    _done++;
                    _log.Add(completed);
                    break;
                case FileSkipped skipped:
                    // Planned: counted in the plan's FilesAlreadyPresent already.
                    if (!skipped.Planned)
                    {
                        // Found on disk with the right hash during the run: part of the plan's bytes, not transferred.
                        _active.Remove(skipped.Path);
                        _skippedDuring++;
                        _settledBytes += skipped.Size;
                        _log.Add(skipped);
                    }
                    break;
                case FileFailed failed:
                    if (_active.Remove(failed.Path, out var lost))
                    {
                        _settledBytes += lost.MaxBytes;
                        _totalBytes -= lost.Size - lost.MaxBytes;
                    }
                    _failed++;
                    _failures.Add(failed);
                    _log.Add(failed);
                    break;
                case RequestRetrying:
                    _retries++;
                    _log.Add(value);
                    break;
                case Warning or WaitingForLock or FileVerified:
                    _log.Add(value);
                    break;
                case TransferStats stats:
                    _stats = stats;
                    _statsAt = now;
                    break;
                case DownloadFinished done:
                    _summary = done.Summary;
                    _log.Add(done);
                    break;
            }
            if (_transferred > 0)
            {
                _firstByteAt ??= now;
            }
        }
    }

    /// <summary>The events worth a line of their own (files started, done, skipped, failed, retries) since the last call.</summary>
    public List<DownloadEvent> DrainLog()
    {
        lock (_gate)
        {
            var drained = new List<DownloadEvent>(_log);
            _log.Clear();
            return drained;
        }
    }

    public IReadOnlyList<FileFailed> Failures
    {
        get
        {
            lock (_gate)
            {
                return [.. _failures];
            }
        }
    }

    /// <summary>The state now; also records a speed sample, so call it at a steady rate (each refresh).</summary>
    public ProgressSnapshot Snapshot()
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _overall.Add(now, _transferred);
            var files = new List<FileSnapshot>(_active.Count);
            var activeBytes = 0L;
            foreach (var file in _active.Values.OrderBy(f => f.Order))
            {
                activeBytes += file.MaxBytes;
                file.Rate.Add(now, file.MaxBytes - file.Baseline);
                TimeSpan? stalled = null;
                var quiet = _time.GetElapsedTime(file.LastAdvance, now);
                var waitingForRetry = file.Retry is { } r && _time.GetElapsedTime(file.RetryAt, now) < r.Delay;
                if (!waitingForRetry && quiet >= _stallAfter)
                {
                    stalled = quiet;
                }
                var retry = file.Retry is { } pending
                    ? new RetrySnapshot(pending.Attempt, pending.Reason, pending.Delay - _time.GetElapsedTime(file.RetryAt, now))
                    : null;
                files.Add(new FileSnapshot(file.Path, file.MaxBytes, file.Size, file.IsBig, file.Rate.PerSecond(), stalled, retry) { WaitingForConnection = file.WaitingForConnection });
            }
            var done = Math.Min(_settledBytes + activeBytes, Math.Max(_totalBytes, 0));
            var total = Math.Max(_totalBytes, 0);
            var speed = _overall.PerSecond();
            var settled = _firstByteAt is { } first && _time.GetElapsedTime(first, now) >= EtaAfter;
            TimeSpan? eta = settled && speed > 0 && total > done ? TimeSpan.FromSeconds((total - done) / speed) : null;
            var stats = _stats is { } s && _time.GetElapsedTime(_statsAt, now) < TimeSpan.FromSeconds(3) && files.Any(f => f.IsBig) ? s : null;
            var filesToDownload = _plan?.FilesToDownload ?? 0;
            var queued = Math.Max(0, filesToDownload - _done - _skippedDuring - _failed - files.Count);
            return new ProgressSnapshot(
                _revision, _plan, done, total, _transferred, speed, eta, _time.GetElapsedTime(_started, now),
                _done, (_plan?.FilesAlreadyPresent ?? 0) + _skippedDuring, _failed, _retries, queued, files, stats, _summary)
            {
                FilesListed = _listed,
            };
        }
    }

    private sealed class ActiveFile(string path, long size, bool isBig, long resumed, long now, long order, TimeProvider time)
    {
        public string Path { get; } = path;

        public long Size { get; } = size;

        public bool IsBig { get; } = isBig;

        /// <summary>Bytes on disk before this run started on the file (a resumed big file).</summary>
        public long Baseline { get; } = Math.Min(resumed, size);

        public long MaxBytes { get; set; } = Math.Min(resumed, size);

        public long LastAdvance { get; set; } = now;

        public long Order { get; } = order;

        public FileRetrying? Retry { get; set; }

        /// <summary>A big file no connection fetches now (the engine said so): waiting, not stalled.</summary>
        public bool WaitingForConnection { get; set; }

        public long RetryAt { get; set; }

        public RateWindow Rate { get; } = RateWindow.Starting(TimeSpan.FromSeconds(3), time, now);
    }
}

/// <summary>A sliding-window rate: the value's growth between the oldest and newest sample inside the window.</summary>
internal sealed class RateWindow(TimeSpan window, TimeProvider time)
{
    private readonly Queue<(long At, long Value)> _samples = new();
    private double _rate;

    public void Add(long timestamp, long value)
    {
        _samples.Enqueue((timestamp, value));
        // Keep one sample at or beyond the window's start, so the span covers the whole window.
        while (_samples.Count > 2)
        {
            var second = _samples.ElementAt(1);
            if (time.GetElapsedTime(second.At, timestamp) >= window)
            {
                _samples.Dequeue();
            }
            else
            {
                break;
            }
        }
        var oldest = _samples.Peek();
        var span = time.GetElapsedTime(oldest.At, timestamp).TotalSeconds;
        _rate = span > 0.05 ? (value - oldest.Value) / span : _rate;
    }

    public double PerSecond() => _rate;

    /// <summary>A window whose first sample is 0 at <paramref name="timestamp"/>.</summary>
    public static RateWindow Starting(TimeSpan window, TimeProvider time, long timestamp)
    {
        var rate = new RateWindow(window, time);
        rate.Add(timestamp, 0);
        return rate;
    }
}

internal sealed record RetrySnapshot(int Attempt, string Reason, TimeSpan Remaining);

internal sealed record FileSnapshot(string Path, long Done, long Size, bool IsBig, double BytesPerSecond, TimeSpan? StalledFor, RetrySnapshot? Retry)
{
    /// <summary>A big file waiting for a connection (they all work on other files): neither stalled nor failing.</summary>
    public bool WaitingForConnection { get; init; }
}

/// <param name="BytesDone">Bytes of the planned download that are on disk (verified, or received so far).</param>
/// <param name="BytesTotal">Bytes the plan downloads, less the missing part of files that failed.</param>
/// <param name="BytesTransferred">Bytes received in this run.</param>
internal sealed record ProgressSnapshot(
    RevisionResolved? Revision,
    PlanReady? Plan,
    long BytesDone,
    long BytesTotal,
    long BytesTransferred,
    double BytesPerSecond,
    TimeSpan? Eta,
    TimeSpan Elapsed,
    int FilesDone,
    int FilesSkipped,
    int FilesFailed,
    int Retries,
    int FilesQueued,
    IReadOnlyList<FileSnapshot> Active,
    TransferStats? Connections,
    DownloadSummary? Summary)
{
    public double Fraction => BytesTotal > 0 ? Math.Clamp((double)BytesDone / BytesTotal, 0, 1) : Plan is null ? 0 : 1;

    /// <summary>Files of the listing received so far, while a big repo's listing arrives (0 until the first report).</summary>
    public int FilesListed { get; init; }
}
