using System.Buffers;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Fetches big files over a pool of connections that all pull segments from the files in flight, in order, and
/// steal half of the largest remaining segment when nothing else is left. The pool's size follows the
/// <see cref="ConnectionController"/>.
/// </summary>
internal sealed class BigFileScheduler
{
    // A steal wastes what the victim's server already pushed past the split into socket buffers (a few MB at most),
    // so only splits that leave both halves well above that are worth it.
    private const long MinimumSteal = 4L * 1024 * 1024;
    private const long MinimumSegment = 1024 * 1024;
    private const double SegmentSeconds = 0.5;
    // The last quarter of a file is taken four times finer (in time, so a fast connection is not slowed down by a
    // request per few MB): see SegmentTable.TakeNext.
    private const double TailSegmentSeconds = 0.125;
    // Ticks often enough that the speed test and each ramp step end within ~25 ms of their decision point (25 ms
    // at 500 MB/s is 12 MB); a tick costs microseconds.
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan StatsInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>How often each big file's bytes are reported: a bar that moved only twice a second showed a rate that sagged between its steps.</summary>
    private static readonly TimeSpan FileProgressInterval = TimeSpan.FromMilliseconds(100);
    // What arrived since the last writeback is what the final fsync of a file must write before its rename (which
    // waits for it): 100 ms of data (50 MB at 500 MB/s) instead of 500 ms took that fsync from 70-115 ms to 13-23 ms
    // on a 2 GiB file.
    private static readonly TimeSpan WritebackInterval = TimeSpan.FromMilliseconds(100);

    private readonly HubClient _client;
    private readonly DownloadOptions _options;
    private readonly RepoType _type;
    private readonly RepoId _id;
    private readonly string _commit;
    private readonly ConnectionController _controller;
    private readonly IProgress<DownloadEvent>? _progress;
    private readonly ITransferJournal _journal;
    private readonly RangeFetch _fetch;
    private readonly CommitStep _commitStep;
    private readonly Func<int> _otherConnections;
    private readonly XetSession? _xet;
    private readonly object _gate = new();
    private readonly Queue<Work> _pending = new();
    private readonly List<BigFileJob> _active = [];
    private readonly List<Task> _finalizers = [];
    private readonly List<ConnectionMeter> _meters = [];
    private int _activeWorkers;
    private int _opening;
    private int _writebackRunning;

    /// <param name="ViaXet">Fetched through native Xet (falling back to plain HTTPS on any failure).</param>
    public sealed record Work(RemoteFile File, string FinalPath, string TempPath, IReadOnlyList<(long Start, long End)> Done, int Attempt = 1, bool ViaXet = false)
    {
        /// <summary>Hears of the file's writes (readers that follow the download); kept for the second attempt too.</summary>
        public IWriteListener? Listener { get; init; }
    }

    public BigFileScheduler(
        HubClient client,
        DownloadOptions options,
        RepoType type,
        RepoId id,
        string commit,
        ConnectionController controller,
        IProgress<DownloadEvent>? progress,
        ITransferJournal journal,
        RangeFetch fetch,
        Func<int>? otherConnections = null,
        XetSession? xet = null)
    {
        _client = client;
        _options = options;
        _type = type;
        _id = id;
        _commit = commit;
        _controller = controller;
        _progress = progress;
        _journal = journal;
        _otherConnections = otherConnections ?? (() => 0);
        _fetch = fetch;
        _xet = xet;
        _commitStep = new CommitStep(journal, progress);
    }

