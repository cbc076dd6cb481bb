using System.Collections.Concurrent;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Microsoft.Win32.SafeHandles;

namespace Hfdl.Hub.Mirror;

/// <summary>
/// The upstream transfers in flight, one per blob: the first request for a blob that is not stored starts one, every
/// other request for it (from any client) joins it. Each runs the engine of <c>hfdl download</c> (the big-file
/// scheduler: adaptive connections, verification, the resumable journal) into the store, independent of the request
/// that started it; only the mirror's shutdown stops it, and then its journal lets the next start resume it.
/// </summary>
internal sealed class FetchRegistry(MirrorStore store, RepoSessions sessions, MirrorOptions options, MirrorLog log, MirrorMetrics metrics, BlobLru lru)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, InFlightFile> _flights = new(StringComparer.Ordinal);
    // Store updates running now (listings, refs, access checks), by what they update: a second request for the same one
    // joins it instead of starting another. An update leaves when it ends, so a long-running mirror keeps none.
    private readonly ConcurrentDictionary<string, Task> _updates = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    // Files whose upstream copy failed verification lately, with when: see VerificationFailureHold.
    private readonly Dictionary<(MirrorRepo Repo, string Commit, string Path), DateTimeOffset> _rejectedCopies = [];

    /// <summary>
    /// How long, after the upstream's copy of a file failed verification (twice, as every transfer tries it), requests for
    /// it are answered at once instead of fetching it again: each client retry would otherwise fetch the whole file from
    /// the upstream again (twice), most likely as wrong as before. Short, so a copy fixed upstream is soon served.
    /// </summary>
    public static readonly TimeSpan VerificationFailureHold = TimeSpan.FromMinutes(1);

    /// <summary>Store updates running now.</summary>
    public int UpdatesRunning => _updates.Count;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _flights.Count;
            }
        }
    }

    public long BytesInFlight
    {
        get
        {
            lock (_gate)
            {
                return _flights.Values.Sum(f => f.BytesFromUpstream);
            }
        }
    }

    /// <summary>The transfer filling <paramref name="blobPath"/>, or null when none runs.</summary>
    public InFlightFile? Find(string blobPath)
    {
        lock (_gate)
        {
            return _flights.GetValueOrDefault(blobPath);
        }
    }

    /// <summary>
    /// The transfer of <paramref name="file"/> (at <paramref name="commit"/>): the one running, or a new one that asks the
    /// upstream through <paramref name="client"/>. <c>Joined</c> says whether it was already running. No transfer
    /// (null) when the blob is stored: a transfer that ended since the caller looked stored it.
    /// </summary>
    /// <param name="startedByHeadersProbe">Whether the request starting it is a headers probe (see <see cref="InFlightFile.StartedByHeadersProbe"/>).</param>
    public (InFlightFile? Flight, bool Joined) GetOrStart(MirrorRepo repo, string commit, RemoteFile file, HubClient client, bool startedByHeadersProbe = false)
    {
        var blob = store.BlobPath(repo, file.Etag);
        InFlightFile flight;
        lock (_gate)
        {
            // A flight that has ended (its transfer still winding down) is joined only while its blob is there: an
            // eviction may have taken the blob since, and a reader of that flight would find nothing to read.
            if (_flights.TryGetValue(blob, out var running) && !(running.Completion.IsCompleted && !store.IsStored(repo, file)))
            {
                return (running, true);
            }
            if (store.IsStored(repo, file))
            {
                return (null, false);
            }
            // A flight that just failed verification and is still winding down has not recorded it yet: its hold starts now.
            var rejectedAt = running is { Completion.IsCompleted: true, Failure: IntegrityException } ? options.Time.GetUtcNow() : RejectedAt(repo, commit, file.Path);
            if (rejectedAt is { } at)
            {
                throw new UpstreamCopyRejectedException(file, at + VerificationFailureHold - options.Time.GetUtcNow());
            }
            if (_stopping.IsCancellationRequested)
            {
                throw new MirrorUnavailableException("The mirror is shutting down; try again in a moment.");
            }
            flight = new InFlightFile(repo, commit, file, blob) { StartedByHeadersProbe = startedByHeadersProbe };
            _flights[blob] = flight;
        }
        flight.Run = Task.Run(() => RunAsync(flight, client));
        return (flight, false);
    }

    private async Task RunAsync(InFlightFile flight, HubClient client)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (repo, file) = (flight.Repo, flight.File);
        log.Write("transfer_started", ("repo", repo.ToString()), ("commit", flight.Commit), ("path", file.Path), ("size", file.Size));
        RepoSession? session = null;
        BigFileScheduler.Work? work = null;
        try
        {
            session = await sessions.AcquireAsync(repo, _stopping.Token).ConfigureAwait(false);
            RecordListing(repo, flight.Commit, client);
            var blob = session.Layout.DataPath(file);
            if (store.IsStored(repo, file))
            {
                flight.Committed();
                return;
            }
            SafeFileSystem.CreateDirectory(store.Root, Path.GetDirectoryName(blob)!);
            work = RepoPlanner.ResumableTemp(session.State, file, blob) is { } resumable
                ? new BigFileScheduler.Work(file, blob, resumable.TempPath, resumable.Ranges) { Listener = flight }
                : new BigFileScheduler.Work(file, blob, FileFetcher.NewTempPath(blob), []) { Listener = flight };
            if (work.Done.Count > 0)
            {
                log.Write("transfer_resumed", ("repo", repo.ToString()), ("path", file.Path), ("bytesOnDisk", work.Done.Sum(r => r.End - r.Start)));
            }
            var progress = new LogProgress(log, repo, flight);
            var journal = new TransferJournal(session, flight, flight.Commit, store, log, metrics, lru);
            var download = options.Download;
            var fetch = new RangeFetch(client, download, limiter: null, progress);
            var controller = new ConnectionController(download.Threads, download.MinSpeedPerConnection, download.SpeedTestDuration, download.Time);
            var scheduler = new BigFileScheduler(client, download, repo.Type, repo.Id, flight.Commit, controller, progress, journal, fetch);
            session.Add(scheduler);
            try
            {
                await scheduler.RunAsync([work], _stopping.Token).ConfigureAwait(false);
            }
            finally
            {
                session.Remove(scheduler);
            }
            if (!flight.Completion.IsCompleted)
            {
                flight.Failed(new HfdlException($"The upstream transfer of '{file.Path}' ended without the file. Ask again to retry it."));
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            flight.Failed(new MirrorUnavailableException("The mirror is shutting down; the transfer is journaled and resumes when it starts again."));
        }
        catch (Exception ex)
        {
            flight.Failed(ex);
        }
        finally
        {
            lock (_gate)
            {
                if (flight.Failure is IntegrityException)
                {
                    RecordRejected(repo, flight.Commit, file.Path);
                }
                // Only this flight: a newer one for the same blob (after an eviction) stays.
                if (_flights.TryGetValue(flight.BlobPath, out var current) && ReferenceEquals(current, flight))
                {
                    _flights.Remove(flight.BlobPath);
                }
            }
            if (session is not null && work is not null && IsGoneUpstream(flight.Failure))
            {
                Forget(repo, session, work);
            }
            else if (session is not null && work is not null && flight.Failure is not null && !_stopping.IsCancellationRequested)
            {
                RecordGaveUp(session, work);
            }
            metrics.TransferEnded(flight.BytesFromUpstream);
            var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (flight.Completion.IsCompletedSuccessfully && flight.Completion.Result)
            {
                log.Write("transfer_completed", ("repo", repo.ToString()), ("path", file.Path), ("size", file.Size), ("upstreamBytes", flight.BytesFromUpstream), ("seconds", seconds));
            }
            else
            {
                log.Write("transfer_failed", ("repo", repo.ToString()), ("path", file.Path), ("upstreamBytes", flight.BytesFromUpstream), ("seconds", seconds), ("error", flight.Failure?.Message));
            }
            if (session is not null)
            {
                await sessions.ReleaseAsync(session).ConfigureAwait(false);
            }
        }
    }

    /// <summary>When the upstream's copy of the file failed verification, within <see cref="VerificationFailureHold"/>; under the gate.</summary>
    private DateTimeOffset? RejectedAt(MirrorRepo repo, string commit, string path)
    {
        if (!_rejectedCopies.TryGetValue((repo, commit, path), out var at))
        {
            return null;
        }
        if (options.Time.GetUtcNow() - at < VerificationFailureHold)
        {
            return at;
        }
        _rejectedCopies.Remove((repo, commit, path));
        return null;
    }

    /// <summary>Remembers a copy that failed verification, dropping the records that expired (so none stays for long); under the gate.</summary>
    private void RecordRejected(MirrorRepo repo, string commit, string path)
    {
        var now = options.Time.GetUtcNow();
        foreach (var expired in _rejectedCopies.Where(r => now - r.Value >= VerificationFailureHold).Select(r => r.Key).ToList())
        {
            _rejectedCopies.Remove(expired);
        }
        _rejectedCopies[(repo, commit, path)] = now;
    }

    /// <summary>
    /// The upstream no longer has the file at that commit (the commit, the file or the repo is gone, not refused to a
    /// token): a resume could never finish it.
    /// </summary>
    internal static bool IsGoneUpstream(Exception? failure) => failure is RevisionNotFoundException or EntryNotFoundException;

    /// <summary>
    /// Drops what a transfer of a file gone upstream left: its part file (which <c>--max-size</c> does not count and no
    /// resume would ever finish) and its journal entry, unless the entry is another transfer's by now.
    /// </summary>
    private void Forget(MirrorRepo repo, RepoSession session, BigFileScheduler.Work work)
    {
        try
        {
            if (session.State.Get(work.File.Path) is { TempFile: { } temp } entry && temp == Path.GetFileName(work.TempPath) && entry.Etag == work.File.Etag)
            {
                session.State.SetFile(work.File.Path, null);
                session.Saver.SaveSoon();
            }
            File.Delete(work.TempPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Write("warning", ("repo", repo.ToString()), ("message", $"Could not remove the part file of '{work.File.Path}', which its upstream no longer has: {ex.Message}"));
        }
    }

    /// <summary>
    /// Marks the journal entry of a transfer that failed for good (not one a shutdown stopped): its part file stays for a
    /// client's next request to resume from, but the next start of the mirror does not resume it on its own, which would
    /// fetch from an upstream that just failed it, again at every start, with no client asking.
    /// </summary>
    private void RecordGaveUp(RepoSession session, BigFileScheduler.Work work)
    {
        if (session.State.Get(work.File.Path) is { Status: FileState.Partial, TempFile: { } temp } entry && temp == Path.GetFileName(work.TempPath) && entry.Etag == work.File.Etag)
        {
            session.State.SetFile(work.File.Path, entry with { FailedAt = options.Download.Time.GetUtcNow() });
            session.Saver.SaveSoon();
        }
    }

    /// <summary>
    /// Keeps the commit's listing in the store (<c>trees/&lt;commit&gt;.json</c>), once per commit, so the mirror can list
    /// it without the upstream later (and huggingface_hub finds it complete offline). Only an aid: failures are logged.
    /// </summary>
    private void RecordListing(MirrorRepo repo, string commit, HubClient client)
    {
        if (store.Listing(repo, commit) is not null)
        {
            return;
        }
        Track(store.RepoFolder(repo) + "@" + commit, async () =>
        {
            var files = await FilePlanner.ListFilesAsync(client, repo.Type, repo.Id, commit, _stopping.Token).ConfigureAwait(false);
            // The store keeps no listing holding a name hfdl will not write (it serves what it records).
            FilePlanner.RefuseUnwritable(files);
            var session = await sessions.AcquireAsync(repo, _stopping.Token).ConfigureAwait(false);
            try
            {
                session.Layout.SaveTree(commit, files);
            }
            finally
            {
                await sessions.ReleaseAsync(session).ConfigureAwait(false);
            }
        });
    }

    /// <summary>Writes the store's ref for a revision the upstream resolved (<c>refs/&lt;revision&gt;</c>), under the repo's lock.</summary>
    public void RecordRevision(MirrorRepo repo, string revision, string commit) =>
        Track(store.RepoFolder(repo) + "#" + revision + "@" + commit, async () =>
        {
            var session = await sessions.AcquireAsync(repo, _stopping.Token).ConfigureAwait(false);
            try
            {
                session.Layout.RecordRevision(revision, commit);
            }
            finally
            {
                await sessions.ReleaseAsync(session).ConfigureAwait(false);
            }
        });

    /// <summary>
    /// Asks the upstream, without a token, for the metadata of a file a token was given: an answer makes the repo
    /// public (its stored content is then served to anyone, with or without the upstream), a refusal keeps it
    /// restricted. Once per repo and process; anything else (the upstream unreachable) leaves it restricted.
    /// </summary>
    public void Classify(MirrorRepo repo, string commit, string path, MirrorAccess access, HubClient anonymous) =>
        RunOnce(store.RepoFolder(repo) + "?access", async () =>
        {
            try
            {
                await anonymous.GetFileMetadataAsync(repo.Type, repo.Id, commit, path, cancellationToken: _stopping.Token).ConfigureAwait(false);
                access.Accepted(repo, null);
            }
            catch (HubException refused) when (refused is RepositoryNotFoundException or GatedRepoException or DisabledRepoException
                || refused.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
            {
                access.Refused(repo, null);
            }
            catch (Exception ex) when (ex is HfdlException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
            {
                log.Write("warning", ("repo", repo.ToString()), ("message", $"Could not ask the upstream whether {repo} is public ({ex.Message}); it is served only to tokens the upstream accepts."));
            }
        });

    /// <summary>
    /// Resumes the transfers an earlier run journaled and did not finish (a shutdown or a crash stopped them), for repos
    /// whose bytes are public: no client token is needed, nor kept. The others resume when a client asks for them, as do
    /// transfers that failed for good (<see cref="FileState.FailedAt"/>): they were not in flight.
    /// </summary>
    public void ResumeInterrupted(MirrorAccess access, HubClient anonymous)
    {
        foreach (var (repo, folder) in store.Repos())
        {
            if (access.Of(repo) != RepoAccess.Public || !File.Exists(Path.Combine(folder, DownloadState.FileName)))
            {
                continue;
            }
            var state = DownloadStateStore.Open(folder, repo.Type, repo.Id, options.Download.Time, readOnly: true);
            foreach (var (path, entry) in state.Current.Files)
            {
                if (entry is { Status: FileState.Partial, Commit: { } commit, FailedAt: null } && RepoDownloader.IsCommit(commit)
                    && Core.Integrity.ContentHash.TryFromEtag(entry.Etag, out var hash) && RepoFilePath.TryValidate(path, out _))
                {
                    var file = new RemoteFile(path, entry.Size, hash, hash.Kind == Core.Integrity.HashKind.Sha256);
                    if (!store.IsStored(repo, file))
                    {
                        log.Write("transfer_resuming", ("repo", repo.ToString()), ("path", path));
                        // No client started it: every client that asks joins a transfer already running.
                        GetOrStart(repo, commit, file, anonymous);
                    }
                }
            }
        }
    }

    private void Track(string key, Func<Task> work) => RunOnce(key, async () =>
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HfdlException or IOException or UnauthorizedAccessException or HttpRequestException or OperationCanceledException)
        {
            log.Write("warning", ("message", $"Could not record {key[(key.LastIndexOf(Path.DirectorySeparatorChar) + 1)..]} in the store: {ex.Message}"));
        }
    });

    /// <summary>Runs <paramref name="work"/> in the background unless an update of <paramref name="key"/> is running already.</summary>
    private void RunOnce(string key, Func<Task> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_updates.TryAdd(key, done.Task))
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            finally
            {
                _updates.TryRemove(key, out _);
                done.SetResult();
            }
        });
    }

    /// <summary>Stops every transfer: each journals what it wrote (the next start resumes it); waits for them to end.</summary>
    public async Task StopAsync()
    {
        Task[] running;
        lock (_gate)
        {
            _stopping.Cancel();
            running = [.. _flights.Values.Select(f => f.Run)];
        }
        await Task.WhenAll(running.Concat(_updates.Values).Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
    }

    /// <summary>Progress of a transfer, as log lines: retries and warnings (the engine's other events are for a progress display).</summary>
    private sealed class LogProgress(MirrorLog log, MirrorRepo repo, InFlightFile flight) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value)
        {
            switch (value)
            {
                case FileRetrying retrying:
                    log.Write("transfer_retrying", ("repo", repo.ToString()), ("path", retrying.Path), ("attempt", retrying.Attempt), ("reason", retrying.Reason));
                    flight.Retrying(retrying);
                    break;
                case Warning warning:
                    log.Write("warning", ("repo", repo.ToString()), ("message", warning.Message));
                    break;
            }
        }
    }
}

