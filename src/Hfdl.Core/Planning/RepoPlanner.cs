using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl.Core.Planning;

/// <summary>
/// The files of one commit that a request selects: its FILES arguments and its include/exclude patterns applied once,
/// here, for every mode (download, dry run, verify, offline, ls).
/// </summary>
/// <param name="Listed">Every file of the repo at <paramref name="Commit"/> (for the tree cache and for telling extra local files apart).</param>
/// <param name="Selected">The files the request asks for, in listing order.</param>
internal sealed record RepoSelection(
    RepoType RepoType,
    RepoId RepoId,
    string Revision,
    string Commit,
    IReadOnlyList<RemoteFile> Listed,
    IReadOnlyList<RemoteFile> Selected,
    SelectionFilter Filter)
{
    /// <summary>
    /// Offline with no cached listing of the commit: <see cref="Listed"/> is what the layout holds
    /// (<see cref="StorageLayout.ListHeld"/>), not the repo's listing, so nobody can tell whether files are missing.
    /// </summary>
    public bool FromHeldFiles { get; init; }

    /// <summary>
    /// FILES the request named that a selection from held files did not find (they may well exist upstream), and the
    /// snapshot's unusable entries it selects.
    /// </summary>
    public IReadOnlyList<string> MissingRequested { get; init; } = [];

    /// <summary>Entries of the snapshot that cannot be used (a dangling link, a link elsewhere): the revision's, never extra.</summary>
    public IReadOnlyList<string> Unusable { get; init; } = [];
}

/// <summary>The request's FILES and patterns as a test on repo paths (to judge local files the repo does not list).</summary>
internal sealed class SelectionFilter(IReadOnlyList<string> files, PathFilter patterns)
{
    public bool Matches(string path) =>
        (files.Count == 0 || files.Any(f => f.EndsWith('/')
            ? path.StartsWith(f, StringComparison.Ordinal)
            : path == f || (path.Length > f.Length && path[f.Length] == '/' && path.StartsWith(f, StringComparison.Ordinal))))
        && patterns.Matches(path);
}

/// <summary>
/// The one planning step: a request becomes a <see cref="DownloadPlan"/> (the commit, the selected files, each one's
/// target path in the chosen layout and what a download does with it). Download, dry run, verify, fix-broken, offline
/// and ls all go through here, so a dry run says what the download then does by construction.
/// </summary>
internal static class RepoPlanner
{
    /// <summary>The remote half: resolves the revision, lists the commit and applies FILES and the patterns.</summary>
    /// <param name="withUnwritableNames">
    /// Keep selected files whose names hfdl will not write (<see cref="RemoteFile.WriteProblem"/>), for a listing that
    /// writes nothing (ls); otherwise such a file among the selected ones fails the selection.
    /// </param>
    public static async Task<RepoSelection> SelectAsync(HubClient client, DownloadRequest request, IProgress<Progress.DownloadEvent>? progress, CancellationToken cancellationToken, bool withUnwritableNames = false)
    {
        var revision = request.Revision ?? "main";
        var commit = await ResolveCommitAsync(client, request.RepoType, request.RepoId, revision, cancellationToken).ConfigureAwait(false);
        progress?.Report(new Progress.RevisionResolved(request.RepoType, request.RepoId, revision, commit));
        var listed = await FilePlanner.ListFilesAsync(client, request.RepoType, request.RepoId, commit,
            progress is null ? null : count => progress.Report(new Progress.ListingProgress(request.RepoType, request.RepoId, count)), cancellationToken).ConfigureAwait(false);
        return Select(request, revision, commit, listed, withUnwritableNames);
    }

    /// <summary>
    /// The remote half without the network: the commit the layout recorded for the revision and the listing it cached.
    /// Null when either is missing.
    /// </summary>
    public static RepoSelection? SelectOffline(DownloadRequest request, StorageLayout layout)
    {
        var revision = request.Revision ?? "main";
        if (layout.LocalCommit(revision) is not { } commit)
        {
            return null;
        }
        if (layout.LoadTree(commit) is { } tree)
        {
            return Select(request, revision, commit, tree, withUnwritableNames: false);
        }
        return layout.ListHeld(commit, out var unusable) is { } held && held.Count + unusable.Count > 0
            ? SelectHeld(request, revision, commit, held, unusable, layout)
            : null;
    }

