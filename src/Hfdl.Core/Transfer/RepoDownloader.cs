using System.Diagnostics;
using System.Text.RegularExpressions;
using Hfdl.Hub;
using Hfdl.Integrity;
using Hfdl.Planning;
using Hfdl.Progress;
using Hfdl.Storage;

namespace Hfdl.Transfer;

/// <summary>
/// Downloads a repo (or some of its files) at one commit into a folder: resolve the revision, list the files, skip
/// what is already there and verified, fetch small files first on all workers, then big ones. Every file is verified
/// before it gets its final name.
/// </summary>
public sealed partial class RepoDownloader
{
    private readonly HubClient _client;
    private readonly DownloadOptions _options;

    public RepoDownloader(HubClient client, DownloadOptions options)
    {
        options.Validate();
        _client = client;
        _options = options;
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    /// <summary>True when <paramref name="revision"/> is a full commit id, which needs no resolving.</summary>
    public static bool IsCommit(string revision) => CommitPattern().IsMatch(revision);

    /// <summary>Resolves a branch, tag or PR ref to its commit (a commit id resolves to itself without a call).</summary>
    public async Task<string> ResolveCommitAsync(RepoType type, RepoId id, string revision, CancellationToken cancellationToken)
    {
        if (IsCommit(revision))
        {
            return revision;
        }
        var info = await _client.GetRepoInfoAsync(type, id, revision, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (info.Sha is not { } sha || !IsCommit(sha))
        {
            throw new HubProtocolException($"The Hub did not say which commit revision '{revision}' of {type.Name()} '{id}' is (no valid 'sha' in the repo info).");
        }
        return sha;
    }

    /// <summary>The commit a revision resolves to, and every file of the repo at that commit.</summary>
    public async Task<(string Commit, IReadOnlyList<RemoteFile> Files)> ListFilesAsync(RepoType type, RepoId id, string revision, CancellationToken cancellationToken)
    {
        var commit = await ResolveCommitAsync(type, id, revision, cancellationToken).ConfigureAwait(false);
        var files = await FilePlanner.ListFilesAsync(_client, type, id, commit, cancellationToken).ConfigureAwait(false);
        return (commit, files);
    }

    public async Task<DownloadSummary> DownloadAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var revision = request.Revision ?? "main";
        var commit = await ResolveCommitAsync(request.RepoType, request.RepoId, revision, cancellationToken).ConfigureAwait(false);
        progress?.Report(new RevisionResolved(request.RepoType, request.RepoId, revision, commit));

        var listed = await FilePlanner.ListFilesAsync(_client, request.RepoType, request.RepoId, commit, cancellationToken).ConfigureAwait(false);
        var files = FilePlanner.Select(listed, request.Files, request.RepoType, request.RepoId, revision);
        files = PathFilter.Apply(files, request.Include, request.Exclude, request.RepoType, request.RepoId, revision);

        var root = Path.GetFullPath(request.TargetFolder);
        var targets = files.Select(f => (File: f, Path: RepoLayout.FilePath(root, f.Path))).ToList();
        Directory.CreateDirectory(root);
        var state = DownloadStateStore.Open(root, request.RepoType, request.RepoId, _options.Time);
        state.Update(s => s with { Revision = revision, Commit = commit });

        // Present and recorded as verified (same etag, size and modification time): no work at all. Present but
        // not recorded: hashed by a worker, adopted if it matches, downloaded otherwise.
        var work = new List<(RemoteFile File, string Path)>();
        var run = new RunCounters();
        foreach (var (file, path) in targets)
        {
            if (IsRecordedComplete(state, file, path))
            {
                run.Skipped++;
                progress?.Report(new FileSkipped(file.Path, file.Size, "already downloaded and verified"));
            }
            else
            {
                work.Add((file, path));
            }
        }
        progress?.Report(new PlanReady(root, files.Count, files.Sum(f => f.Size), work.Count, work.Sum(w => w.File.Size), run.Skipped, _options.BigFileThreshold));

        var limiter = _options.MaxBytesPerSecond is { } cap ? new BandwidthLimiter(cap, _options.Time) : null;
        var fetcher = new FileFetcher(_client, _options, limiter, progress);
        var saver = new ThrottledSaver(state, _options.Time, TimeSpan.FromSeconds(1));
        using var fatal = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var journal = new Journal(state, saver, commit, progress, run, fatal);

        async ValueTask ProcessSmallAsync((RemoteFile File, string Path) item, CancellationToken ct)
        {
            var (file, path) = item;
            try
            {
                if (await TryAdoptExistingAsync(file, path, ct).ConfigureAwait(false))
                {
                    journal.Adopted(file, path);
                    return;
                }
                var fileStarted = Stopwatch.GetTimestamp();
                progress?.Report(new FileStarted(file.Path, file.Size, IsBig: false));
                var digest = await fetcher.FetchAsync(request.RepoType, request.RepoId, commit, file, path, ct).ConfigureAwait(false);
                journal.Completed(file, path, digest, Stopwatch.GetElapsedTime(fileStarted));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is HfdlException or IOException or HttpRequestException or UnauthorizedAccessException)
            {
                journal.Failed(file, ex);
            }
        }

        try
        {
            var small = work.Where(w => !IsBig(w.File)).ToList();
            var big = work.Where(w => IsBig(w.File)).OrderByDescending(w => w.File.Size).ToList();
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.Threads, CancellationToken = fatal.Token };
            await Parallel.ForEachAsync(small, parallel, ProcessSmallAsync).ConfigureAwait(false);
            if (big.Count > 0)
            {
                var bigWork = await PrepareBigFilesAsync(big, state, journal, fatal.Token).ConfigureAwait(false);
                var controller = new ConnectionController(_options.Threads, _options.MinSpeedPerConnection, _options.SpeedTestDuration, _options.Time);
                var scheduler = new BigFileScheduler(_client, _options, request.RepoType, request.RepoId, commit, limiter, controller, progress, journal);
                await scheduler.RunAsync(bigWork, fatal.Token).ConfigureAwait(false);
                foreach (var item in bigWork.Where(w => !journal.HasOutcome(w.File.Path)))
                {
                    // Never report success for a file that did not arrive, whatever went wrong inside.
                    journal.Failed(item.File, new HfdlException($"'{item.File.Path}' was not completed. Run the same command again to resume it."));
                }
            }
        }
        catch (OperationCanceledException) when (journal.FatalError is not null && !cancellationToken.IsCancellationRequested)
        {
            // A fatal error stopped the other workers; it is rethrown below.
        }
        finally
        {
            saver.SaveNow();
        }
        if (journal.FatalError is { } fatalError)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(fatalError);
        }