/// <summary>What one upstream transfer tells the store: its ranges (journal), its verified blob (placed in the cache), its end.</summary>
internal sealed class TransferJournal(RepoSession session, InFlightFile flight, string commit, MirrorStore store, MirrorLog log, MirrorMetrics metrics, BlobLru lru) : ITransferJournal
{
    public void Partial(RemoteFile file, string tempPath, IReadOnlyList<(long Start, long End)> ranges)
    {
        RepoDownloader.RecordPartial(session.State, file, tempPath, ranges, commit);
        session.Saver.SaveSoon();
    }

    public void Completed(RemoteFile file, string finalPath, string digest, TimeSpan elapsed)
    {
        RepoDownloader.RecordComplete(session.State, file, finalPath, commit);
        store.Verified(finalPath);
        try
        {
            session.Layout.Place(file, commit);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HfdlException)
        {
            // The blob is stored and served; only huggingface_hub's view of the snapshot lacks the link.
            log.Write("warning", ("repo", flight.Repo.ToString()), ("message", $"'{file.Path}' is stored, but its snapshot link could not be made: {ex.Message}"));
        }
        session.Saver.SaveSoon();
        // In the store's use order before any client has the last byte: a client that then asks for another file
        // makes that one the more recent, whatever the thread scheduler does (an eviction test saw the order swapped
        // under load, and the file just fetched evicted instead of the older one).
        lru.Added(flight.Repo, finalPath, file.Size);
        flight.Committed();
    }