    /// <summary>
    /// Why <see cref="SelectOffline"/> found nothing, when the local records do name a commit for the revision (a ref
    /// whose snapshot was deleted); null when nothing records the revision at all.
    /// </summary>
    public static string? OfflineGap(DownloadRequest request, StorageLayout layout) =>
        layout.LocalCommit(request.Revision ?? "main") is { } commit
            ? $"the local records name commit {commit}, but neither a cached listing of it nor any of its files is on disk"
            : layout.LastRecorded() is { } last
            ? $"nothing in {layout.JournalFolder} records it: the folder's journal names only the revision last downloaded into it, {last}, and an earlier revision is found there only by its full commit id with the listing cached when it was downloaded"
            : null;

    /// <summary>
    /// <see cref="SelectOffline"/> from the files a cache written by huggingface_hub holds (it caches no listing): a
    /// named file or folder that is not there is missing locally, not missing from the repo, unless an earlier run
    /// recorded that the repo does not have it (<c>.no_exist</c>), as huggingface_hub reads it offline.
    /// </summary>
    private static RepoSelection SelectHeld(DownloadRequest request, string revision, string commit, IReadOnlyList<RemoteFile> held, IReadOnlyList<string> unusable, StorageLayout layout)
    {
        var missing = new List<string>();
        var files = new List<string>();
        var filter = new SelectionFilter(request.Files, new PathFilter(request.Include, request.Exclude));
        foreach (var wanted in request.Files)
        {
            var isFolder = wanted.EndsWith('/');
            if (!RepoFilePath.TryValidate(wanted.TrimEnd('/'), out var invalid))
            {
                // The user typed it, no server listed it: said of the request, as the online "does not exist" is.
                throw new EntryNotFoundException(
                    $"File '{SafeText.Printable(wanted)}' cannot exist in {request.RepoType.Name()} '{request.RepoId}' at revision '{revision}': {invalid}. Check the name in the repo's file list.",
                    System.Net.HttpStatusCode.NotFound, null, null, commit);
            }
            var found = isFolder
                ? held.Any(f => f.Path.StartsWith(wanted, StringComparison.Ordinal))
                : held.Any(f => f.Path == wanted || f.Path.StartsWith(wanted + "/", StringComparison.Ordinal));
            if (found)
            {
                files.Add(wanted);
            }
            else if (unusable.Any(u => u == wanted || u.StartsWith(wanted.TrimEnd('/') + "/", StringComparison.Ordinal)))
            {
                // Named, and in the snapshot, but unusable: reported with the others below.
            }
            else if (!isFolder && layout.IsRecordedMissing(wanted, commit))
            {
                throw new EntryNotFoundException(
                    $"File '{wanted}' does not exist in {request.RepoType.Name()} '{request.RepoId}' at revision '{revision}' (an earlier download recorded that the Hub does not have it).",
                    System.Net.HttpStatusCode.NotFound, null, null, commit);
            }
            else
            {
                missing.Add(wanted);
            }
        }
        var selected = request.Files.Count > 0 && files.Count == 0
            ? []
            : FilePlanner.Select(held, files, request.RepoType, request.RepoId, revision, commit);
        try
        {
            selected = PathFilter.Apply(selected, request.Include, request.Exclude, request.RepoType, request.RepoId, revision);
        }
        catch (EntryNotFoundException)
        {
            // No held file is left after the patterns: the repo may have such files, this cache cannot say.
            throw new OfflineIncompleteException(request.RepoType, request.RepoId, revision, null,
                $"the local copy (commit {commit}) holds no file that the include and exclude patterns select, and it was written without a listing of the repo (as huggingface_hub writes it), so hfdl cannot tell whether the repo has any");
        }
        // The snapshot's unusable entries that the request selects are missing: hfdl knows they belong to the revision.
        missing.AddRange(unusable.Where(filter.Matches).Where(u => !missing.Contains(u)));
        return new RepoSelection(request.RepoType, request.RepoId, revision, commit, held, selected, filter)
        {
            FromHeldFiles = true,
            MissingRequested = missing,
            Unusable = unusable,
        };
    }

