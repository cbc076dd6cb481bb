using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Polly;
using Polly.Retry;

namespace Hfdl.Core.Transfer;

/// <summary>What the scheduler tells the journal about big files.</summary>
internal interface IBigFileJournal
{
    /// <summary>These ranges of the temporary file are written: in the page cache at least, see <see cref="BigFileJob.Checkpoint"/>.</summary>
    void Partial(RemoteFile file, string tempPath, IReadOnlyList<(long Start, long End)> ranges);

    void Completed(RemoteFile file, string finalPath, string digest, TimeSpan elapsed);

    void Failed(RemoteFile file, Exception exception);

    /// <summary>A temporary file was given up (hash mismatch): forget it.</summary>
    void Discarded(RemoteFile file);

    void Save();
}

/// <summary>
/// Fetches big files over a pool of connections that all pull segments from the files in flight, in order, and
/// steal half of the largest remaining segment when nothing else is left. The pool's size follows the
/// <see cref="ConnectionController"/>.
/// </summary>
internal sealed class BigFileScheduler
{
    private const int BufferSize = 256 * 1024;
    private const int FlushBytes = 128 * 1024;
    // A steal wastes what the victim's server already pushed past the split into socket buffers (a few MB at most),
    // so only splits that leave both halves well above that are worth it.
    private const long MinimumSteal = 4L * 1024 * 1024;
    private const long MinimumSegment = 1024 * 1024;
    private const double SegmentSeconds = 0.5;
    // The last quarter of a file is taken four times finer (in time, so a fast connection is not slowed down by a
    // request per few MB): see BigFileJob.TakeNext.
    private const double TailSegmentSeconds = 0.125;
    // Ticks often enough that the speed test and each ramp step end within ~25 ms of their decision point (25 ms
    // at 500 MB/s is 12 MB); a tick costs microseconds.
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan StatsInterval = TimeSpan.FromMilliseconds(500);
    // What arrived since the last writeback is what the final fsync of a file must write before its rename (which
    // waits for it): 100 ms of data (50 MB at 500 MB/s) instead of 500 ms took that fsync from 70-115 ms to 13-23 ms
    // on a 2 GiB file.
    private static readonly TimeSpan WritebackInterval = TimeSpan.FromMilliseconds(100);

    private readonly HubClient _client;
    private readonly DownloadOptions _options;
    private readonly RepoType _type;
    private readonly RepoId _id;
    private readonly string _commit;
    private readonly BandwidthLimiter? _limiter;
    private readonly ConnectionController _controller;
    private readonly IProgress<DownloadEvent>? _progress;
    private readonly IBigFileJournal _journal;
    private readonly ResiliencePipeline _retry;
    private readonly Func<int> _otherConnections;
    private readonly object _gate = new();
    private readonly Queue<Work> _pending = new();
    private readonly List<BigFileJob> _active = [];
    private readonly List<Task> _finalizers = [];
    private readonly List<ConnectionMeter> _meters = [];
    private int _activeWorkers;
    private int _opening;
    private int _writebackRunning;

    public sealed record Work(RemoteFile File, string FinalPath, string TempPath, IReadOnlyList<(long Start, long End)> Done, int Attempt = 1);

    public BigFileScheduler(
        HubClient client,
        DownloadOptions options,
        RepoType type,
        RepoId id,
        string commit,
        BandwidthLimiter? limiter,
        ConnectionController controller,
        IProgress<DownloadEvent>? progress,
        IBigFileJournal journal,
        Func<int>? otherConnections = null)
    {
        _client = client;
        _options = options;
        _type = type;
        _id = id;
        _commit = commit;
        _limiter = limiter;
        _controller = controller;
        _progress = progress;
        _journal = journal;
        _otherConnections = otherConnections ?? (() => 0);
        _retry = TransientFaults.CreateRetryPipeline(options, progress);
    }

    private static ResiliencePropertyKey<string> PathKey => TransientFaults.PathKey;