    public void Failed(RemoteFile file, Exception exception) => flight.Failed(exception);

    public void Discarded(RemoteFile file)
    {
        session.State.SetFile(file.Path, null);
        session.Saver.SaveSoon();
        metrics.VerificationFailed();
        log.Write("verification_failed", ("repo", flight.Repo.ToString()), ("path", file.Path), ("message", "the upstream copy did not match its size or hash; its readers were cut, nothing was stored"));
        flight.Discarded();
    }

    public void SaveSoon() => session.Saver.SaveSoon();
}

/// <summary>
/// One blob on its way from the upstream: the job writing it (per attempt), whether it was verified and stored, and a
/// signal that wakes the readers following it whenever bytes land.
/// </summary>
internal sealed class InFlightFile(MirrorRepo repo, string commit, RemoteFile file, string blobPath) : IWriteListener
{
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _waiting;
    private BigFileJob? _job;
    private int _attempt;
    private int _discarded;
    private int _verified;
    private long _earlierAttemptsBytes;

    public MirrorRepo Repo { get; } = repo;

    public string Commit { get; } = commit;

    public RemoteFile File { get; } = file;

    public string BlobPath { get; } = blobPath;

    public Task Run { get; set; } = Task.CompletedTask;

    /// <summary>True once the blob is verified and stored; false when the transfer failed (and stored nothing).</summary>
    public Task<bool> Completion => _done.Task;