    private static RepoSelection Select(DownloadRequest request, string revision, string commit, IReadOnlyList<RemoteFile> listed, bool withUnwritableNames)
    {
        var selected = FilePlanner.Select(listed, request.Files, request.RepoType, request.RepoId, revision, commit);
        selected = PathFilter.Apply(selected, request.Include, request.Exclude, request.RepoType, request.RepoId, revision);
        if (!withUnwritableNames)
        {
            // Judged among the selected files only, as the names hfdl keeps for itself are (TargetChecks).
            FilePlanner.RefuseUnwritable(selected);
        }
        return new RepoSelection(request.RepoType, request.RepoId, revision, commit, listed, selected,
            new SelectionFilter(request.Files, new PathFilter(request.Include, request.Exclude)));
    }

    /// <summary>Resolves a branch, tag or PR ref to its commit (a commit id resolves to itself without a call).</summary>
    public static async Task<string> ResolveCommitAsync(HubClient client, RepoType type, RepoId id, string revision, CancellationToken cancellationToken)
    {
        if (RepoDownloader.IsCommit(revision))
        {
            return revision;
        }
        var info = await client.GetRepoInfoAsync(type, id, revision, cancellationToken: cancellationToken, expand: "sha").ConfigureAwait(false);
        if (info.Sha is not { } sha || !RepoDownloader.IsCommit(sha))
        {
            throw new HubProtocolException($"The Hub did not say which commit revision '{revision}' of {type.Name()} '{id}' is (no valid 'sha' in the repo info).");
        }
        return sha;
    }

    /// <summary>
    /// The local half: what a download would do with each selected file, judged from the layout's files and the
    /// journal alone. Reads only: hashes nothing, writes nothing (the case-sensitivity probe of the target folder is
    /// made only when <paramref name="probeFileSystem"/> allows it, which a dry run does not).
    /// </summary>
    /// <param name="state">The journal of the layout's journal folder, or null when there is none.</param>
    /// <param name="hashedBefore">With <see cref="ExistingFiles.Rehash"/>: verdicts of a verification run just before, by path.</param>
    /// <param name="withExtras">Also list local files of the selection that the repo does not have (folder layouts).</param>
    public static DownloadPlan Inspect(
        RepoSelection selection,
        StorageLayout layout,
        DownloadStateStore? state,
        ExistingFiles existing,
        long bigFileThreshold,
        bool withExtras,
        bool probeFileSystem,
        IReadOnlyDictionary<string, Integrity.HashedFile>? hashedBefore = null)
    {
        // A link planted where hfdl keeps its own files fails the plan, so a dry run refuses what the download refuses.
        layout.CheckForLinks();
        TargetChecks.Check(selection.Selected, layout.JournalFolder, probeFileSystem, folderLayout: layout.Kind != LayoutKind.HfCache, filesRoot: layout.ResultFolder(selection.Commit));
        if (layout.Kind != LayoutKind.HfCache)
        {
            TargetChecks.CheckForeignDownloads([.. selection.Selected.Select(f => f.Path)], layout.JournalFolder);
        }
        var planned = new List<PlannedFile>(selection.Selected.Count);
        var roots = layout.PlanRoots(selection.Commit);
        foreach (var file in selection.Selected)
        {
            planned.Add(InspectFile(file, layout, roots, selection.Commit, state, existing, bigFileThreshold, hashedBefore?.GetValueOrDefault(file.Path)));
        }
        var extras = withExtras ? FindExtras(selection, layout) : [];
        return new DownloadPlan(selection.RepoType, selection.RepoId, selection.Revision, selection.Commit,
            layout.ResultFolder(selection.Commit), bigFileThreshold, planned, state?.LoadWarning)
        {
            Layout = layout.Kind,
            Extras = extras,
        };
    }