        var summary = new DownloadSummary(root, commit, run.Downloaded, run.Skipped, run.Failed, run.Bytes, Stopwatch.GetElapsedTime(started));
        progress?.Report(new DownloadFinished(summary));
        return summary;
    }

    private bool IsBig(RemoteFile file) => file.Size > 0 && file.Size >= _options.BigFileThreshold;

    /// <summary>
    /// Big files: adopt a final copy that hashes right, resume a partial one the journal vouches for (same etag and
    /// size, temporary file still there), and discard partial data of a file that changed on the Hub.
    /// </summary>
    private static async Task<List<BigFileScheduler.Work>> PrepareBigFilesAsync(List<(RemoteFile File, string Path)> big, DownloadStateStore state, Journal journal, CancellationToken cancellationToken)
    {
        var result = new List<BigFileScheduler.Work>();
        foreach (var (file, path) in big)
        {
            var recorded = state.Get(file.Path);
            if (recorded is { Status: FileState.Partial, TempFile: { } tempName })
            {
                var tempPath = Path.Combine(Path.GetDirectoryName(path)!, tempName);
                if (recorded.Etag == file.Etag && recorded.Size == file.Size && File.Exists(tempPath))
                {
                    var ranges = recorded.Ranges!.Select(r => (r[0], r[1])).ToList();
                    result.Add(new BigFileScheduler.Work(file, path, tempPath, ranges));
                    continue;
                }
                // The file changed on the Hub (or its partial data is gone): its old bytes are worthless.
                AtomicFile.TryDelete(tempPath);
                state.SetFile(file.Path, null);
            }
            if (await TryAdoptExistingAsync(file, path, cancellationToken).ConfigureAwait(false))
            {
                journal.Adopted(file, path);
                continue;
            }
            result.Add(new BigFileScheduler.Work(file, path, BigFileScheduler.NewTempPath(path), []));
        }
        return result;
    }

    private sealed class RunCounters
    {
        public int Downloaded;
        public int Skipped;
        public int Failed;
        public long Bytes;
    }

    /// <summary>Records outcomes in the state journal and the counters, and reports them as progress.</summary>
    private sealed class Journal(DownloadStateStore state, ThrottledSaver saver, string commit, IProgress<DownloadEvent>? progress, RunCounters run, CancellationTokenSource fatal) : IBigFileJournal
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _outcomes = new(StringComparer.Ordinal);
        private Exception? _fatalError;

        public Exception? FatalError => Volatile.Read(ref _fatalError);

        public bool HasOutcome(string path) => _outcomes.ContainsKey(path);

        public void Adopted(RemoteFile file, string path)
        {
            _outcomes[file.Path] = true;
            RecordComplete(state, file, path, commit);
            Interlocked.Increment(ref run.Skipped);
            progress?.Report(new FileSkipped(file.Path, file.Size, "already on disk with the right hash"));
            saver.SaveSoon();
        }

        public void Completed(RemoteFile file, string finalPath, string digest, TimeSpan elapsed)
        {
            _outcomes[file.Path] = true;
            RecordComplete(state, file, finalPath, commit);
            Interlocked.Increment(ref run.Downloaded);
            Interlocked.Add(ref run.Bytes, file.Size);
            progress?.Report(new FileCompleted(file.Path, file.Size, $"{(file.Hash.Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{digest}", elapsed));
            saver.SaveSoon();
        }

        public void Partial(RemoteFile file, string tempPath, IReadOnlyList<(long Start, long End)> ranges)
        {
            state.SetFile(file.Path, new FileState
            {
                Size = file.Size,
                Etag = file.Etag,
                Commit = commit,
                Status = FileState.Partial,
                TempFile = Path.GetFileName(tempPath),
                Ranges = [.. ranges.Select(r => new[] { r.Start, r.End })],
            });
        }

        public void Discarded(RemoteFile file) => state.SetFile(file.Path, null);

        public void Failed(RemoteFile file, Exception exception)
        {
            _outcomes[file.Path] = false;
            if (IsFatal(exception))
            {
                Interlocked.CompareExchange(ref _fatalError, exception is IOException io && TransientFaults.IsDiskFull(io) ? new DiskFullException(file.Path, io) : exception, null);
                fatal.Cancel();
                return;
            }
            Interlocked.Increment(ref run.Failed);
            progress?.Report(new FileFailed(file.Path, exception is HfdlException ? exception.Message : $"'{file.Path}' failed: {exception.Message}"));
        }

        public void Save() => saver.SaveNow();
    }

    /// <summary>Errors that would fail every other file the same way: stop at once instead of repeating them.</summary>
    private static bool IsFatal(Exception ex) => ex is RepositoryNotFoundException or GatedRepoException or DisabledRepoException
        or InvalidTokenException or HubUnreachableException or UnauthorizedAccessException or DiskFullException
        || TransientFaults.IsDiskFull(ex);

    private static bool IsRecordedComplete(DownloadStateStore state, RemoteFile file, string path)
    {
        if (state.Get(file.Path) is not { Status: FileState.Complete } recorded
            || recorded.Etag != file.Etag || recorded.Size != file.Size)
        {
            return false;
        }
        var info = new FileInfo(path);
        return info.Exists && info.Length == file.Size && info.LastWriteTimeUtc.Ticks == recorded.MtimeTicks;
    }

    private static void RecordComplete(DownloadStateStore state, RemoteFile file, string path, string commit)
    {
        var info = new FileInfo(path);
        state.SetFile(file.Path, new FileState
        {
            Size = file.Size,
            Etag = file.Etag,
            Commit = commit,
            Status = FileState.Complete,
            MtimeTicks = info.LastWriteTimeUtc.Ticks,
            VerifiedAt = DateTimeOffset.UtcNow,
        });
    }

    /// <summary>A file already at the target with the right size is hashed; if it matches it is kept as it is.</summary>
    private static async Task<bool> TryAdoptExistingAsync(RemoteFile file, string path, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length != file.Size || info.LinkTarget is not null)
        {
            return false;
        }
        var digest = await LocalHasher.HashFileAsync(path, file.Hash, cancellationToken).ConfigureAwait(false);
        return digest == file.Hash.Hex;
    }

    /// <summary>Saves the journal at most once per interval while files complete, and always at the end.</summary>
    private sealed class ThrottledSaver(DownloadStateStore state, TimeProvider time, TimeSpan interval)
    {
        private readonly object _gate = new();
        private DateTimeOffset _lastSave = DateTimeOffset.MinValue;

        public void SaveSoon()
        {
            lock (_gate)
            {
                if (time.GetUtcNow() - _lastSave < interval)
                {
                    return;
                }
                Save();
            }
        }

        public void SaveNow()
        {
            lock (_gate)
            {
                Save();
            }
        }

        private void Save()
        {
            state.Save(time);
            _lastSave = time.GetUtcNow();
        }
    }
}