    public Exception? Failure { get; private set; }

    // 1 while the download of the client whose headers probe started this transfer has not come yet.
    private int _probeStartersDownload;

    /// <summary>
    /// Whether a headers probe (<c>bytes=0-0</c>, which @huggingface/hub sends before its GET of the file) started this
    /// transfer: its miss then stands for the download that follows the probe, which comes as this transfer's first
    /// download (<see cref="TakeProbeStartersDownload"/>).
    /// </summary>
    public bool StartedByHeadersProbe
    {
        init => _probeStartersDownload = value ? 1 : 0;
    }

    /// <summary>
    /// True once, for the first download of a transfer a headers probe started: the download the probe's miss stands
    /// for (not a join). Which client's download that is cannot be told, but the count comes out the same.
    /// </summary>
    public bool TakeProbeStartersDownload() => Interlocked.Exchange(ref _probeStartersDownload, 0) == 1;

    public long BytesFromUpstream
    {
        get
        {
            lock (_gate)
            {
                return _earlierAttemptsBytes + (_job?.BytesReceivedThisRun ?? 0);
            }
        }
    }

    /// <summary>
    /// The job of the current attempt (null before the first opens), its number, the last attempt that failed
    /// verification, and whether the current one matched its hash (its last byte may be read before it is stored).
    /// </summary>
    public (BigFileJob? Job, int Attempt, int Discarded, bool Verified) Current()
    {
        lock (_gate)
        {
            return (_job, _attempt, _discarded, _verified == _attempt && _attempt > 0);
        }
    }