    private static PlannedFile InspectFile(RemoteFile file, StorageLayout layout, PlanRoots roots, string commit, DownloadStateStore? state, ExistingFiles existing, long bigFileThreshold, Integrity.HashedFile? hashedBefore)
    {
        var isBig = file.Size > 0 && file.Size >= bigFileThreshold;
        var dataPath = layout.DataPath(file);
        // One string when both are the same file (a folder layout): a plan of 400,000 files keeps one path each.
        var userPath = layout.Kind == LayoutKind.Folder ? dataPath : layout.UserPath(file, commit);
        var data = new FileInfo(dataPath);
        var isLink = data.LinkTarget is not null;
        var localSize = data.Exists && !isLink ? data.Length : (long?)null;
        // The paths are kept as the plan's roots, not per file, when the roots give them back exactly (they do, for
        // the normalised paths a listing has to have); else the layout's own strings are kept.
        var derived = roots.Data(file.Path, file.Etag) == dataPath && roots.User(file.Path) == userPath;
        PlannedFile Plan(PlannedAction action, long bytesOnDisk, string? tempFile = null, long spaceHeld = 0) => derived
            ? new(file.Path, file.Size, file.IsLfs, isBig, action, bytesOnDisk)
            {
                Remote = file,
                Roots = roots,
                LocalSize = localSize,
                ResumeTempFile = tempFile,
                SpaceHeld = spaceHeld,
            }
            : new(file.Path, file.Size, file.IsLfs, isBig, action, bytesOnDisk)
            {
                Remote = file,
                TargetPath = userPath,
                DataPath = dataPath,
                LocalSize = localSize,
                ResumeTempFile = tempFile,
                SpaceHeld = spaceHeld,
            };

        PlannedFile? Resumed(bool finalCopyMayBeRight)
        {
            if (state is null || ResumableTemp(state, file, dataPath) is not { } resumable)
            {
                return null;
            }
            if (finalCopyMayBeRight && HasFinalCopyBeside(data, file))
            {
                // The file under its final name beside a partial one (an interrupted --force in a download folder): it
                // is hashed first and kept if right (RepoDownloader.TryAdoptBesidePartialAsync), not fetched again.
                return Plan(PlannedAction.Verify, file.Size);
            }
            // A small file continues from its first range only (it is written in order); a big one keeps every range.
            var onDisk = isBig
                ? ByteRanges.Normalize(resumable.Ranges).Sum(r => r.End - r.Start)
                : Transfer.SmallFileResume.From(resumable.TempPath, resumable.Ranges).Written;
            // A big file's temporary file was reserved whole (fallocate, which keeps the length) when it started: the
            // space it holds is its allocated blocks, where the system tells them.
            var held = isBig && SafeFileSystem.LinkTarget(resumable.TempPath) is null && DiskSpace.AllocatedBytes(resumable.TempPath) is { } allocated
                ? Math.Min(allocated, file.Size)
                : onDisk;
            return Plan(PlannedAction.Resume, onDisk, Path.GetFileName(resumable.TempPath), held);
        }

        if ((layout.Kind != LayoutKind.Folder || !data.Exists) && Directory.Exists(userPath) && new DirectoryInfo(userPath).LinkTarget is null)
        {
            // The download fails this file before fetching it (FileFetcher, Place): the plan says so beforehand.
            return Plan(PlannedAction.Download, 0) with { Blocked = $"'{userPath}' is a folder, but the repo has a file with that name; move the folder away first" };
        }
        if ((layout.Kind != LayoutKind.Folder || !data.Exists) && FileInTheWay(userPath, layout.ResultFolder(commit)) is { } inTheWay)
        {
            return Plan(PlannedAction.Download, 0) with { Blocked = $"'{inTheWay}' is a file, but the repo has a folder with that name; move the file away first" };
        }
        if (existing == ExistingFiles.Ignore)
        {
            return Plan(PlannedAction.Download, 0);
        }
        if (existing == ExistingFiles.Rehash && !isLink && hashedBefore is not null && hashedBefore.StillDescribes(data, file.Hash.Hex))
        {
            // --verify --fix-broken: hashed a moment ago and unchanged since, so its verdict stands; a 100 GB model is
            // not hashed twice. Found corrupt, it is fetched again, from the part file an interrupted repair left when
            // the journal vouches for it, as the run does (RepoDownloader.TakeResumable).
            return hashedBefore.Ok ? Plan(PlannedAction.Present, file.Size) : Resumed(finalCopyMayBeRight: false) ?? Plan(PlannedAction.Download, 0);
        }
        if (existing == ExistingFiles.TrustJournal
            && ((state is not null && IsRecordedComplete(state, file, data))
                || (layout.TrustsPresentData && localSize == file.Size && !IsChangedSinceVerified(state, file, data))))
        {
            return Plan(PlannedAction.Present, file.Size);
        }
        if (Resumed(finalCopyMayBeRight: true) is { } resumed)
        {
            return resumed;
        }
        if (localSize is null && !isLink && layout.Kind == LayoutKind.HfCache && new FileInfo(userPath) is { Exists: true, LinkTarget: null } copy && copy.Length == file.Size)
        {
            // No blob, but the snapshot holds a copy (huggingface_hub where links cannot be made moves the blob there):
            // hashed, and made the blob if right (RepoDownloader.TryAdoptExistingAsync).
            return Plan(PlannedAction.Verify, file.Size);
        }
        if (localSize != file.Size && layout.HfPartialLength(file) is { } incomplete)
        {
            // huggingface_hub's partial download of the file: the run takes it over (StorageLayout.TakeOverHfPartial).
            return Plan(PlannedAction.Resume, incomplete, $"{file.Etag}.incomplete", incomplete);
        }
        return localSize == file.Size
            ? Plan(PlannedAction.Verify, file.Size)
            : Plan(PlannedAction.Download, 0);
    }