    public async Task RunAsync(IEnumerable<Work> files, CancellationToken cancellationToken)
    {
        foreach (var work in files)
        {
            _pending.Enqueue(work);
        }
        var workers = new List<Task>();
        var lastStats = _options.Time.GetTimestamp();
        var lastWriteback = lastStats;
        var lastFileProgress = lastStats;
        using var timer = new PeriodicTimer(TickInterval, _options.Time);
        try
        {
            while (true)
            {
                workers.RemoveAll(t => t.IsCompleted);
                lock (_gate)
                {
                    // -t bounds all connections: those small files hold meanwhile are not available to big ones.
                    while (_activeWorkers < _controller.Target && _activeWorkers + _otherConnections() < _controller.Maximum && HasWorkLocked())
                    {
                        _activeWorkers++;
                        var meter = new ConnectionMeter(_options.Time);
                        _meters.Add(meter);
                        workers.Add(Task.Run(() => WorkerAsync(meter, cancellationToken), CancellationToken.None));
                    }
                    if (_pending.Count == 0 && _active.Count == 0 && _opening == 0 && _activeWorkers == 0)
                    {
                        break;
                    }
                }
                await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
                _controller.Tick(Volatile.Read(ref _activeWorkers), DeliveringConnections());
                var now = _options.Time.GetTimestamp();
                if (_options.Time.GetElapsedTime(lastStats, now) >= StatsInterval)
                {
                    lastStats = now;
                    ReportStats();
                }
                if (_options.Time.GetElapsedTime(lastFileProgress, now) >= FileProgressInterval)
                {
                    lastFileProgress = now;
                    ReportFileProgress();
                }
                if (_options.Time.GetElapsedTime(lastWriteback, now) >= WritebackInterval)
                {
                    lastWriteback = now;
                    StartWriteback();
                }
            }
        }
        finally
        {
            await Task.WhenAll(workers.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
            Task[] finalizers;
            lock (_gate)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    foreach (var job in _active)
                    {
                        job.Abort();
                    }
                }
                finalizers = [.. _finalizers];
            }
            await Task.WhenAll(finalizers).ConfigureAwait(false);
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    private int DeliveringConnections()
    {
        lock (_gate)
        {
            return _meters.Count(m => !m.Finished && m.Delivered);
        }
    }

    private bool HasWorkLocked() =>
        _pending.Count > 0 || _active.Any(j => j.Xet is { IsActive: true } xet
            ? xet.HasUnits
            : j.Table.HasUnowned() || j.Table.LargestStealable() >= 2 * MinimumSteal);

    private void ReportStats()
    {
        if (_progress is null)
        {
            return;
        }
        List<double> rates;
        lock (_gate)
        {
            _meters.RemoveAll(m => m.Finished);
            rates = [.. _meters.Select(m => m.SampleRate(_options.Time))];
        }
        _progress.Report(new TransferStats(Volatile.Read(ref _activeWorkers), _controller.Target, _controller.CurrentRate, rates, _controller.PhaseName));
    }

    private void ReportFileProgress()
    {
        if (_progress is null)
        {
            return;
        }
        BigFileJob[] jobs;
        lock (_gate)
        {
            jobs = [.. _active];
        }
        foreach (var job in jobs)
        {
            _progress.Report(new FileProgress(job.File.Path, job.BytesWritten, job.File.Size) { Connections = Volatile.Read(ref job.Connections) });
        }
    }

    /// <summary>
    /// Keeps the kernel writing what arrived to disk as it arrives, off this loop (the call can block while the disk
    /// queue is full), so the final flush of each file is short and the page cache never holds gigabytes of dirty data.
    /// </summary>
    private void StartWriteback()
    {
        if (Interlocked.CompareExchange(ref _writebackRunning, 1, 0) != 0)
        {
            return;
        }
        BigFileJob[] jobs;
        lock (_gate)
        {
            jobs = [.. _active];
        }
        _ = Task.Run(() =>
        {
            try
            {
                foreach (var job in jobs)
                {
                    job.StartWriteback();
                }
            }
            finally
            {
                Volatile.Write(ref _writebackRunning, 0);
            }
        });
    }

    /// <summary>
    /// Records the written ranges of every file in flight whose ranges grew since they were last recorded (called by
    /// the journal just before it saves, so what it saves is at most one save interval behind the disk).
    /// </summary>
    public void Checkpoint()
    {
        BigFileJob[] jobs;
        lock (_gate)
        {
            jobs = [.. _active];
        }
        foreach (var job in jobs)
        {
            var written = job.BytesWritten;
            if (written == Interlocked.Read(ref job.RecordedBytes))
            {
                continue;
            }
            try
            {
                if (job.RecordProgress(ranges => _journal.Partial(job.File, job.TempPath, ranges)) is { } ranges)
                {
                    Interlocked.Exchange(ref job.RecordedBytes, ranges.Sum(r => r.End - r.Start));
                }
            }
            catch (IOException)
            {
                // The next checkpoint tries again; the journal only ever lags behind the disk, never ahead of it.
            }
        }
    }

    private async Task WorkerAsync(ConnectionMeter meter, CancellationToken cancellationToken)
    {
        var counted = true;
        var buffer = ArrayPool<byte>.Shared.Rent(RangeFetch.BufferSize);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var (job, segment, unit) = TakeWork(cancellationToken);
                if (job is null || (segment is null && unit is null))
                {
                    break;
                }
                if (unit is not null)
                {
                    await FetchXetUnitAsync(job, unit, meter, buffer, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await FetchSegmentAsync(job, segment!, meter, buffer, cancellationToken).ConfigureAwait(false);
                }
                // Connections are shed between segments, never mid-range: dropping a response wastes what the server
                // already sent into the socket buffers.
                if (TryShed())
                {
                    counted = false; // TryShed already took this worker off the count.
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C or a fatal error elsewhere: the finalizers record what is on disk.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            meter.Finished = true;
            if (counted)
            {
                Interlocked.Decrement(ref _activeWorkers);
            }
        }
    }

    private (BigFileJob? Job, Segment? Segment, XetUnit? Unit) TakeWork(CancellationToken cancellationToken)
    {
        while (true)
        {
            Work? next;
            lock (_gate)
            {
                var limit = SegmentLimit(SegmentSeconds);
                var tailLimit = SegmentLimit(TailSegmentSeconds);
                foreach (var job in _active)
                {
                    if (job.Xet is { IsActive: true } xet)
                    {
                        // A Xet file's segments are its terms' bytes, owned by the units that write them.
                        if (xet.TakeUnit() is { } unit)
                        {
                            return (job, null, unit);
                        }
                    }
                    else if (job.Table.TakeNext(limit, tailLimit) is { } segment)
                    {
                        return (job, segment, null);
                    }
                }
                if (!_pending.TryDequeue(out next))
                {
                    var victim = _active.Where(j => j.IsPlain).OrderByDescending(j => j.Table.LargestStealable()).FirstOrDefault();
                    if (victim?.Table.Steal(MinimumSteal) is { } stolen)
                    {
                        return (victim, stolen, null);
                    }
                    return (null, null, null);
                }
                _opening++;
            }
            try
            {
                var job = OpenJob(next);
                lock (_gate)
                {
                    _active.Add(job);
                    _finalizers.Add(Task.Run(() => FinalizeAsync(job)));
                }
                job.Xet?.Start(cancellationToken);
            }
            catch (Exception ex) when (ex is HfdlException or IOException or UnauthorizedAccessException)
            {
                _journal.Failed(next.File, ex);
            }
            finally
            {
                lock (_gate)
                {
                    _opening--;
                }
            }
        }
    }

    /// <summary>
    /// The most a connection takes at once: about half a second at its share of the rate. The sha256 follows the
    /// contiguous written prefix, so a segment that takes long holds the hash back (and, at the end of a file, the
    /// rename) while the rest of the file is already there; short segments keep that lag, and the tail, short. Bounded
    /// by 1 MiB (a request costs a round trip) and --chunk-size. During the ramp the share is what one connection
    /// carried before the step, not the current rate spread over connections that have not delivered yet: that would
    /// give them 1 MiB requests, each paying a round trip, and make the step look worse than it is.
    /// </summary>
    private long SegmentLimit(double seconds)
    {
        var perConnection = _controller.PerConnectionRate;
        return perConnection <= 0 ? _options.ChunkSize : Math.Clamp((long)(perConnection * seconds), MinimumSegment, _options.ChunkSize);
    }

    private BigFileJob OpenJob(Work work)
    {
        // Enough segments that every connection has work, but none larger than --chunk-size.
        var segmentSize = Math.Min(_options.ChunkSize, Math.Max(MinimumSegment, work.File.Size / Math.Max(1, _controller.Maximum * 2)));
        try
        {
            var source = new CachedLocationSource(_client, _type, _id, _commit, work.File, _options.UrlRefreshInterval, _options.Time);
            var job = BigFileJob.Open(work.File, work.FinalPath, work.TempPath, work.Done, segmentSize, work.Attempt, source,
                RetryBudget.For(work.File.Path, work.File.Size, _options.MaxRetries, _options.Time), work.Listener);
            if (work.ViaXet && _xet is not null && !job.Table.IsComplete)
            {
                job.Xet = new XetFileJob(_xet, job);
            }
            _progress?.Report(new FileStarted(work.File.Path, work.File.Size, IsBig: true, ResumedBytes: job.BytesWritten));
            return job;
        }
        catch (IOException ex) when (TransientFaults.IsDiskFull(ex))
        {
            throw new DiskFullException(work.FinalPath, ex);
        }
    }

    private async Task FetchSegmentAsync(BigFileJob job, Segment segment, ConnectionMeter meter, byte[] buffer, CancellationToken cancellationToken)
    {
        var target = new SegmentTarget(job, segment);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, job.FailedToken);
        Interlocked.Increment(ref job.Connections);
        try
        {
            await _fetch.FetchAsync(job.Source, target, job.Budget, buffer, read =>
            {
                meter.Add(read);
                _controller.AddBytes(read);
            }, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || job.FailedToken.IsCancellationRequested)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Anything else, including a bug, fails this file (with its message) rather than vanishing with a worker.
            job.Fail(TransientFaults.IsDiskFull(ex) ? new DiskFullException(job.FinalPath, ex) : ex);
        }
        finally
        {
            Interlocked.Decrement(ref job.Connections);
            job.Table.Release(target.Segment);
        }
    }

    /// <summary>One Xet unit of a file: any failure other than a cancellation or a full disk makes the file fall back to plain HTTPS.</summary>
    private async Task FetchXetUnitAsync(BigFileJob job, XetUnit unit, ConnectionMeter meter, byte[] buffer, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, job.FailedToken);
        Interlocked.Increment(ref job.Connections);
        try
        {
            await unit.Owner.RunUnitAsync(unit, _fetch, buffer, read =>
            {
                meter.Add(read);
                _controller.AddBytes(read);
            }, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || job.FailedToken.IsCancellationRequested)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
        catch (Exception ex) when (TransientFaults.IsDiskFull(ex) || ex is DiskFullException)
        {
            job.Fail(ex as DiskFullException ?? new DiskFullException(job.FinalPath, ex));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            unit.Owner.FallBack(ex);
        }
        finally
        {
            Interlocked.Decrement(ref job.Connections);
        }
    }

    /// <summary>Leaves the pool if it is larger than the controller wants (one worker at a time).</summary>
    private bool TryShed()
    {
        var active = Volatile.Read(ref _activeWorkers);
        return active > _controller.Target && Interlocked.CompareExchange(ref _activeWorkers, active - 1, active) == active;
    }

    private async Task FinalizeAsync(BigFileJob job)
    {
        var hashing = job.HashAsync(job.FailedToken);
        try
        {
            await job.AllWritten.ConfigureAwait(false);
            // Committed, queued again or reported as failed: the commit step records each.
            await _commitStep.CommitAsync(job.File, job.TempPath, job.FinalPath, job.BytesWritten, hashing,
                () =>
                {
                    job.FlushToDisk();
                    return Task.CompletedTask;
                }, verified =>
                {
                    lock (_gate)
                    {
                        // Queue the second attempt in the same step that retires this one, so the scheduler never
                        // sees an empty queue and no active file in between (it would stop before the retry).
                        _active.Remove(job);
                        if (!verified && job.Attempt == 1)
                        {
                            // The second attempt goes over plain HTTPS: if Xet assembled wrong bytes, it would again.
                            _pending.Enqueue(new Work(job.File, job.FinalPath, FileFetcher.NewTempPath(job.FinalPath), [], Attempt: 2) { Listener = job.Listener });
                        }
                    }
                    if (!verified)
                    {
                        job.Xet?.Discredit();
                    }
                    job.Close();
                }, job.Attempt, job.StartedAt, onVerified: () => job.Listener?.Verified(job)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Failed or interrupted: keep the temporary file and record what is on disk, so a rerun resumes.
            try
            {
                if (job.Checkpoint() is { } ranges)
                {
                    _journal.Partial(job.File, job.TempPath, ranges);
                    _journal.SaveSoon();
                }
            }
            catch (IOException)
            {
                // Nothing recorded means the rerun starts this file over: slower, never wrong.
            }
            Remove(job);
            job.Close();
            if (job.Failure is { } failure)
            {
                _journal.Failed(job.File, failure);
            }
            else if (ex is not OperationCanceledException)
            {
                _journal.Failed(job.File, ex);
            }
            try
            {
                await hashing.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The hasher ends with the same failure or cancellation.
            }
        }
        finally
        {
            await job.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Remove(BigFileJob job)
    {
        lock (_gate)
        {
            _active.Remove(job);
        }
    }

    /// <summary>Bytes one connection received, sampled for its rate.</summary>
    private sealed class ConnectionMeter(TimeProvider clock)
    {
        private long _bytes;
        private long _sampledBytes;
        private long _sampledAt = clock.GetTimestamp();

        public bool Finished { get; set; }

        /// <summary>This connection has received bytes: it is past its connect and first round trip.</summary>
        public bool Delivered => Interlocked.Read(ref _bytes) > 0;

        public void Add(int bytes) => Interlocked.Add(ref _bytes, bytes);

        public double SampleRate(TimeProvider time)
        {
            var now = time.GetTimestamp();
            var bytes = Interlocked.Read(ref _bytes);
            var seconds = time.GetElapsedTime(_sampledAt, now).TotalSeconds;
            var rate = seconds > 0 ? (bytes - _sampledBytes) / seconds : 0;
            _sampledAt = now;
            _sampledBytes = bytes;
            return rate;
        }
    }
}

/// <summary>The disk is full. Verified files are kept and the state stays resumable.</summary>
public sealed class DiskFullException(string path, Exception inner)
    : HfdlException($"The disk is full (while writing '{path}'). Verified files were kept and the download can resume: free some space, then run the same command again.", inner);