    void IWriteListener.Verified(BigFileJob job)
    {
        lock (_gate)
        {
            if (ReferenceEquals(job, _job))
            {
                _verified = _attempt;
            }
        }
        Notify();
    }

    void IWriteListener.Opened(BigFileJob job)
    {
        lock (_gate)
        {
            _earlierAttemptsBytes += _job?.BytesReceivedThisRun ?? 0;
            _job = job;
            _attempt++;
        }
        Notify();
    }

    void IWriteListener.Changed() => Notify();

    public void Committed()
    {
        _done.TrySetResult(true);
        Notify();
    }

    public void Failed(Exception exception)
    {
        lock (_gate)
        {
            Failure ??= exception;
        }
        _done.TrySetResult(false);
        Notify();
    }

    /// <summary>
    /// The last retry the upstream itself caused (it could not be reached, <see cref="FileRetrying.Unreachable"/>, or it
    /// answered an error status, <see cref="FileRetrying.ServerStatus"/>): a client still waiting for the first byte is
    /// answered at once, in the Hub's error shape, instead of waiting for retries that may take minutes (the transfer
    /// goes on, and a client that asks again joins it).
    /// </summary>
    public FileRetrying? UpstreamRetry { get; private set; }

    public void Retrying(FileRetrying retrying)
    {
        if (retrying.Unreachable || retrying.ServerStatus is not null)
        {
            UpstreamRetry = retrying;
            Notify();
        }
    }