    /// <summary>
    /// A regular file where a folder on the way to <paramref name="path"/> must be (below <paramref name="root"/>), which
    /// makes the download of that path fail: null when there is none. Only looked for when the path's folder is missing,
    /// so a plan of files in existing folders costs one check each.
    /// </summary>
    private static string? FileInTheWay(string path, string root)
    {
        var folder = Path.GetDirectoryName(path);
        while (folder is not null && folder.Length > root.Length && folder.StartsWith(root, StringComparison.Ordinal))
        {
            if (Directory.Exists(folder))
            {
                return null;
            }
            if (File.Exists(folder))
            {
                return folder;
            }
            folder = Path.GetDirectoryName(folder);
        }
        return null;
    }

    /// <summary>
    /// The partial data the journal records for <paramref name="file"/>, when it can be resumed: same etag and size,
    /// and its temporary file (beside <paramref name="dataPath"/>) still there. A link at that name counts as there:
    /// resuming opens it without following it and fails that file with a clear message, never writing through it.
    /// </summary>
    public static (string TempPath, List<(long Start, long End)> Ranges)? ResumableTemp(DownloadStateStore state, RemoteFile file, string dataPath)
    {
        if (state.Get(file.Path) is not { Status: FileState.Partial, TempFile: { } tempName, Ranges: { } ranges } recorded
            || recorded.Etag != file.Etag || recorded.Size != file.Size)
        {
            return null;
        }
        var tempPath = Path.Combine(Path.GetDirectoryName(dataPath)!, tempName);
        // A FIFO or a device planted at that name is never opened (a FIFO waits for a writer, a device cannot seek):
        // nothing to resume, the file is fetched afresh (RepoDownloader.TakeResumable says so and leaves the entry).
        if (SafeFileSystem.LinkTarget(tempPath) is not null)
        {
            return (tempPath, [.. ranges.Select(r => (r[0], r[1]))]);
        }
        if (!File.Exists(tempPath) || SafeFileSystem.IsSpecialFile(tempPath))
        {
            return null;
        }
        // What the journal records past the file's end was never written there: a big file's temporary file is reserved
        // without growing (its length is how far writes reached), and the journal is saved without an fsync, so after a
        // power cut (or a hand edit, or a truncation) it can claim more than the file holds. Those bytes are fetched again.
        var length = new FileInfo(tempPath).Length;
        return (tempPath, [.. ranges.Where(r => r[0] < length).Select(r => (r[0], Math.Min(r[1], length)))]);
    }

