using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Downloads a repo (or some of its files) at one commit into a folder: resolve the revision, list the files, skip
/// what is already there and verified, fetch small files on all workers and big ones over the connections they leave
/// free, at the same time. Every file is verified before it gets its final name.
/// </summary>
internal sealed partial class RepoDownloader
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
    public Task<string> ResolveCommitAsync(RepoType type, RepoId id, string revision, CancellationToken cancellationToken) =>
        RepoPlanner.ResolveCommitAsync(_client, type, id, revision, cancellationToken);

    /// <summary>
    /// <c>ls</c>: the commit a request's revision resolves to and the files it selects (FILES and patterns applied),
    /// the same selection a download of that request makes.
    /// </summary>
    /// <param name="withUnwritableNames">
    /// Keep files whose names hfdl will not write (<see cref="RemoteFile.WriteProblem"/>): a listing writes nothing, and
    /// shows them; a download of the same selection refuses them.
    /// </param>
    /// <param name="listingProgress">Told how far a long listing got (<see cref="ListingProgress"/> only).</param>
    public async Task<(string Commit, IReadOnlyList<RemoteFile> Files)> ListAsync(DownloadRequest request, CancellationToken cancellationToken, bool withUnwritableNames = false, IProgress<DownloadEvent>? listingProgress = null)
    {
        if (request.Offline)
        {
            // No network call: the listing an earlier download recorded, as an offline plan reads it.
            var layout = CreateLayout(request, null);
            var local = RepoPlanner.SelectOffline(request, layout)
                ?? throw new OfflineIncompleteException(request.RepoType, request.RepoId, request.Revision ?? "main", null, RepoPlanner.OfflineGap(request, layout));
            return (local.Commit, local.Selected);
        }
        var selection = await RepoPlanner.SelectAsync(_client, request, listingProgress is null ? null : new ListingOnly(listingProgress), cancellationToken, withUnwritableNames).ConfigureAwait(false);
        return (selection.Commit, selection.Selected);
    }

    public async Task<DownloadSummary> DownloadAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var revision = request.Revision ?? "main";
        var layout = CreateLayout(request, progress);
        if (request.Offline)
        {
            return await DownloadOfflineAsync(request, layout, progress, started, null, cancellationToken).ConfigureAwait(false);
        }
        RepoSelection selection;
        try
        {
            selection = await RepoPlanner.SelectAsync(_client, request, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (HubUnreachableException unreachable)
        {
            // No network, but maybe nothing is needed from it: a revision completely present locally is a warning.
            return await DownloadOfflineAsync(request, layout, progress, started, unreachable, cancellationToken).ConfigureAwait(false);
        }
        catch (EntryNotFoundException missing) when (missing.Commit is { } missingAt && layout.Kind == LayoutKind.HfCache)
        {
            // The HF cache remembers files a commit does not have (.no_exist/), as huggingface_hub does.
            using var missingLock = await LockAsync(layout, progress, cancellationToken).ConfigureAwait(false);
            layout.CheckForLinks();
            layout.RecordRevision(revision, missingAt);
            foreach (var path in missing.MissingFiles)
            {
                layout.RecordMissing(path, missingAt);
            }
            throw;
        }
        var commit = selection.Commit;
        var root = layout.JournalFolder;
        // Names hfdl keeps for itself, or too long to open: refused before anything (even the folder) is created.
        TargetChecks.CheckNames([.. selection.Selected.Select(f => f.Path)], layout.Kind != LayoutKind.HfCache, layout.ResultFolder(commit));
        // A run the disk cannot hold is refused before it writes anything (its folder, lock, ref or listing), as its
        // dry run says; checked again under the lock below, with the journal as this run leaves it.
        var earlyPlan = InspectReadOnly(request, selection, layout, withExtras: false);
        if (CheckDiskSpace(earlyPlan, root) is { Fits: false, Available: { } free } early)
        {
            // The plan was made: it is said before the refusal (a reader of events saw the error alone), as its dry run shows it.
            progress?.Report(Ready(earlyPlan, earlyPlan.Files.GroupBy(f => f.DataKey, StringComparer.Ordinal).Select(g => (IReadOnlyList<PlannedFile>)[.. g]), layout.ResultFolder(commit)));
            throw new InsufficientDiskSpaceException(root, early.Needed, free, early.Reserve);
        }
        // Everything below is written under the repo's lock: `hfdl cache rm/prune` take it too, so they never remove a
        // ref or listing this run has just written.
        using var folderLock = await LockAsync(layout, progress, cancellationToken).ConfigureAwait(false);
        layout.CheckForLinks();
        layout.RecordRevision(revision, commit);
        layout.SaveTree(commit, selection.Listed);
        var state = DownloadStateStore.Open(root, request.RepoType, request.RepoId, _options.Time);
        if (state.LoadWarning is { } warning)
        {
            progress?.Report(new Warning(warning));
        }
        state.Update(s => s with { Revision = revision, Commit = commit });
        RemoveOrphanedTemporaryFiles(root, state, progress);
        layout.RemoveStaleRecordTemporaryFiles();

        // The plan, made under the lock with the same step a dry run uses: present files cost nothing, the rest is work.
        var plan = RepoPlanner.Inspect(selection, layout, state, request.Existing, _options.BigFileThreshold, withExtras: false, probeFileSystem: true, request.HashedBefore);
        DropObsoletePartials(plan, layout, state);
        // Files with the same content share their data (one blob in the HF cache): fetch it once, place it for each.
        var groups = plan.Files.GroupBy(f => f.DataKey, StringComparer.Ordinal).Select(g => (Path: g.First().DataPath, Files: g.ToList())).ToList();
        var placements = groups.ToDictionary(g => g.Path, g => g.Files.Select(f => f.Remote!).ToList(), StringComparer.Ordinal);

        var work = new List<(RemoteFile File, string Path)>();
        var present = new List<PlannedFile>();
        var run = new RunCounters();
        foreach (var (path, members) in groups)
        {
            if (members.All(m => m.Action == PlannedAction.Present))
            {
                foreach (var member in members)
                {
                    if (request.HashedBefore?.ContainsKey(member.Path) == true && !RepoPlanner.IsRecordedComplete(state, member.Remote!, new FileInfo(path)))
                    {
                        // Verified just before this run (--verify --fix-broken): the journal vouches for it from now on.
                        RecordComplete(state, member.Remote!, path, commit);
                    }
                    layout.Place(member.Remote!, commit);
                    run.Skipped++;
                    present.Add(member);
                }
            }
            else
            {
                work.Add((members[0].Remote!, path));
            }
        }
        var resultFolder = layout.ResultFolder(commit);
        progress?.Report(Ready(plan, groups.Select(g => (IReadOnlyList<PlannedFile>)g.Files), resultFolder));
        // Reported only now: the plan comes first, so a reader of the events knows the totals before any file's outcome.
        foreach (var member in present)
        {
            progress?.Report(new FileSkipped(member.Path, member.Size, "already downloaded and verified") { Planned = true });
        }
        if (CheckDiskSpace(plan, root) is { Fits: false, Available: { } available } space)
        {
            throw new InsufficientDiskSpaceException(root, space.Needed, available, space.Reserve);
        }

        var limiter = _options.MaxBytesPerSecond is { } cap ? new BandwidthLimiter(cap, _options.Time) : null;
        var saver = new ThrottledSaver(state, _options.Time, _options.CheckpointInterval);
        using var fatal = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var journal = new Journal(state, saver, commit, progress, run, fatal, (file, dataPath) =>
        {
            foreach (var member in placements[dataPath])
            {
                layout.Place(member, commit);
            }
        }, placements);
        var fetch = new RangeFetch(_client, _options, limiter, progress);
        var xet = CreateXetSession(request, commit, work, progress);
        var fetcher = new FileFetcher(_client, _options, fetch, new CommitStep(journal, progress), journal, () => journal.FatalError is DiskFullException, progress);
        // Each save of the journal first records how far every file in flight has been written.
        saver.BeforeSave = fetcher.Checkpoint;
        using var stopSaving = new CancellationTokenSource();
        var saving = saver.RunAsync(stopSaving.Token);

        async ValueTask ProcessSmallAsync((RemoteFile File, string Path) item, CancellationToken ct)
        {
            var (file, path) = item;
            try
            {
                // The same order as big files and the plan: resume what the journal vouches for, else adopt a right copy.
                var partial = TakeResumable(file, path, state, request.Existing, layout);
                if (partial is not null && await TryAdoptBesidePartialAsync(file, path, partial.Value.TempPath, layout, commit, request.HashedBefore?.GetValueOrDefault(file.Path), ct).ConfigureAwait(false))
                {
                    journal.Adopted(file, path);
                    return;
                }
                var resume = partial is { } kept ? SmallFileResume.From(kept.TempPath, kept.Ranges) : null;
                if (resume is null && request.Existing != ExistingFiles.Ignore && await TryAdoptExistingAsync(file, path, layout, commit, request.HashedBefore?.GetValueOrDefault(file.Path), ct).ConfigureAwait(false))
                {
                    journal.Adopted(file, path);
                    return;
                }
                await fetcher.FetchAsync(request.RepoType, request.RepoId, commit, file, path, resume, ct).ConfigureAwait(false);
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
            var smallInFlight = new StrongBox<int>();

            async ValueTask ProcessSmallCountedAsync((RemoteFile File, string Path) item, CancellationToken ct)
            {
                Interlocked.Increment(ref smallInFlight.Value);
                try
                {
                    await ProcessSmallAsync(item, ct).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref smallInFlight.Value);
                }
            }

            async Task FetchBigAsync()
            {
                var bigWork = await PrepareBigFilesAsync(big, state, journal, request.Existing, request.HashedBefore, xet is not null, layout, commit, fatal.Token).ConfigureAwait(false);
                var controller = new ConnectionController(_options.Threads, _options.MinSpeedPerConnection, _options.SpeedTestDuration, _options.Time);
                var scheduler = new BigFileScheduler(_client, _options, request.RepoType, request.RepoId, commit, controller, progress, journal, fetch,
                    otherConnections: () => Volatile.Read(ref smallInFlight.Value), xet: xet);
                saver.BeforeSave = () =>
                {
                    fetcher.Checkpoint();
                    scheduler.Checkpoint();
                };
                try
                {
                    await scheduler.RunAsync(bigWork, fatal.Token).ConfigureAwait(false);
                }
                finally
                {
                    saver.BeforeSave = fetcher.Checkpoint;
                }
                foreach (var item in bigWork.Where(w => !journal.HasOutcome(w.File.Path)))
                {
                    // Never report success for a file that did not arrive, whatever went wrong inside.
                    journal.Failed(item.File, new HfdlException($"'{item.File.Path}' was not completed. Run the same command again to resume it."));
                }
            }

            // Small files and big ones at once: a model repo's config and tokenizer files cost round trips, not
            // bandwidth, so the first shard's speed test runs while they arrive instead of after them (~0.15 s on a
            // 20 ms link). The big files take the connections the small ones leave free (-t bounds both together),
            // so a repo of thousands of small files still fetches them first.
            var smallTask = Parallel.ForEachAsync(small, parallel, ProcessSmallCountedAsync);
            var bigTask = big.Count > 0 ? FetchBigAsync() : Task.CompletedTask;
            await Task.WhenAll(smallTask, bigTask).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (journal.FatalError is not null && !cancellationToken.IsCancellationRequested)
        {
            // A fatal error stopped the other workers; it is rethrown below.
        }
        finally
        {
            await stopSaving.CancelAsync().ConfigureAwait(false);
            await saving.ConfigureAwait(false);
            try
            {
                saver.SaveNow();
            }
            catch (DiskFullException) when (journal.FatalError is not null || cancellationToken.IsCancellationRequested)
            {
                // The run already stops for a reason of its own; the journal only lags behind the disk (files on
                // disk but not recorded are hashed and kept by the next run).
            }
            if (xet?.Cache is { } cache)
            {
                // Keeps the shared chunk cache within its bound (least recently used first), once per run that used
                // it: also when nothing was added, so a run with a lower size bound shrinks a cache a larger one
                // filled, and also when the run was interrupted or failed (it may have added the most). Deleting
                // files: quick enough for a Ctrl+C to wait for.
                try
                {
                    cache.Trim();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Best effort: the next run trims again.
                }
            }
        }
        if (journal.FatalError is { } fatalError)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(fatalError);
        }

        if (run.Failed == 0)
        {
            layout.CompleteResult(commit);
            DropPartialsOfRemovedFiles(selection, layout, state, root, progress);
        }
        var summary = new DownloadSummary(resultFolder, commit, run.Downloaded, run.Skipped, run.Failed, run.Bytes, Stopwatch.GetElapsedTime(started))
        {
            BytesFetched = fetch.BytesReceived,
            BytesFromCache = xet?.BytesFromCache ?? 0,
            UsedXet = xet is { BytesFromCache: > 0 } or { XorbBytesFetched: > 0 },
        };
        progress?.Report(new DownloadFinished(summary));
        return summary;
    }

    /// <summary>
    /// Temporary files no journal entry refers to (a killed run's small files, a journal that was set aside) can never
    /// be resumed: delete them. This runs under the folder's lock, so no other hfdl downloading here is writing them; a
    /// download in progress into a folder above this one may be (its repo has files here), and then none is touched.
    /// </summary>
    internal static void RemoveOrphanedTemporaryFiles(string root, DownloadStateStore state, IProgress<DownloadEvent>? progress)
    {
        if (DownloadFolder.EnclosingDownloadInProgress(root) is { } enclosing)
        {
            progress?.Report(new Warning($"A download in progress into '{enclosing.Folder}' ({enclosing.Holder}), a folder above this one, may be writing temporary files here: they are left alone."));
            return;
        }
        var referenced = state.Current.Files.Values.Where(f => f.TempFile is not null).Select(f => f.TempFile!).ToHashSet(StringComparer.Ordinal);
        long freed = 0;
        try
        {
            foreach (var temp in TemporaryFilesOfThisRepo(root))
            {
                // A FIFO or a device with a temporary file's name is not one of hfdl's: left alone (TakeResumable).
                if (!referenced.Contains(Path.GetFileName(temp)) && (SafeFileSystem.LinkTarget(temp) is not null || !SafeFileSystem.IsSpecialFile(temp)))
                {
                    freed += new FileInfo(temp).Length;
                    AtomicFile.TryDelete(temp);
                }
            }
        }
        catch (IOException)
        {
            return; // Only housekeeping.
        }
        if (freed > 0)
        {
            progress?.Report(new Warning($"Removed {freed:N0} bytes of temporary files left by an interrupted run that cannot be resumed."));
        }
    }

    /// <summary>
    /// After a run that completed its commit: the partial transfer of a file that commit does not have at all (a newer
    /// commit dropped it while it was downloading) would never be resumed by this revision, and nothing else would ever
    /// remove it. Its journal entry goes, and with it its part file (only hfdl's own temporary files are deleted). In
    /// the HF cache, where revisions share blobs, one whose content a revision still named by a ref lists is kept.
    /// </summary>
    private void DropPartialsOfRemovedFiles(RepoSelection selection, StorageLayout layout, DownloadStateStore state, string root, IProgress<DownloadEvent>? progress)
    {
        var listed = selection.Listed.Select(f => f.Path).Concat(selection.Unusable).ToHashSet(StringComparer.Ordinal);
        var stale = state.Current.Files.Where(f => f.Value.Status == FileState.Partial && !listed.Contains(f.Key)).ToList();
        if (stale.Count == 0)
        {
            return;
        }
        var named = layout.EtagsOfNamedRevisions();
        // A revision the cache still holds (a commit asked for by its id, whose snapshot or listing is here) may resume
        // its partial files, named by a ref or not (QA: helper-64).
        var dropped = stale.Where(f => !named.Contains(f.Value.Etag) && !(f.Value.Commit is { } commit && commit != selection.Commit && layout.HoldsRevision(commit)))
            .Select(f => f.Key).ToList();
        // Whatever revision it was for, a partial transfer of content the cache already holds whole (fetched since under
        // another path) would never be resumed, and stayed for ever, unseen by cache ls and prune (QA: helper-64).
        var complete = stale.Where(f => !dropped.Contains(f.Key) && layout.HasCompleteBlob(f.Value.Etag, f.Value.Size)).Select(f => f.Key).ToList();
        if (dropped.Count + complete.Count == 0)
        {
            return;
        }
        foreach (var path in dropped.Concat(complete))
        {
            state.SetFile(path, null);
        }
        try
        {
            state.Save(_options.Time);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return; // Only housekeeping: the next run that completes tries again.
        }
        if (dropped.Count > 0)
        {
            progress?.Report(new Warning($"Dropped the partial download of {(dropped.Count == 1 ? $"'{SafeText.Printable(dropped[0])}'" : $"{dropped.Count} files")}, which commit {selection.Commit} no longer has."));
        }
        if (complete.Count > 0)
        {
            progress?.Report(new Warning($"Dropped the partial download of {(complete.Count == 1 ? $"'{SafeText.Printable(complete[0])}'" : $"{complete.Count} files")}: the cache holds {(complete.Count == 1 ? "its" : "their")} content whole already."));
        }
        RemoveOrphanedTemporaryFiles(root, state, progress);
    }

    /// <summary>
    /// A partial transfer of a file whose data the plan finds present (an interrupted <c>--force</c> into the HF cache,
    /// whose blob was there all along) is obsolete: its journal entry and temporary file go. Kept, the journal would refer
    /// to the temporary file for ever, so no run would remove it, and <c>cache ls</c> and <c>prune</c> do not count it.
    /// </summary>
    private static void DropObsoletePartials(DownloadPlan plan, StorageLayout layout, DownloadStateStore state)
    {
        foreach (var file in plan.Files)
        {
            if (file.Action == PlannedAction.Present && state.Get(file.Path) is { Status: FileState.Partial, TempFile: { } temp })
            {
                AtomicFile.TryDelete(Path.Combine(Path.GetDirectoryName(layout.DataPath(file.Remote!))!, temp));
                state.SetFile(file.Path, null);
            }
        }
    }

    /// <summary>
    /// The <see cref="PlanReady"/> of a download's plan, whose files are in <paramref name="groups"/> of the same data
    /// (fetched once, as one HF cache blob): a group is work unless every file of it is present.
    /// </summary>
    private PlanReady Ready(DownloadPlan plan, IEnumerable<IReadOnlyList<PlannedFile>> groups, string resultFolder)
    {
        var (filesPresent, filesToVerify, bytesToVerify, bytesOnDisk) = (0, 0, 0L, 0L);
        var workSizes = new List<long>();
        foreach (var members in groups)
        {
            if (members[0].Action == PlannedAction.Verify)
            {
                (filesToVerify, bytesToVerify) = (filesToVerify + 1, bytesToVerify + members[0].Size);
            }
            if (members[0].Action == PlannedAction.Resume)
            {
                bytesOnDisk += members[0].BytesOnDisk;
            }
            if (members.All(m => m.Action == PlannedAction.Present))
            {
                filesPresent += members.Count;
            }
            else
            {
                workSizes.Add(members[0].Size);
            }
        }
        return new PlanReady(resultFolder, plan.Files.Count, plan.TotalBytes, plan.FilesToFetch, Checked.Sum(workSizes), filesPresent, _options.BigFileThreshold)
        {
            FilesToVerify = filesToVerify,
            BytesToVerify = bytesToVerify,
            BytesOnDisk = bytesOnDisk,
        };
    }

    /// <summary>The temporary files under <paramref name="root"/> that can only be this repo's (not those of a download nested in it).</summary>
    private static IEnumerable<string> TemporaryFilesOfThisRepo(string root) => DownloadFolder.OwnFiles(root, "*.hfdl-part");

    private static StorageLayout CreateLayout(DownloadRequest request, IProgress<DownloadEvent>? progress)
    {
        var layout = StorageLayout.Create(request.Layout, request.TargetFolder, request.RepoType, request.RepoId, request.DisableSymlinks);
        layout.OnWarning = message => progress?.Report(new Warning(message));
        return layout;
    }

    /// <summary>Takes the repo's lock, after making sure no link was planted where the lock (and the rest of hfdl's own files) go.</summary>
    private Task<RepoFolderLock> LockAsync(StorageLayout layout, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken)
    {
        layout.CheckForLinks();
        return RepoFolderLock.AcquireAsync(layout.JournalFolder, holder => progress?.Report(new WaitingForLock(layout.JournalFolder, holder)), _options.Time, cancellationToken);
    }

    /// <summary>
    /// A download without the network (offline, or the Hub unreachable): succeeds, downloading nothing, when the plan
    /// made from local records finds every selected file present; otherwise rethrows why the network was needed.
    /// </summary>
    private async Task<DownloadSummary> DownloadOfflineAsync(DownloadRequest request, StorageLayout layout, IProgress<DownloadEvent>? progress, long started, HubUnreachableException? unreachable, CancellationToken cancellationToken)
    {
        var revision = request.Revision ?? "main";
        var inspected = await InspectLocalAsync(request, layout, cancellationToken).ConfigureAwait(false);
        if (inspected is not { Plan: var plan, Report: var local } || (unreachable is not null && !local.IsComplete))
        {
            if (unreachable is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(unreachable);
            }
            throw new OfflineIncompleteException(request.RepoType, request.RepoId, revision, null, RepoPlanner.OfflineGap(request, layout));
        }
        if (unreachable is not null)
        {
            progress?.Report(new Warning(local.WithoutListing
                ? $"{unreachable.Message} Using the local copy of commit {local.Commit} instead."
                : $"{unreachable.Message} Using the complete local copy of commit {local.Commit} instead."));
        }
        if (local.WithoutListing)
        {
            progress?.Report(new Warning(HeldFilesWarning(local.Commit)));
        }
        // The same events as a run with the network, from the local records: the plan first, then every file.
        var missing = local.Missing.ToHashSet(StringComparer.Ordinal);
        progress?.Report(new RevisionResolved(request.RepoType, request.RepoId, revision, local.Commit));
        // The plan the offline dry run shows (QA: helper-49): files on disk that no journal vouches for are work to
        // verify (they were hashed just now, as a run with the network hashes them), not files already verified.
        var toVerify = plan.Files.Where(f => f.Action == PlannedAction.Verify && layout.IsPlaced(f.Remote!, plan.Commit)).Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var work = plan.Files.Where(f => missing.Contains(f.Path) || toVerify.Contains(f.Path)).ToList();
        progress?.Report(new PlanReady(local.Folder, plan.Files.Count, plan.TotalBytes, work.Count, Checked.Sum(work.Select(f => f.Size)),
            plan.Files.Count - work.Count, _options.BigFileThreshold)
        {
            FilesToVerify = toVerify.Count,
            BytesToVerify = Checked.Sum(plan.Files.Where(f => toVerify.Contains(f.Path)).Select(f => f.Size)),
            BytesOnDisk = Checked.Sum(work.Where(f => f.Action == PlannedAction.Resume).Select(f => f.BytesOnDisk)),
        });
        foreach (var file in plan.Files)
        {
            progress?.Report(!missing.Contains(file.Path)
                ? toVerify.Contains(file.Path)
                    ? new FileSkipped(file.Path, file.Size, "on disk with the right hash (offline)")
                    : new FileSkipped(file.Path, file.Size, "present locally (offline)") { Planned = true }
                : local.Corrupt.Contains(file.Path)
                ? new FileFailed(file.Path, $"'{file.Path}' is on disk, but its content does not match the hash of the cached listing, and offline it cannot be downloaded again.")
                : new FileFailed(file.Path, $"'{file.Path}' is not on disk, and offline it cannot be downloaded."));
        }
        foreach (var path in local.Missing.Except(plan.Files.Select(f => f.Path)))
        {
            progress?.Report(new FileFailed(path, $"'{path}' is not on disk, and offline it cannot be downloaded."));
        }
        if (!local.IsComplete)
        {
            throw new OfflineIncompleteException(request.RepoType, request.RepoId, revision, local);
        }
        var summary = new DownloadSummary(local.Folder, local.Commit, 0, local.Present.Count, 0, 0, Stopwatch.GetElapsedTime(started)) { Unchecked = local.WithoutListing };
        progress?.Report(new DownloadFinished(summary));
        return summary;
    }

    /// <summary>Said when an offline plan had only a cache's files to go on (<see cref="LocalReport.WithoutListing"/>).</summary>
    internal static string HeldFilesWarning(string commit) =>
        $"No listing of commit {commit} is cached (huggingface_hub and transformers cache none): the files its snapshot holds are taken as they are, as huggingface_hub does offline; hfdl cannot tell whether the repo has more.";

    /// <summary>
    /// What is on disk for a revision, without any network call (<c>--offline</c>, <c>HF_HUB_OFFLINE</c>): the plan of
    /// the request from the commit and listing recorded locally, its selected files judged present (where users find
    /// them, with their size) or missing. Null when nothing records the revision; throws
    /// <see cref="OfflineIncompleteException"/> when the records name its commit but nothing of that commit is on disk.
    /// </summary>
    public async Task<LocalReport?> CheckLocalAsync(DownloadRequest request, CancellationToken cancellationToken)
    {
        var layout = CreateLayout(request, null);
        if ((await InspectLocalAsync(request, layout, cancellationToken).ConfigureAwait(false))?.Report is { } report)
        {
            return report;
        }
        return RepoPlanner.OfflineGap(request, layout) is { } gap
            ? throw new OfflineIncompleteException(request.RepoType, request.RepoId, request.Revision ?? "main", null, gap)
            : null;
    }

    private async Task<(DownloadPlan Plan, LocalReport Report)?> InspectLocalAsync(DownloadRequest request, StorageLayout layout, CancellationToken cancellationToken)
    {
        if (RepoPlanner.SelectOffline(request, layout) is not { } selection)
        {
            return null;
        }
        var state = Directory.Exists(layout.JournalFolder) ? DownloadStateStore.Open(layout.JournalFolder, request.RepoType, request.RepoId, _options.Time, readOnly: true) : null;
        var plan = RepoPlanner.Inspect(selection, layout, state, ExistingFiles.TrustJournal, _options.BigFileThreshold, withExtras: false, probeFileSystem: false);
        var present = new List<string>();
        var missing = new List<string>();
        var corrupt = new List<string>();
        var hashed = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var file in plan.Files)
        {
            var usable = file.Action is PlannedAction.Present or PlannedAction.Verify && layout.IsPlaced(file.Remote!, plan.Commit);
            if (usable && file.Action == PlannedAction.Verify)
            {
                // On disk with the listed size, but no journal records it verified (copied in, edited, another tool's):
                // offline its hash against the cached listing decides, as a run with the network would. Once per blob.
                var data = layout.DataPath(file.Remote!);
                if (layout.Kind == LayoutKind.HfCache && !File.Exists(data))
                {
                    data = layout.UserPath(file.Remote!, plan.Commit); // the snapshot's copy, where the blob is missing
                }
                if (!hashed.TryGetValue(data, out var matches))
                {
                    try
                    {
                        matches = hashed[data] = await LocalHasher.HashFileAsync(data, file.Remote!.Hash, cancellationToken).ConfigureAwait(false) == file.Remote.Hash.Hex;
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        matches = hashed[data] = false;
                    }
                }
                if (!matches)
                {
                    usable = false;
                    corrupt.Add(file.Path);
                }
            }
            else if (!usable && file.Action == PlannedAction.Download && file.LocalSize is { } onDisk && onDisk != file.Size)
            {
                // Its content is on disk with another size than the cached listing's: wrong, not merely absent.
                corrupt.Add(file.Path);
            }
            (usable ? present : missing).Add(file.Path);
        }
        missing.AddRange(selection.MissingRequested);
        return (plan, new LocalReport(plan.TargetFolder, plan.Commit, present, missing) { WithoutListing = selection.FromHeldFiles, Corrupt = corrupt });
    }

    /// <summary>
    /// The disk-space check a download makes before fetching anything (and a dry run reports): what is left to write of
    /// the plan, the reserve, and what the target's file system has free. Partial files count only their missing bytes,
    /// files on disk with the right size nothing (they are hashed first, and most likely kept), a file that will replace
    /// an existing copy (<c>--force</c>) counts whole (both exist until the rename). A run that writes nothing passes.
    /// </summary>
    private DiskSpaceCheck CheckDiskSpace(DownloadPlan plan, string root)
    {
        // Space still to take, not bytes still to fetch: a resumed big file already holds its whole size.
        var needed = Checked.Sum(plan.Files
            .Where(f => f.Action is PlannedAction.Download or PlannedAction.Resume)
            .DistinctBy(f => f.DataKey, StringComparer.Ordinal)
            .Select(f => f.SpaceNeeded));
        return new DiskSpaceCheck(needed, _options.MinFreeSpace, DiskSpace.AvailableBytes(root));
    }

    private bool IsBig(RemoteFile file) => file.Size > 0 && file.Size >= _options.BigFileThreshold;

    /// <summary>
    /// Native Xet for this run, when it is on and some big file is Xet-backed; with the chunk cache unless it is off
    /// (size 0) or it cannot be used (a link planted on its way, a file where one of its folders belongs: then a warning
    /// naming the setting to change, and Xet without a cache: the cache only saves bytes); written but not read by a
    /// forced download.
    /// </summary>
    private XetSession? CreateXetSession(DownloadRequest request, string commit, List<(RemoteFile File, string Path)> work, IProgress<DownloadEvent>? progress)
    {
        if (!_options.UseXet || !work.Exists(w => IsBig(w.File) && XetSession.Serves(w.File)))
        {
            return null;
        }
        Xet.XetChunkCache? cache = null;
        if (_options.XetCacheFolder is { } folder && _options.XetCacheSize > 0)
        {
            // A forced download trusts nothing local, the chunk cache included: it fetches every range, and keeps them.
            cache = new Xet.XetChunkCache(folder, _options.XetCacheSize) { Reads = request.Existing != ExistingFiles.Ignore };
            try
            {
                cache.CheckUsable(_options.XetCacheSetting(folder));
                var warned = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
                cache.OnWarning = message =>
                {
                    if (warned.TryAdd(message, true))
                    {
                        progress?.Report(new Warning(message));
                    }
                };
            }
            catch (HfdlException ex)
            {
                progress?.Report(new Warning($"The Xet chunk cache is not used: {ex.Message}"));
                cache = null;
            }
        }
        return new XetSession(_client, request.RepoType, request.RepoId, commit, _options, cache, progress);
    }

    /// <summary>
    /// A file's partial data from an earlier run, when the journal vouches for it (the same test the plan made in
    /// RepoPlanner: same etag and size, temporary file still there). Partial data of a file that changed on the Hub (or
    /// whose temporary file is gone) is worthless: it is deleted and forgotten. Small and big files both come here.
    /// </summary>
    private static (string TempPath, List<(long Start, long End)> Ranges)? TakeResumable(RemoteFile file, string path, DownloadStateStore state, ExistingFiles existing, StorageLayout layout)
    {
        if (existing != ExistingFiles.Ignore && RepoPlanner.ResumableTemp(state, file, path) is { } resumable)
        {
            return resumable;
        }
        if (state.Get(file.Path) is { Status: FileState.Partial, TempFile: { } tempName })
        {
            var temp = Path.Combine(Path.GetDirectoryName(path)!, tempName);
            if (SafeFileSystem.LinkTarget(temp) is null && SafeFileSystem.IsSpecialFile(temp))
            {
                // Not hfdl's: a part file is always a regular file. Neither opened nor deleted, as other planted entries.
                layout.OnWarning?.Invoke($"'{SafeText.Printable(temp)}', which the journal names as the temporary file of {SafeText.Printable(file.Path)}, is not a regular file (a FIFO, a device or a socket): hfdl does not touch it and downloads that file afresh; remove it when you can.");
            }
            else
            {
                AtomicFile.TryDelete(temp);
            }
            state.SetFile(file.Path, null);
        }
        // What huggingface_hub left of the file (hf download interrupted) is resumed, as hf download would.
        return existing != ExistingFiles.Ignore ? layout.TakeOverHfPartial(file, path) : null;
    }

    /// <summary>
    /// Big files: adopt a final copy that hashes right, resume a partial one the journal vouches for (same etag and
    /// size, temporary file still there), and discard partial data of a file that changed on the Hub.
    /// </summary>
    private static async Task<List<BigFileScheduler.Work>> PrepareBigFilesAsync(List<(RemoteFile File, string Path)> big, DownloadStateStore state, Journal journal, ExistingFiles existing, IReadOnlyDictionary<string, HashedFile>? hashedBefore, bool xet, StorageLayout layout, string commit, CancellationToken cancellationToken)
    {
        var result = new List<BigFileScheduler.Work>();
        foreach (var (file, path) in big)
        {
            if (TakeResumable(file, path, state, existing, layout) is { } resumable)
            {
                if (await TryAdoptBesidePartialAsync(file, path, resumable.TempPath, layout, commit, hashedBefore?.GetValueOrDefault(file.Path), cancellationToken).ConfigureAwait(false))
                {
                    journal.Adopted(file, path);
                    continue;
                }
                result.Add(new BigFileScheduler.Work(file, path, resumable.TempPath, resumable.Ranges, ViaXet: xet && XetSession.Serves(file)));
                continue;
            }
            if (existing != ExistingFiles.Ignore && await TryAdoptExistingAsync(file, path, layout, commit, hashedBefore?.GetValueOrDefault(file.Path), cancellationToken).ConfigureAwait(false))
            {
                journal.Adopted(file, path);
                continue;
            }
            result.Add(new BigFileScheduler.Work(file, path, FileFetcher.NewTempPath(path), [], ViaXet: xet && XetSession.Serves(file)));
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
    private sealed class Journal(
        DownloadStateStore state,
        ThrottledSaver saver,
        string commit,
        IProgress<DownloadEvent>? progress,
        RunCounters run,
        CancellationTokenSource fatal,
        Action<RemoteFile, string> place,
        IReadOnlyDictionary<string, List<RemoteFile>> groups) : ITransferJournal
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _outcomes = new(StringComparer.Ordinal);
        private Exception? _fatalError;

        public Exception? FatalError => Volatile.Read(ref _fatalError);

        public bool HasOutcome(string path) => _outcomes.ContainsKey(path);

        public void Adopted(RemoteFile file, string path)
        {
            _outcomes[file.Path] = true;
            RecordComplete(state, file, path, commit);
            place(file, path);
            foreach (var member in groups[path])
            {
                Interlocked.Increment(ref run.Skipped);
                progress?.Report(new FileSkipped(member.Path, member.Size, "already on disk with the right hash"));
            }
            saver.SaveSoon();
        }

        public void Completed(RemoteFile file, string finalPath, string digest, TimeSpan elapsed)
        {
            _outcomes[file.Path] = true;
            RecordComplete(state, file, finalPath, commit);
            place(file, finalPath);
            // Progress is sent at a bounded rate, so a big file's last one fell short of its size (17 of 20 MB): a bar
            // driven by it ends full.
            progress?.Report(new FileProgress(file.Path, file.Size, file.Size));
            foreach (var member in groups[finalPath])
            {
                Interlocked.Increment(ref run.Downloaded);
                Interlocked.Add(ref run.Bytes, member.Size);
                progress?.Report(new FileCompleted(member.Path, member.Size, $"{(member.Hash.Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{digest}", elapsed));
            }
            saver.SaveSoon();
        }

        public void Partial(RemoteFile file, string tempPath, IReadOnlyList<(long Start, long End)> ranges)
        {
            RecordPartial(state, file, tempPath, ranges, commit);
            saver.SaveSoon();
        }

        public void Discarded(RemoteFile file)
        {
            state.SetFile(file.Path, null);
            saver.SaveSoon();
        }

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
            progress?.Report(new FileFailed(file.Path, exception switch
            {
                HfdlException => exception.Message,
                // Deleted under the run (by another program, or a cleanup): said as what happened, not as .NET's words alone.
                FileNotFoundException or DirectoryNotFoundException =>
                    $"'{file.Path}' failed: a file hfdl was writing was removed by something else meanwhile ({TransientFaults.Describe(exception)}). Run the same command again.",
                _ => $"'{file.Path}' failed: {TransientFaults.Describe(exception)}",
            })
            { Retryable = !WaitsOnTheUser(exception) });
        }

        /// <summary>A failure that running again as is would only repeat: the user has to act first.</summary>
        private static bool WaitsOnTheUser(Exception exception) => exception is UnsafePathException or LinkInTargetException or InTheWayException
            or EntryNotFoundException or RepositoryNotFoundException or GatedRepoException or DisabledRepoException or InvalidTokenException
            or UnauthorizedAccessException
            || (exception is IOException io && (io.HResult & 0xFFFF) is 1 or 13 or 30);

        public void SaveSoon() => saver.SaveSoon();
    }

    /// <summary>
    /// <c>--verify</c>: hashes every selected file of the plan against the Hub's sizes and hashes and reports each as
    /// ok, corrupt or missing, plus the plan's extra files (local files of the selection that the repo does not have).
    /// Downloads nothing, writes nothing.
    /// </summary>
    public async Task<VerificationReport> VerifyAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken)
    {
        var plan = await PlanAsync(request with { Existing = ExistingFiles.Rehash }, progress, cancellationToken).ConfigureAwait(false);
        // Verify reads only and takes no lock; a download running there now would make its unfinished files look broken.
        var journalFolder = CreateLayout(request, null).JournalFolder;
        if (Directory.Exists(journalFolder) && RepoFolderLock.Holder(journalFolder) is { } holder)
        {
            progress?.Report(new Warning($"Another hfdl ({holder}) is downloading into {journalFolder} right now: the files it has not finished yet are reported as missing or corrupt. Verify again once it is done."));
        }
        // Verify downloads nothing: its plan is what it hashes.
        progress?.Report(new PlanReady(plan.TargetFolder, plan.Files.Count, plan.TotalBytes, 0, 0, 0, plan.BigFileThreshold) { Verify = true });
        var results = new System.Collections.Concurrent.ConcurrentBag<FileVerified>();
        var hashed = new System.Collections.Concurrent.ConcurrentDictionary<string, HashedFile>(StringComparer.Ordinal);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount), CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(plan.Files, parallel, async (file, ct) =>
        {
            var (verdict, stamp) = await JudgeAsync(file, ct).ConfigureAwait(false);
            results.Add(verdict);
            if (stamp is not null)
            {
                hashed[file.Path] = stamp;
            }
            progress?.Report(verdict);
        }).ConfigureAwait(false);
        foreach (var extra in plan.Extras)
        {
            var verdict = new FileVerified(extra.Path, VerifyStatus.Extra, null);
            results.Add(verdict);
            progress?.Report(verdict);
        }
        return new VerificationReport(plan.TargetFolder, plan.Commit, [.. results.OrderBy(r => r.Path, StringComparer.Ordinal)]) { Hashed = hashed };
    }

    /// <summary>
    /// Hashes one planned file where users find it (the HF cache's snapshot link leads to its blob); with an ok or
    /// corrupt verdict, the file as it was hashed, when it did not change meanwhile.
    /// </summary>
    private static async Task<(FileVerified Verdict, HashedFile? Stamp)> JudgeAsync(PlannedFile file, CancellationToken cancellationToken)
    {
        var remote = file.Remote!;
        var info = new FileInfo(file.TargetPath);
        if (info.LinkTarget is not null)
        {
            if (info.ResolveLinkTarget(returnFinalTarget: true) is not FileInfo target || !target.Exists)
            {
                return (new FileVerified(file.Path, VerifyStatus.Missing, $"the link points at a missing file ({info.LinkTarget})"), null);
            }
            info = target;
        }
        if (!info.Exists)
        {
            return (new FileVerified(file.Path, VerifyStatus.Missing, null), null);
        }
        if (info.Length != file.Size)
        {
            return (new FileVerified(file.Path, VerifyStatus.Corrupt, $"{info.Length} bytes, expected {file.Size}"), null);
        }
        var before = HashedFile.Of(info, ok: false, remote.Hash.Hex);
        var digest = await LocalHasher.HashFileAsync(info.FullName, remote.Hash, cancellationToken).ConfigureAwait(false);
        var ok = digest == remote.Hash.Hex;
        // A file written while it was hashed gets a verdict but no stamp: the repair hashes it again.
        var stamp = before.StillDescribes(info, remote.Hash.Hex) ? before with { Ok = ok } : null;
        return ok
            ? (new FileVerified(file.Path, VerifyStatus.Ok, null), stamp)
            : (new FileVerified(file.Path, VerifyStatus.Corrupt, $"{(remote.Hash.Kind == HashKind.Sha256 ? "sha256" : "git sha1")} {digest}, expected {remote.Hash.Hex}"), stamp);
    }

    /// <summary>Errors that would fail every other file the same way: stop at once instead of repeating them.</summary>
    private static bool IsFatal(Exception ex) => ex is RepositoryNotFoundException or GatedRepoException or DisabledRepoException
        or InvalidTokenException or HubUnreachableException or UnauthorizedAccessException or DiskFullException
        || TransientFaults.IsDiskFull(ex);

    /// <summary>Journals the written ranges of a file in progress, so a later run resumes it.</summary>
    internal static void RecordPartial(DownloadStateStore state, RemoteFile file, string tempPath, IReadOnlyList<(long Start, long End)> ranges, string commit) =>
        state.SetFile(file.Path, new FileState
        {
            Size = file.Size,
            Etag = file.Etag,
            Commit = commit,
            Status = FileState.Partial,
            TempFile = Path.GetFileName(tempPath),
            Ranges = [.. ranges.Select(r => new[] { r.Start, r.End })],
        });

    internal static void RecordComplete(DownloadStateStore state, RemoteFile file, string path, string commit)
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

    /// <summary>
    /// The file under its final name with the listed size while the journal still names a partial copy of it (an
    /// interrupted <c>--force</c> in a download folder: the journal recorded the new transfer, the old file stayed): it is
    /// hashed, and kept if right, its partial copy deleted; else the partial copy is resumed. The plan says 'verify' for
    /// it (RepoPlanner.HasFinalCopyBeside).
    /// </summary>
    private static async Task<bool> TryAdoptBesidePartialAsync(RemoteFile file, string path, string tempPath, StorageLayout layout, string commit, HashedFile? hashedBefore, CancellationToken cancellationToken)
    {
        if (!RepoPlanner.HasFinalCopyBeside(new FileInfo(path), file)
            || !await TryAdoptExistingAsync(file, path, layout, commit, hashedBefore, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        AtomicFile.TryDelete(tempPath); // a link there is removed, never followed
        return true;
    }

    /// <summary>
    /// A file already at the target with the right size is hashed; if it matches it is kept as it is. In the HF cache,
    /// a blob that is missing while the snapshot holds a copy of the file (huggingface_hub's cache where symlinks
    /// cannot be made: it moves the blob into the snapshot) is made from that copy once it hashes right, instead of
    /// being downloaded again; the copy is then replaced by the usual link (or copy) by <see cref="StorageLayout.Place"/>.
    /// </summary>
    private static async Task<bool> TryAdoptExistingAsync(RemoteFile file, string path, StorageLayout layout, string commit, HashedFile? hashedBefore, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (info.Exists && info.LinkTarget is null && info.Length == file.Size)
        {
            if (hashedBefore is not null && hashedBefore.StillDescribes(info, file.Hash.Hex))
            {
                // --verify --fix-broken hashed it a moment ago, and it has not changed since.
                return hashedBefore.Ok;
            }
            return await LocalHasher.HashFileAsync(path, file.Hash, cancellationToken).ConfigureAwait(false) == file.Hash.Hex;
        }
        if (layout is not HfCacheLayout || info.Exists || info.LinkTarget is not null)
        {
            return false;
        }
        var copy = new FileInfo(layout.UserPath(file, commit));
        if (!copy.Exists || copy.LinkTarget is not null || copy.Length != file.Size || SafeFileSystem.IsSpecialFile(copy.FullName)
            || await LocalHasher.HashFileAsync(copy.FullName, file.Hash, cancellationToken).ConfigureAwait(false) != file.Hash.Hex)
        {
            return false;
        }
        var temp = FileFetcher.NewTempPath(path);
        try
        {
            File.Copy(copy.FullName, temp);
            if (await LocalHasher.HashFileAsync(temp, file.Hash, cancellationToken).ConfigureAwait(false) != file.Hash.Hex)
            {
                AtomicFile.TryDelete(temp); // changed while it was copied: downloaded instead
                return false;
            }
            File.Move(temp, path);
            return true;
        }
        catch (IOException)
        {
            AtomicFile.TryDelete(temp);
            return false;
        }
    }

    /// <summary>
    /// Saves the journal about every <c>interval</c> (<see cref="DownloadOptions.CheckpointInterval"/>) while something
    /// changed, off the transfer threads, without an fsync: the page cache outlives a killed hfdl, so a <c>kill -9</c>
    /// loses at most the last interval of records, and no save stalls the disk. A save that takes long (a journal of
    /// many thousands of files) spaces the next ones out, so saving never costs more than about 5% of a core; and the
    /// journal is written at most at <see cref="BytesPerSecond"/>, so the 10 MB journal of a 50,000-file dataset is not
    /// rewritten four times a second for an hour (QA: 330 times the payload written). A <c>kill -9</c> then loses a few
    /// seconds of records at most; Ctrl+C and every other end save at once. The last save of a run is durable
    /// (<see cref="SaveNow"/>).
    /// </summary>
    internal sealed class ThrottledSaver(DownloadStateStore state, TimeProvider time, TimeSpan interval)
    {
        /// <summary>The most journal bytes written per second, on average, by the saves during a run.</summary>
        public const double BytesPerSecond = 2 * 1024 * 1024;

        private readonly object _gate = new();
        private int _dirty;
        private long _nextSave;

        /// <summary>Runs before each save (records the ranges of big files in flight).</summary>
        public Action? BeforeSave { get; set; }

        /// <summary>Something changed: the next tick saves it.</summary>
        public void SaveSoon() => Volatile.Write(ref _dirty, 1);

        /// <summary>Saves on every tick of <c>interval</c> when something changed, until cancelled.</summary>
        public async Task RunAsync(CancellationToken cancellationToken)
        {
            using var timer = new PeriodicTimer(interval, time);
            try
            {
                while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    try
                    {
                        SaveIfDue();
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DiskFullException)
                    {
                        // The next tick tries again, and the end of the run reports a journal it cannot save.
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
        }

        private void SaveIfDue()
        {
            BeforeSave?.Invoke();
            if (Volatile.Read(ref _dirty) == 0 || time.GetTimestamp() < Volatile.Read(ref _nextSave))
            {
                return;
            }
            lock (_gate)
            {
                Save(durable: false);
            }
        }

        /// <summary>Saves now, durably (the end of a run).</summary>
        public void SaveNow()
        {
            lock (_gate)
            {
                BeforeSave?.Invoke();
                Save(durable: true);
            }
        }

        private void Save(bool durable)
        {
            Volatile.Write(ref _dirty, 0);
            var started = time.GetTimestamp();
            var bytes = state.Save(time, durable);
            var cost = time.GetElapsedTime(started);
            Volatile.Write(ref _nextSave, started + (long)(PauseAfter(cost, bytes, interval).TotalSeconds * time.TimestampFrequency));
        }

        /// <summary>
        /// How long after a save that took <paramref name="cost"/> and wrote <paramref name="bytes"/> the next one may
        /// start, beyond the tick: ticks come every interval, and only a save that took longer than a twentieth of it,
        /// or wrote more than <see cref="BytesPerSecond"/> allows in one, waits for more.
        /// </summary>
        internal static TimeSpan PauseAfter(TimeSpan cost, long bytes, TimeSpan interval)
        {
            // The cost is wall time: a small journal that took long to save waited (for a loaded CPU, a busy disk)
            // rather than worked, and spacing saves by 20 times that wait left a kill -9 seconds of transfer unrecorded
            // (QA: helper-47 saw 3 s). Serialising less than SmallJournalBytes takes a few milliseconds of CPU, so
            // there the wait spaces saves by at most MaxPauseOfSmallJournal.
            var spacing = 20 * cost.TotalSeconds;
            if (bytes < SmallJournalBytes)
            {
                spacing = Math.Min(spacing, MaxPauseOfSmallJournal.TotalSeconds);
            }
            return TimeSpan.FromSeconds(Math.Max(0, Math.Max(spacing, bytes / BytesPerSecond) - interval.TotalSeconds));
        }

        /// <summary>A journal this small costs a few milliseconds of CPU to save: a long save of it was waiting, not working.</summary>
        internal const long SmallJournalBytes = 1024 * 1024;

        /// <summary>The longest a slow save of a small journal delays the next one.</summary>
        internal static readonly TimeSpan MaxPauseOfSmallJournal = TimeSpan.FromSeconds(1);
    }
}