    /// <summary>The current attempt's bytes did not verify: whoever read them must be cut.</summary>
    public void Discarded()
    {
        lock (_gate)
        {
            _discarded = _attempt;
        }
        Notify();
    }

    /// <summary>Completes at the next change (bytes written, an attempt opened or ended, the transfer done). Take it before looking.</summary>
    public Task WhenChanged()
    {
        while (true)
        {
            if (Volatile.Read(ref _waiting) is { } waiting)
            {
                return waiting.Task;
            }
            var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (Interlocked.CompareExchange(ref _waiting, fresh, null) is null)
            {
                return fresh.Task;
            }
        }
    }

    // On the transfer's write path: one read when no reader waits.
    private void Notify()
    {
        if (Volatile.Read(ref _waiting) is not null)
        {
            Interlocked.Exchange(ref _waiting, null)?.TrySetResult();
        }
    }
}

/// <summary>
/// Reads a blob while the upstream transfer writes it: what the job's segment table says is written, through the job's
/// own handle, waiting for the bytes it does not have yet. The byte at <paramref name="heldByte"/> (the response's last,
/// or the file's last for a client that verifies the file itself) is held back until the whole file has matched its
/// hash (not until it is stored: the flush to the mirror's disk is no reason to wait), so no response ends looking
/// complete with wrong bytes: if the copy fails verification, the reader throws
/// (<see cref="MirrorTransferCutException"/>) and its response is cut.
/// </summary>
internal sealed class FollowingReader(InFlightFile flight, long heldByte) : IContentReader
{
    private int _attempt;
    private SafeFileHandle? _blob;

