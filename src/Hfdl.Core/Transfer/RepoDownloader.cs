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

        var root = Path.GetFullPath(request.TargetFolder);
        var targets = files.Select(f => (File: f, Path: RepoLayout.FilePath(root, f.Path))).ToList();
        Directory.CreateDirectory(root);
        var state = DownloadStateStore.Open(root, request.RepoType, request.RepoId, _options.Time);
        state.Update(s => s with { Revision = revision, Commit = commit });

        // Present and recorded as verified (same etag, size and modification time): no work at all. Present but
        // not recorded: hashed by a worker, adopted if it matches, downloaded otherwise.
        var work = new List<(RemoteFile File, string Path)>();
        var skipped = 0;
        foreach (var (file, path) in targets)
        {
            if (IsRecordedComplete(state, file, path))
            {
                skipped++;
                progress?.Report(new FileSkipped(file.Path, file.Size, "already downloaded and verified"));
            }
            else
            {
                work.Add((file, path));
            }
        }
        progress?.Report(new PlanReady(root, files.Count, files.Sum(f => f.Size), work.Count, work.Sum(w => w.File.Size), skipped, _options.BigFileThreshold));

        var fetcher = new FileFetcher(_client, _options, progress);
        var downloaded = 0;
        var failed = 0;
        long bytes = 0;
        var saver = new ThrottledSaver(state, _options.Time, TimeSpan.FromSeconds(1));
        using var fatal = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? fatalError = null;

        async ValueTask ProcessAsync((RemoteFile File, string Path) item, CancellationToken ct)
        {
            var (file, path) = item;
            try
            {
                if (await TryAdoptExistingAsync(file, path, ct).ConfigureAwait(false))
                {
                    RecordComplete(state, file, path, commit);
                    Interlocked.Increment(ref skipped);
                    progress?.Report(new FileSkipped(file.Path, file.Size, "already on disk with the right hash"));
                    saver.SaveSoon();
                    return;
                }
                var fileStarted = Stopwatch.GetTimestamp();
                progress?.Report(new FileStarted(file.Path, file.Size, file.Size >= _options.BigFileThreshold));
                var digest = await fetcher.FetchAsync(request.RepoType, request.RepoId, commit, file, path, ct).ConfigureAwait(false);
                RecordComplete(state, file, path, commit);
                Interlocked.Increment(ref downloaded);
                Interlocked.Add(ref bytes, file.Size);
                progress?.Report(new FileCompleted(file.Path, file.Size, $"{(file.Hash.Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{digest}", Stopwatch.GetElapsedTime(fileStarted)));
                saver.SaveSoon();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (IsFatal(ex))
            {
                Interlocked.CompareExchange(ref fatalError, ex, null);
                await fatal.CancelAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HfdlException or IOException or HttpRequestException)
            {
                Interlocked.Increment(ref failed);
                progress?.Report(new FileFailed(file.Path, ex is HfdlException ? ex.Message : $"'{file.Path}' failed: {ex.Message}"));
            }
        }

        try
        {
            var small = work.Where(w => w.File.Size < _options.BigFileThreshold).ToList();
            var big = work.Where(w => w.File.Size >= _options.BigFileThreshold).OrderByDescending(w => w.File.Size).ToList();
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.Threads, CancellationToken = fatal.Token };
            await Parallel.ForEachAsync(small, parallel, ProcessAsync).ConfigureAwait(false);
            await Parallel.ForEachAsync(big, parallel, ProcessAsync).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (fatalError is not null && !cancellationToken.IsCancellationRequested)
        {
            // A fatal error stopped the other workers; it is rethrown below.
        }
        finally
        {
            saver.SaveNow();
        }
        if (fatalError is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(fatalError);
        }

        var summary = new DownloadSummary(root, commit, downloaded, skipped, failed, bytes, Stopwatch.GetElapsedTime(started));
        progress?.Report(new DownloadFinished(summary));
        return summary;
    }

    /// <summary>Errors that would fail every other file the same way: stop at once instead of repeating them.</summary>
    private static bool IsFatal(Exception ex) => ex is RepositoryNotFoundException or GatedRepoException or DisabledRepoException
        or InvalidTokenException or HubUnreachableException or UnauthorizedAccessException
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