    /// <summary>The file is at its final place with the listed size (not a link): worth hashing before any partial copy is resumed.</summary>
    public static bool HasFinalCopyBeside(FileInfo data, RemoteFile file) => data.Exists && data.LinkTarget is null && data.Length == file.Size;

    /// <summary>
    /// The journal recorded this very content as verified, and the file has been modified since: a blob of the HF cache
    /// (trusted by its name, as huggingface_hub trusts it) that was edited in place after hfdl checked it is hashed again.
    /// </summary>
    private static bool IsChangedSinceVerified(DownloadStateStore? state, RemoteFile file, FileInfo data) =>
        state?.Get(file.Path) is { Status: FileState.Complete } recorded
        && recorded.Etag == file.Etag && recorded.Size == file.Size
        && data.Exists && data.LastWriteTimeUtc.Ticks != recorded.MtimeTicks;

    /// <summary>Recorded as verified in the journal, and untouched since (same etag, size and modification time).</summary>
    public static bool IsRecordedComplete(DownloadStateStore state, RemoteFile file, FileInfo data) =>
        state.Get(file.Path) is { Status: FileState.Complete } recorded
        && recorded.Etag == file.Etag && recorded.Size == file.Size
        && data.Exists && data.LinkTarget is null && data.Length == file.Size && data.LastWriteTimeUtc.Ticks == recorded.MtimeTicks;

    /// <summary>
    /// Files in a folder layout that the repo does not list at this commit, among the paths the request selects
    /// (FILES and patterns), leaving hfdl's and huggingface_hub's own files out.
    /// </summary>
    private static List<PlannedFile> FindExtras(RepoSelection selection, StorageLayout layout)
    {
        var root = layout.ResultFolder(selection.Commit);
        if (!Directory.Exists(root) || (layout.Kind == LayoutKind.HfCache && SafeFileSystem.LinkTarget(root) is not null))
        {
            return [];
        }
        var known = selection.Listed.Select(f => f.Path).Concat(selection.Unusable).ToHashSet(StringComparer.Ordinal);
        var extras = new List<PlannedFile>();
        // A download nested in this folder (its own journal or lock) is not this repo's extra files. A snapshot of the HF
        // cache holds links (to blobs): they are its files, read without following any link to a folder.
        var locals = layout.Kind == LayoutKind.HfCache
            ? SafeFileSystem.WalkWithoutFollowingLinks(root).OfType<FileInfo>().Select(f => f.FullName)
            : DownloadFolder.OwnFiles(root);
        foreach (var local in locals)
        {
            var relative = Path.GetRelativePath(root, local).Replace(Path.DirectorySeparatorChar, '/');
            if (!known.Contains(relative) && !IsOwnFile(relative) && selection.Filter.Matches(relative))
            {
                var size = ExtraSize(local);
                extras.Add(new PlannedFile(relative, size, false, false, PlannedAction.Extra, size) { TargetPath = local, DataPath = local, LocalSize = size });
            }
        }
        extras.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return extras;
    }

    /// <summary>
    /// An extra file's size (its target's, for a link), or 0 when it cannot be read again by the name it was listed
    /// under: .NET shows a name that is not UTF-8 with U+FFFD in it, which no longer names the file. It is still an
    /// extra file; only its size is unknown.
    /// </summary>
    private static long ExtraSize(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target ? target.Length : info.Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>
    /// hfdl's own files in a download folder: the journal, its lock, temporary files (the journal's and the lock
    /// record's too, which a process killed while writing them leaves), huggingface_hub's metadata.
    /// </summary>
    public static bool IsOwnFile(string relative)
    {
        var name = relative[(relative.LastIndexOf('/') + 1)..];
        return name.StartsWith(DownloadState.FileName, StringComparison.Ordinal)
            || name.StartsWith(RepoFolderLock.FileName, StringComparison.Ordinal)
            || AtomicFile.IsTemporaryFile(name, DownloadState.FileName)
            || AtomicFile.IsTemporaryFile(name, RepoFolderLock.InfoFileName)
            || FileFetcher.IsTemporaryFile(name)
            || name.EndsWith(HfCacheLayout.CopySuffix, StringComparison.Ordinal)
            || relative.StartsWith(".cache/huggingface/", StringComparison.Ordinal);
    }
}