    public async ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var size = flight.File.Size;
        var wanted = (int)Math.Min(destination.Length, Math.Max(0, size - offset));
        if (wanted == 0)
        {
            return 0;
        }
        while (true)
        {
            var changed = flight.WhenChanged();
            var (job, attempt, discarded, verified) = flight.Current();
            if (_attempt != 0 && _attempt <= discarded)
            {
                throw new MirrorTransferCutException($"The upstream copy of '{flight.File.Path}' failed its hash check after some of it was sent; the response was cut so it cannot pass for the file.", flight.File, null);
            }
            if (flight.Completion.IsCompleted)
            {
                if (!flight.Completion.Result)
                {
                    throw new MirrorTransferCutException($"The upstream transfer of '{flight.File.Path}' failed: {flight.Failure?.Message}", flight.File, flight.Failure);
                }
                _blob ??= File.OpenHandle(flight.BlobPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
                return await RandomAccess.ReadAsync(_blob, destination[..wanted], offset, cancellationToken).ConfigureAwait(false);
            }
            if (job is not null)
            {
                // Up to the held byte, which waits for the verdict on the whole file (not for the file to be stored:
                // the mirror's flush to its disk is no reason for a client to wait).
                var available = Math.Min(job.Table.WrittenEnd(offset), verified ? size : Math.Min(heldByte, size - 1)) - offset;
                if (available > 0)
                {
                    try
                    {
                        var read = await RandomAccess.ReadAsync(job.Handle, destination[..(int)Math.Min(wanted, available)], offset, cancellationToken).ConfigureAwait(false);
                        if (read > 0)
                        {
                            _attempt = attempt;
                            return read;
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                        // The attempt closed its file (verified and renamed, or discarded): the next change says which.
                    }
                }
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _blob?.Dispose();
}

/// <summary>
/// A response was cut because the bytes it carried could not be vouched for. <paramref name="transferFailure"/>: why
/// the transfer failed (null when its copy failed verification), for a response that had not sent anything yet, which is
/// answered with the reason instead.
/// </summary>
internal sealed class MirrorTransferCutException(string message, RemoteFile file, Exception? transferFailure) : IOException(message)
{
    public RemoteFile File { get; } = file;

    public Exception? TransferFailure { get; } = transferFailure;
}

/// <summary>The mirror cannot answer now (shutting down, or neither the upstream nor the store has it); a 503.</summary>
internal sealed class MirrorUnavailableException(string message) : HfdlException(message);

/// <summary>
/// The upstream's copy of <see cref="File"/> failed verification lately (<see cref="FetchRegistry.VerificationFailureHold"/>):
/// no transfer is started for it before <see cref="RetryIn"/> has passed.
/// </summary>
internal sealed class UpstreamCopyRejectedException(RemoteFile file, TimeSpan retryIn)
    : HfdlException($"The upstream's copy of '{file.Path}' failed verification lately.")
{
    public RemoteFile File { get; } = file;

    public TimeSpan RetryIn { get; } = retryIn;
}

/// <summary>
/// What the mirror holds while it writes into one repo folder of the store: the folder's lock (shared with
/// <c>hfdl download --hf-cache</c> and <c>hfdl cache rm</c>), its journal and the saver that writes the ranges of the
/// transfers in flight to it. Shared by all the mirror's work on the repo; released when the last one ends.
/// </summary>
internal sealed class RepoSession(HfCacheLayout layout, RepoFolderLock folderLock, DownloadStateStore state, TimeProvider time, TimeSpan interval)
{
    private readonly List<BigFileScheduler> _schedulers = [];
    private readonly CancellationTokenSource _stopSaving = new();
    private Task _saving = Task.CompletedTask;

    public HfCacheLayout Layout { get; } = layout;

    public DownloadStateStore State { get; } = state;

    public RepoDownloader.ThrottledSaver Saver { get; } = new(state, time, interval);

    public int References { get; set; }

    public void Start()
    {
        Saver.BeforeSave = Checkpoint;
        _saving = Saver.RunAsync(_stopSaving.Token);
    }

    public void Add(BigFileScheduler scheduler)
    {
        lock (_schedulers)
        {
            _schedulers.Add(scheduler);
        }
    }

    public void Remove(BigFileScheduler scheduler)
    {
        lock (_schedulers)
        {
            _schedulers.Remove(scheduler);
        }
    }

    private void Checkpoint()
    {
        BigFileScheduler[] schedulers;
        lock (_schedulers)
        {
            schedulers = [.. _schedulers];
        }
        foreach (var scheduler in schedulers)
        {
            scheduler.Checkpoint();
        }
    }

    /// <summary>Saves the journal durably and lets the folder's lock go.</summary>
    public async Task EndAsync()
    {
        await _stopSaving.CancelAsync().ConfigureAwait(false);
        await _saving.ConfigureAwait(false);
        try
        {
            Saver.SaveNow();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DiskFullException)
        {
            // What is not journaled is fetched again: slower, never wrong.
        }
        folderLock.Dispose();
        _stopSaving.Dispose();
    }
}

/// <summary>The <see cref="RepoSession"/>s of the store's repos, made on first use and ended when the last user releases them.</summary>
internal sealed class RepoSessions(MirrorStore store, DownloadOptions download, MirrorLog log)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RepoSession> _sessions = new(StringComparer.Ordinal);

    public async Task<RepoSession> AcquireAsync(MirrorRepo repo, CancellationToken cancellationToken)
    {
        var folder = store.RepoFolder(repo);
        var gate = _gates.GetOrAdd(folder, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            RepoSession? session;
            lock (_sessions)
            {
                _sessions.TryGetValue(folder, out session);
            }
            if (session is null)
            {
                var layout = store.Layout(repo);
                layout.CheckForLinks();
                var folderLock = await RepoFolderLock.AcquireAsync(
                    folder,
                    holder => log.Write("waiting_for_lock", ("repo", repo.ToString()), ("holder", holder)),
                    download.Time,
                    cancellationToken).ConfigureAwait(false);
                try
                {
                    var state = DownloadStateStore.Open(folder, repo.Type, repo.Id, download.Time);
                    if (state.LoadWarning is { } warning)
                    {
                        log.Write("warning", ("repo", repo.ToString()), ("message", warning));
                    }
                    // Temporary files no journal entry names (a killed hfdl's small files) can never be resumed.
                    RepoDownloader.RemoveOrphanedTemporaryFiles(folder, state, null);
                    layout.RemoveStaleRecordTemporaryFiles();
                    session = new RepoSession(layout, folderLock, state, download.Time, download.CheckpointInterval);
                    session.Start();
                }
                catch
                {
                    folderLock.Dispose();
                    throw;
                }
                lock (_sessions)
                {
                    _sessions[folder] = session;
                }
            }
            session.References++;
            return session;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task ReleaseAsync(RepoSession session)
    {
        var folder = session.Layout.RepoFolder;
        var gate = _gates.GetOrAdd(folder, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (--session.References == 0)
            {
                lock (_sessions)
                {
                    _sessions.Remove(folder);
                }
                await session.EndAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            gate.Release();
        }
    }
}