    public async Task RunAsync(IEnumerable<Work> files, CancellationToken cancellationToken)
    {
        foreach (var work in files)
        {
            _pending.Enqueue(work);
        }
        var workers = new List<Task>();
        var lastStats = _options.Time.GetTimestamp();
        var lastCheckpoint = lastStats;
        var lastWriteback = lastStats;
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
                if (_options.Time.GetElapsedTime(lastWriteback, now) >= WritebackInterval)
                {
                    lastWriteback = now;
                    StartWriteback();
                }
                if (_options.Time.GetElapsedTime(lastCheckpoint, now) >= _options.CheckpointInterval)
                {
                    lastCheckpoint = now;
                    Checkpoint();
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
        _pending.Count > 0 || _active.Any(j => j.HasUnownedSegments() || j.LargestStealable() >= 2 * MinimumSteal);

    private void ReportStats()
    {
        if (_progress is null)
        {
            return;
        }
        List<double> rates;
        BigFileJob[] jobs;
        lock (_gate)
        {
            _meters.RemoveAll(m => m.Finished);
            rates = [.. _meters.Select(m => m.SampleRate(_options.Time))];
            jobs = [.. _active];
        }
        _progress.Report(new TransferStats(Volatile.Read(ref _activeWorkers), _controller.Target, _controller.CurrentRate, rates, _controller.PhaseName));
        foreach (var job in jobs)
        {
            _progress.Report(new FileProgress(job.File.Path, job.BytesWritten, job.File.Size));
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

    private void Checkpoint()
    {
        BigFileJob[] jobs;
        lock (_gate)
        {
            jobs = [.. _active];
        }
        var any = false;
        foreach (var job in jobs)
        {
            try
            {
                if (job.Checkpoint() is { } ranges)
                {
                    _journal.Partial(job.File, job.TempPath, ranges);
                    any = true;
                }
            }
            catch (IOException)
            {
                // The next checkpoint tries again; the journal only ever lags behind the disk, never ahead of it.
            }
        }
        if (any)
        {
            _journal.Save();
        }
    }

    private async Task WorkerAsync(ConnectionMeter meter, CancellationToken cancellationToken)
    {
        var counted = true;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var (job, segment) = TakeWork();
                if (job is null || segment is null)
                {
                    break;
                }
                await FetchSegmentAsync(job, segment, meter, buffer, cancellationToken).ConfigureAwait(false);
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

    private (BigFileJob? Job, Segment? Segment) TakeWork()
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
                    if (job.TakeNext(limit, tailLimit) is { } segment)
                    {
                        return (job, segment);
                    }
                }
                if (!_pending.TryDequeue(out next))
                {
                    var victim = _active.OrderByDescending(j => j.LargestStealable()).FirstOrDefault();
                    if (victim?.Steal(MinimumSteal) is { } stolen)
                    {
                        return (victim, stolen);
                    }
                    return (null, null);
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
            var job = BigFileJob.Open(work.File, work.FinalPath, work.TempPath, work.Done, segmentSize, work.Attempt);
            _progress?.Report(new FileStarted(work.File.Path, work.File.Size, IsBig: true, ResumedBytes: job.BytesWritten));
            return job;
        }
        catch (IOException ex) when (TransientFaults.IsDiskFull(ex))
        {
            throw new DiskFullException(work.FinalPath, ex);
        }
    }

    private enum Outcome
    {
        Done,
        Progressed,
        Stale,
    }

    private sealed class SegmentHolder(Segment segment)
    {
        public Segment Segment { get; set; } = segment;
    }

    private async Task<Outcome> FetchSegmentAsync(BigFileJob job, Segment segment, ConnectionMeter meter, byte[] buffer, CancellationToken cancellationToken)
    {
        var holder = new SegmentHolder(segment);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, job.FailedToken);
        try
        {
            for (var passes = 0; ; passes++)
            {
                var context = ResilienceContextPool.Shared.Get(linked.Token);
                context.Properties.Set(PathKey, job.File.Path);
                Outcome outcome;
                try
                {
                    outcome = await _retry.ExecuteAsync(
                        async ctx => await AttemptAsync(job, holder, meter, buffer, ctx.CancellationToken).ConfigureAwait(false),
                        context).ConfigureAwait(false);
                }
                finally
                {
                    ResilienceContextPool.Shared.Return(context);
                }
                if (outcome != Outcome.Progressed)
                {
                    return outcome;
                }
                if (passes > 10_000)
                {
                    throw new HubProtocolException($"The transfer of '{job.File.Path}' kept breaking after delivering a few bytes; hfdl gave up.");
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || job.FailedToken.IsCancellationRequested)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Outcome.Stale;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Anything else, including a bug, fails this file (with its message) rather than vanishing with a worker.
            job.Fail(TransientFaults.IsDiskFull(ex) ? new DiskFullException(job.FinalPath, ex) : ex);
            return Outcome.Stale;
        }
        finally
        {
            job.Release(holder.Segment);
        }
    }

    private async Task<Outcome> AttemptAsync(BigFileJob job, SegmentHolder holder, ConnectionMeter meter, byte[] buffer, CancellationToken cancellationToken)
    {
        var segment = holder.Segment;
        if (job.IsStale(segment))
        {
            return Outcome.Stale;
        }
        var (from, end) = job.Snapshot(segment);
        if (from >= end)
        {
            return Outcome.Done;
        }
        var url = await job.GetDownloadUrlAsync(_client, _type, _id, _commit, _options.UrlRefreshInterval, _options.Time, cancellationToken).ConfigureAwait(false);
        var context = _client.Context(_type, _id, _commit, job.File.Path);
        using var response = await _client.SendFileRequestAsync(url, from, end - 1, context, cancellationToken).ConfigureAwait(false);
        var finalUri = response.RequestMessage?.RequestUri ?? url;
        if (!response.IsSuccessStatusCode)
        {
            if (response.StatusCode == HttpStatusCode.Forbidden && !HubUrls.IsSameOrigin(finalUri, _client.Endpoint))
            {
                job.InvalidateUrl(url);
                throw new ExpiredDownloadUrlException(job.File.Path, response.StatusCode);
            }
            throw await HubErrorMapper.CreateAsync(response, context, cancellationToken).ConfigureAwait(false);
        }
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            var range = response.Content.Headers.ContentRange;
            if (range is null || range.From != from || (range.Length is { } total && total != job.File.Size))
            {
                throw new HubProtocolException($"The server answered a range request for '{job.File.Path}' with the wrong range ({range?.ToString() ?? "none"} for bytes {from}-{end - 1}).");
            }
        }
        else
        {
            if (response.Content.Headers.ContentLength is { } length && length != job.File.Size)
            {
                throw new IntegrityException(job.File.Path, $"The server announced {length} bytes for '{job.File.Path}', but the Hub lists {job.File.Size}; hfdl refuses the mismatch.");
            }
            // The server ignored Range and sends the whole file: let this connection take the whole file over.
            segment = job.RestartAsWhole();
            holder.Segment = segment;
        }

        var startedAt = job.Snapshot(segment).From;
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watchdog = new StallWatchdog(stall, _client.Options.ReadTimeout);
        try
        {
            // Reads are gathered into one larger write: a capped server trickles small reads, and a write (with its
            // locks and syscall) per read would cost more CPU than the bytes themselves.
            var filled = 0;
            var ended = false;
            while (!ended)
            {
                watchdog.Arm();
                var read = await body.ReadAsync(buffer.AsMemory(filled, BufferSize - filled), stall.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    ended = true;
                }
                else
                {
                    filled += read;
                    meter.Add(read);
                    _controller.AddBytes(read);
                    if (_limiter is not null)
                    {
                        await _limiter.ConsumeAsync(read, cancellationToken).ConfigureAwait(false);
                    }
                }
                if (filled >= FlushBytes || (ended && filled > 0) || (filled > 0 && job.Snapshot(segment) is var (at, segmentEnd) && at + filled >= segmentEnd))
                {
                    for (var offset = 0; offset < filled;)
                    {
                        var position = job.BeginWrite(segment, filled - offset, out var count);
                        if (position < 0)
                        {
                            // The segment shrank (its tail was stolen) or went stale: this connection is done with it.
                            return job.IsStale(segment) ? Outcome.Stale : Outcome.Done;
                        }
                        await job.WriteAsync(buffer.AsMemory(offset, count), position, cancellationToken).ConfigureAwait(false);
                        job.EndWrite(segment, count);
                        offset += count;
                    }
                    filled = 0;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (job.Snapshot(segment).From > startedAt)
            {
                return Outcome.Progressed;
            }
            throw new TransferStalledException(job.File.Path, _client.Options.ReadTimeout);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException && !TransientFaults.IsDiskFull(ex) && job.Snapshot(segment).From > startedAt)
        {
            return Outcome.Progressed;
        }
        var (position2, end2) = job.Snapshot(segment);
        if (position2 >= end2)
        {
            return Outcome.Done;
        }
        if (position2 > startedAt)
        {
            return Outcome.Progressed;
        }
        throw new TruncatedBodyException($"The server ended a range of '{job.File.Path}' at byte {position2} instead of {end2}.");
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
            // Durable before it gets its final name: after a power loss the final name holds the whole file or is
            // absent, never a file whose tail is still only in the page cache. The flush (what arrived since the last
            // writeback, ~100 ms of data) runs while the hash reads the last segments back; the rename waits for
            // both. On a mismatch the flush was wasted work, which is rare.
            var flushing = Task.Run(job.FlushToDisk);
            await Task.WhenAll(hashing, flushing).ConfigureAwait(false);
            var digest = await hashing.ConfigureAwait(false);
            var mismatch = digest != job.File.Hash.Hex;
            lock (_gate)
            {
                // Queue the second attempt in the same step that retires this one, so the scheduler never sees an
                // empty queue and no active file in between (it would stop before the retry).
                if (mismatch && job.Attempt == 1)
                {
                    _pending.Enqueue(new Work(job.File, job.FinalPath, NewTempPath(job.FinalPath), [], Attempt: 2));
                }
                _active.Remove(job);
            }
            job.Close();
            if (mismatch)
            {
                AtomicFile.TryDelete(job.TempPath);
                _journal.Discarded(job.File);
                if (job.Attempt == 1)
                {
                    _progress?.Report(new FileRetrying(job.File.Path, 2, "content did not match the expected hash; downloading it again", TimeSpan.Zero));
                    return;
                }
                _journal.Failed(job.File, new IntegrityException(job.File.Path,
                    $"'{job.File.Path}' arrived with {(job.File.Hash.Kind == Integrity.HashKind.Sha256 ? "sha256" : "git sha1")} {digest}, but the Hub lists {job.File.Hash.Hex}, twice. The corrupt copies were deleted; nothing was put under the final name."));
                return;
            }
            File.Move(job.TempPath, job.FinalPath, overwrite: true);
            _journal.Completed(job.File, job.FinalPath, digest, Stopwatch.GetElapsedTime(job.StartedAt));
        }
        catch (Exception ex)
        {
            // Failed or interrupted: keep the temporary file and record what is on disk, so a rerun resumes.
            try
            {
                if (job.Checkpoint() is { } ranges)
                {
                    _journal.Partial(job.File, job.TempPath, ranges);
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

    public static string NewTempPath(string finalPath) =>
        Path.Combine(Path.GetDirectoryName(finalPath)!, $".{Path.GetFileName(finalPath)}.{RandomNumberGenerator.GetHexString(8, lowercase: true)}.hfdl-part");

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
