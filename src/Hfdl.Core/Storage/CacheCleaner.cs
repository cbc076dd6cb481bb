using Hfdl.Core.Hub;

namespace Hfdl.Core.Storage;

/// <summary>Something <c>hfdl cache rm</c> is asked to remove.</summary>
internal abstract record CacheTarget;

/// <summary>A revision by its full commit id, in whichever cached repo holds it (commit ids are unique across repos).</summary>
internal sealed record CommitTarget(string Commit) : CacheTarget;

/// <summary>A cached repo: all of it, or the snapshot one revision (branch, tag, ref or commit id) points at.</summary>
internal sealed record RepoTarget(RepoType Type, RepoId Id, string? Revision) : CacheTarget;

/// <summary>
/// A whole repo named as <c>cache ls</c> lists it when its folder name is no valid repo id (<c>models--a--b--c</c>
/// lists as <c>a/b/c</c>): found among the cache's folders by that name, never turned into a path.
/// </summary>
internal sealed record ListedRepoTarget(RepoType Type, string Id) : CacheTarget;

/// <summary>A snapshot a clean-up removes, and the refs that pointed at it (none: it was detached).</summary>
internal sealed record CacheRevisionRemoval(string Commit, IReadOnlyList<string> Refs);

/// <summary>What a clean-up removes (or, in a plan, would remove) from one cached repo.</summary>
internal sealed record CacheRepoRemoval(RepoType Type, string Id, string Folder)
{
    /// <summary>The repo folder goes entirely: every snapshot of it was chosen (as huggingface_hub does).</summary>
    public bool WholeRepo { get; init; }

    public IReadOnlyList<CacheRevisionRemoval> Revisions { get; init; } = [];

    /// <summary>Blob files removed: those no remaining snapshot links.</summary>
    public int Blobs { get; init; }

    /// <summary>Disk space freed: the sizes of the regular files removed (a link frees nothing).</summary>
    public long Bytes { get; init; }

    /// <summary>Why nothing is removed from this repo (it is in use by a download, or a link would be deleted through); null when it is.</summary>
    public string? LeftAlone { get; init; }

    /// <summary>Left alone because a download holds the repo: the same command works once it ends.</summary>
    public bool InUse { get; init; }

    /// <summary>huggingface_hub's name for a cached repo: <c>model/org/name</c>.</summary>
    public string CacheId => $"{Type.Name()}/{Id}";

    internal bool IsEmpty => LeftAlone is null && !WholeRepo && Revisions.Count == 0 && Blobs == 0;
}

/// <summary>A clean-up of a Hugging Face cache: a plan from <c>Plan*</c>, or what <see cref="CacheCleaner.Execute"/> did.</summary>
internal sealed record CacheCleanup(string CacheRoot, IReadOnlyList<CacheRepoRemoval> Repos, IReadOnlyList<string> NotFound)
{
    /// <summary>Disk space freed (or to be freed) by the repos not left alone.</summary>
    public long Bytes => Repos.Where(r => r.LeftAlone is null).Sum(r => r.Bytes);

    internal IReadOnlyList<CacheCleaner.RepoPick> Picks { get; init; } = [];
}

/// <summary>
/// <c>hfdl cache rm</c> and <c>hfdl cache prune</c> on a Hugging Face cache (hub-api.md §7.1), with huggingface_hub's
/// semantics (<c>HFCacheInfo.delete_revisions</c>): removing a snapshot removes the refs that point at it and the blobs
/// no other snapshot links; removing every snapshot of a repo removes the repo folder. Prune removes detached
/// snapshots (no ref points at them) and, beyond <c>hf cache prune</c>, blobs no snapshot links at all.
/// <para>
/// Safe beside hfdl downloads: each repo is changed only under its <see cref="RepoFolderLock"/> (the one a download
/// into the cache holds), taken without waiting, and re-read under it; a repo in use is left alone and says by whom.
/// Links are never followed when deleting: a snapshot entry that links out of the cache is unlinked, its target kept,
/// and a repo whose <c>blobs</c>, <c>snapshots</c> or <c>refs</c> folder is itself a link is changed only as a whole
/// (the link removed). Deletion order keeps the cache consistent if it stops half-way: snapshots, then refs, then blobs.
/// </para>
/// </summary>
internal static class CacheCleaner
{
    /// <summary>What to take out of one repo folder.</summary>
    internal sealed record RepoPick(string Folder, RepoType Type, string Id, IReadOnlySet<string>? Commits, bool Prune)
    {
        public bool Whole => Commits is null && !Prune;
    }

    /// <summary>Plans <c>hfdl cache prune</c>: detached snapshots and unreferenced blobs of every repo. Deletes nothing.</summary>
    public static CacheCleanup PlanPrune(string cacheRoot)
    {
        var root = RequireCache(cacheRoot);
        var picks = RepoFolders(root).Select(repo => new RepoPick(repo.Folder, repo.Type, repo.Id, null, Prune: true));
        return Plan(root, picks, []);
    }

    /// <summary>Plans <c>hfdl cache rm</c>. Targets not in the cache are listed in <see cref="CacheCleanup.NotFound"/>. Deletes nothing.</summary>
    public static CacheCleanup PlanRemove(string cacheRoot, IReadOnlyList<CacheTarget> targets)
    {
        var root = RequireCache(cacheRoot);
        var notFound = new List<string>();
        var chosen = new Dictionary<string, (RepoType Type, string Id, HashSet<string>? Commits)>(StringComparer.Ordinal);
        void Choose(string folder, RepoType type, string id, string? commit)
        {
            if (!chosen.TryGetValue(folder, out var entry))
            {
                entry = (type, id, commit is null ? null : new HashSet<string>(StringComparer.Ordinal));
                chosen[folder] = entry;
            }
            if (commit is null)
            {
                chosen[folder] = entry with { Commits = null };
            }
            else
            {
                entry.Commits?.Add(commit);
            }
        }

        foreach (var target in targets)
        {
            switch (target)
            {
                case CommitTarget { Commit: var text }:
                    var commit = text.ToLowerInvariant();
                    var holders = RepoFolders(root).Where(r => Directory.Exists(Path.Combine(r.Folder, "snapshots", commit))).ToList();
                    if (holders.Count == 0)
                    {
                        notFound.Add(text);
                    }
                    foreach (var holder in holders)
                    {
                        Choose(holder.Folder, holder.Type, holder.Id, commit);
                    }
                    break;
                case ListedRepoTarget { Type: var listedType, Id: var listedId }:
                    var listed = RepoFolders(root).Where(r => r.Type == listedType && r.Id == listedId).ToList();
                    if (listed.Count == 0)
                    {
                        notFound.Add($"{listedType.Name()}/{listedId}");
                    }
                    foreach (var repo in listed)
                    {
                        Choose(repo.Folder, repo.Type, repo.Id, null);
                    }
                    break;
                case RepoTarget { Type: var type, Id: var id, Revision: var revision }:
                    var layout = new HfCacheLayout(root, type, id);
                    var name = $"{type.Name()}/{id}";
                    if (!Directory.Exists(layout.RepoFolder) && new DirectoryInfo(layout.RepoFolder).LinkTarget is null)
                    {
                        notFound.Add(name);
                    }
                    else if (revision is null)
                    {
                        Choose(layout.RepoFolder, type, id.Value, null);
                    }
                    else if (layout.LocalCommit(CommitInLowerCase(revision)) is { } resolved && Directory.Exists(Path.Combine(layout.RepoFolder, "snapshots", resolved)))
                    {
                        Choose(layout.RepoFolder, type, id.Value, resolved);
                    }
                    else
                    {
                        notFound.Add($"{name} at {revision}");
                    }
                    break;
            }
        }
        var picks = chosen.Select(c => new RepoPick(c.Key, c.Value.Type, c.Value.Id, c.Value.Commits, Prune: false));
        return Plan(root, picks, notFound);
    }

    /// <summary>
    /// Carries out a plan, one repo at a time under its lock: each repo is read again under the lock and what is
    /// removable then is removed (a download that finished since the plan may have changed it). Returns what was done;
    /// repos in use are listed with <see cref="CacheRepoRemoval.LeftAlone"/> set.
    /// </summary>
    public static CacheCleanup Execute(CacheCleanup plan)
    {
        var done = new List<CacheRepoRemoval>();
        foreach (var pick in plan.Picks)
        {
            var folderIsLink = new DirectoryInfo(pick.Folder).LinkTarget is not null;
            if (!Directory.Exists(pick.Folder) && !folderIsLink)
            {
                continue; // Removed meanwhile.
            }
            // A repo folder that is a link is removed as the link only, or left alone: never locked, since taking the
            // lock writes .hfdl.lock and .hfdl.lock.info in the folder it points at, outside the cache.
            var holder = "";
            var held = folderIsLink ? null : RepoFolderLock.TryAcquire(pick.Folder, out holder);
            if (held is null && !folderIsLink)
            {
                done.Add(new CacheRepoRemoval(pick.Type, pick.Id, pick.Folder) { LeftAlone = InUse(holder), InUse = true });
                continue;
            }
            try
            {
                var (removal, paths) = Compute(Scan(pick.Folder), pick);
                if (removal.IsEmpty)
                {
                    continue;
                }
                if (removal.LeftAlone is null)
                {
                    try
                    {
                        if (removal.WholeRepo)
                        {
                            DeleteRepoFolder(pick.Folder, folderIsLink, ref held);
                        }
                        else
                        {
                            paths.ForEach(DeleteEntry);
                        }
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // A whole repo half removed is left with refs to snapshots gone: a prune frees only the blobs no
                        // snapshot links, so the advice is to remove the repo again (QA: helper-63).
                        throw new HfdlException(removal.WholeRepo
                            ? $"Could not finish removing {removal.CacheId} from {plan.CacheRoot}: {ex.Message} Part of it is gone; fix the permissions, then remove the same repo again to remove the rest."
                            : $"Could not finish cleaning {removal.CacheId} in {plan.CacheRoot}: {ex.Message} What was removed so far leaves the cache consistent (snapshots go before the blobs they link); fix the permissions, then prune the cache to remove what is left (blobs no snapshot links any more).", ex);
                    }
                }
                done.Add(removal);
            }
            finally
            {
                held?.Dispose();
            }
        }
        return new CacheCleanup(plan.CacheRoot, done, plan.NotFound);
    }

    private static CacheCleanup Plan(string root, IEnumerable<RepoPick> picks, IReadOnlyList<string> notFound)
    {
        var chosen = new List<RepoPick>();
        var repos = new List<CacheRepoRemoval>();
        foreach (var pick in picks)
        {
            var (removal, _) = Compute(Scan(pick.Folder), pick);
            if (removal.IsEmpty)
            {
                continue;
            }
            if (removal.LeftAlone is null && RepoFolderLock.Holder(pick.Folder) is { } holder)
            {
                removal = removal with { LeftAlone = InUse(holder), InUse = true };
            }
            chosen.Add(pick);
            repos.Add(removal);
        }
        return new CacheCleanup(root, repos, notFound) { Picks = chosen };
    }

    /// <summary>A commit id as the cache names it (lower case), however it was typed; any other revision as it is.</summary>
    internal static string CommitInLowerCase(string revision) =>
        Transfer.RepoDownloader.IsCommit(revision.ToLowerInvariant()) ? revision.ToLowerInvariant() : revision;

    private static string InUse(string holder) => $"in use by a download ({SafeText.Printable(holder)})";

    private static string RequireCache(string cacheRoot)
    {
        var root = Path.GetFullPath(cacheRoot);
        if (!Directory.Exists(root))
        {
            throw new HfdlException($"There is no Hugging Face cache at {root}. Give the cache folder, or set HF_HUB_CACHE (or HF_HOME).");
        }
        return root;
    }

    /// <summary>Whether <c>cache ls</c> lists a repo of <paramref name="type"/> as <paramref name="id"/> (read from its folder's name).</summary>
    public static bool IsListed(string root, RepoType type, string id) =>
        Directory.Exists(root) && RepoFolders(root).Any(r => r.Type == type && r.Id == id);

    private static IEnumerable<(string Folder, RepoType Type, string Id)> RepoFolders(string root)
    {
        foreach (var folder in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            if (CacheScanner.TryParseFolderName(Path.GetFileName(folder), out var type, out var id))
            {
                yield return (folder, type, id);
            }
        }
    }

    /// <summary>One repo folder as it is on disk, read without following any link.</summary>
    private sealed class RepoScan
    {
        public required string Folder { get; init; }

        /// <summary>Why only the whole repo may be removed: a link hfdl would otherwise delete through.</summary>
        public string? LinkProblem { get; set; }

        /// <summary>Why only the whole repo may be removed: a ref that cannot be read, so which snapshots are kept is unknown.</summary>
        public string? RefProblem { get; set; }

        public bool FolderIsLink { get; set; }

        /// <summary>commit → the refs pointing at it.</summary>
        public Dictionary<string, List<string>> Refs { get; } = new(StringComparer.Ordinal);

        public List<string> Snapshots { get; } = [];

        /// <summary>commit → the blobs its files link to (or, for copies, the blobs holding the same content).</summary>
        public Dictionary<string, HashSet<string>> Linked { get; } = new(StringComparer.Ordinal);

        /// <summary>Snapshots holding a copy hfdl cannot match to a blob (no cached listing): no blob is removed then.</summary>
        public HashSet<string> Unmatched { get; } = new(StringComparer.Ordinal);

        /// <summary>blob name → bytes freed by removing it (0 for a link).</summary>
        public Dictionary<string, long> Blobs { get; } = new(StringComparer.Ordinal);
    }

    private static RepoScan Scan(string folder)
    {
        var scan = new RepoScan { Folder = folder };
        if (new DirectoryInfo(folder).LinkTarget is { } target)
        {
            scan.FolderIsLink = true;
            scan.LinkProblem = $"the repo folder is a link to {SafeText.Printable(target)}";
            return scan;
        }
        // .no_exist and trees too: a snapshot's removal deletes .no_exist/<commit> and trees/<commit>.json.
        foreach (var part in (ReadOnlySpan<string>)["blobs", "snapshots", "refs", "trees", ".no_exist"])
        {
            if (new DirectoryInfo(Path.Combine(folder, part)).LinkTarget is { } partTarget)
            {
                scan.LinkProblem = $"its {part} folder is a link to {SafeText.Printable(partTarget)}";
            }
        }

        var refs = Path.Combine(folder, "refs");
        // A ref that is a link is read through it: erring on the side of keeping its snapshot. One that cannot be read
        // (or holds no commit id) might point at any snapshot: the repo is then changed only as a whole. So might the
        // refs in a folder of refs that is a link (refs/pr -> elsewhere), which the walk does not enter.
        foreach (var entry in SafeFileSystem.WalkWithoutFollowingLinks(refs))
        {
            var name = Path.GetRelativePath(refs, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (entry is not FileInfo file)
            {
                if (entry.LinkTarget is { } refsTarget)
                {
                    scan.RefProblem ??= $"its refs folder {SafeText.Printable(name)} is a link to {SafeText.Printable(refsTarget)}, whose refs hfdl does not read";
                }
                continue;
            }
            if (AtomicFile.IsTemporaryFile(file.Name))
            {
                continue; // What a run killed while writing a ref left: no ref (the next download deletes it).
            }
            if (SafeFileSystem.ReadRef(file.FullName, out var problem) is { } commit)
            {
                (scan.Refs.TryGetValue(commit, out var names) ? names : scan.Refs[commit] = []).Add(name);
            }
            else
            {
                scan.RefProblem ??= $"its ref {SafeText.Printable(name)} cannot be used ({SafeText.Printable(problem ?? "")})";
            }
        }

        var blobs = Path.Combine(folder, "blobs");
        if (Directory.Exists(blobs) && scan.LinkProblem is null)
        {
            foreach (var blob in new DirectoryInfo(blobs).EnumerateFileSystemInfos())
            {
                if (blob is FileInfo || blob.LinkTarget is not null)
                {
                    scan.Blobs[blob.Name] = blob.LinkTarget is null ? ((FileInfo)blob).Length : 0;
                }
            }
        }

        var snapshots = Path.Combine(folder, "snapshots");
        if (Directory.Exists(snapshots) && scan.LinkProblem is null)
        {
            foreach (var snapshot in new DirectoryInfo(snapshots).EnumerateFileSystemInfos().OrderBy(s => s.Name, StringComparer.Ordinal))
            {
                if (snapshot.LinkTarget is not null)
                {
                    scan.LinkProblem = $"its snapshot {SafeText.Printable(snapshot.Name)} is a link to {SafeText.Printable(snapshot.LinkTarget)}";
                    continue;
                }
                if (snapshot is not DirectoryInfo)
                {
                    continue;
                }
                scan.Snapshots.Add(snapshot.Name);
                var linked = scan.Linked[snapshot.Name] = new HashSet<string>(StringComparer.Ordinal);
                Dictionary<string, string>? listing = null;
                foreach (var entry in SafeFileSystem.WalkWithoutFollowingLinks(snapshot.FullName))
                {
                    if (entry.LinkTarget is { } link)
                    {
                        // Kept if the link's last step names one of this repo's blobs, wherever it points: erring on
                        // the side of keeping (an absolute link through another spelling of the cache root still counts).
                        linked.Add(Path.GetFileName(link.TrimEnd('/', Path.DirectorySeparatorChar)));
                    }
                    else if (entry is FileInfo)
                    {
                        // A copy (no symlinks): the cached listing says which blob holds the same content.
                        listing ??= StorageLayout.LoadTree(folder, snapshot.Name)?.ToDictionary(f => f.Path, f => f.Etag, StringComparer.Ordinal) ?? [];
                        var path = Path.GetRelativePath(snapshot.FullName, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                        if (listing.TryGetValue(path, out var etag))
                        {
                            linked.Add(etag);
                        }
                        else
                        {
                            scan.Unmatched.Add(snapshot.Name);
                        }
                    }
                }
            }
        }
        return scan;
    }

    /// <summary>What <paramref name="pick"/> removes from <paramref name="scan"/>, and the paths to delete in order.</summary>
    private static (CacheRepoRemoval Removal, List<string> Paths) Compute(RepoScan scan, RepoPick pick)
    {
        var removal = new CacheRepoRemoval(pick.Type, pick.Id, scan.Folder);
        var commits = pick.Prune ? scan.Snapshots.Where(c => !scan.Refs.ContainsKey(c)).ToList()
            : pick.Commits is { } chosen ? scan.Snapshots.Where(chosen.Contains).ToList()
            : [.. scan.Snapshots];
        CacheRevisionRemoval Revision(string commit) => new(commit, [.. (scan.Refs.GetValueOrDefault(commit) ?? []).Order(StringComparer.Ordinal)]);
        var revisions = commits.Select(Revision).ToList();
        var paths = new List<string>();

        // Prune goes by the refs: with one it cannot read, any snapshot may be in use, so none goes (below).
        var pruneBlind = pick.Prune && scan.RefProblem is not null;
        if (pick.Whole || (commits.Count > 0 && commits.Count == scan.Snapshots.Count && !pruneBlind))
        {
            paths.Add(scan.Folder);
            return (removal with
            {
                WholeRepo = true,
                Revisions = revisions,
                Blobs = scan.FolderIsLink ? 0 : CountEntries(Path.Combine(scan.Folder, "blobs")),
                // Without the lock's own files: taking the lock writes them, so the plan and the run count the same.
                Bytes = scan.FolderIsLink ? 0 : RegularBytes(scan.Folder) - LockBytes(scan.Folder),
            }, paths);
        }

        var remaining = scan.Snapshots.Except(commits).ToList();
        var kept = remaining.SelectMany(c => scan.Linked[c]).ToHashSet(StringComparer.Ordinal);
        var candidates = pick.Prune ? scan.Blobs.Keys.Where(n => !IsInProgress(n)) : commits.SelectMany(c => scan.Linked[c]);
        var blobs = remaining.Any(scan.Unmatched.Contains)
            ? []
            : candidates.Distinct().Where(n => scan.Blobs.ContainsKey(n) && !kept.Contains(n)).Order(StringComparer.Ordinal).ToList();
        removal = removal with { Revisions = revisions, Blobs = blobs.Count };
        var wholeOnly = scan.LinkProblem is { } linkProblem
            ? $"{linkProblem}; hfdl does not delete through links (remove the whole repo {removal.CacheId} instead)"
            : pruneBlind
                ? $"{scan.RefProblem}, so hfdl cannot tell which snapshots are still in use (fix or delete that ref, or remove the whole repo {removal.CacheId})"
                : null;
        // Prune cannot see behind a linked blobs/, snapshots/, refs/, trees/ or .no_exist/ what would go: it says so
        // (a repo folder that is itself a link is the user's choice, and is passed over).
        var pruneUnseen = pick.Prune && scan.LinkProblem is not null && !scan.FolderIsLink;
        if (wholeOnly is not null && (!removal.IsEmpty || pick.Commits is { Count: > 0 } || pruneUnseen))
        {
            if (removal.IsEmpty && pick.Commits is { } asked)
            {
                removal = removal with { Revisions = [.. asked.Order(StringComparer.Ordinal).Select(Revision)] };
            }
            return (removal with { LeftAlone = wholeOnly }, paths);
        }
        if (removal.IsEmpty)
        {
            return (removal, paths);
        }

        long bytes = 0;
        foreach (var commit in commits)
        {
            var snapshot = Path.Combine(scan.Folder, "snapshots", commit);
            var tree = Path.Combine(scan.Folder, "trees", commit + ".json");
            var missing = Path.Combine(scan.Folder, ".no_exist", commit);
            // The refs that go count too, as a whole repo's do: the space freed is that of every regular file removed.
            var refs = (scan.Refs.GetValueOrDefault(commit) ?? []).Select(r => Path.Combine(scan.Folder, "refs", r.Replace('/', Path.DirectorySeparatorChar))).ToList();
            bytes += RegularBytes(snapshot) + RegularBytes(tree) + RegularBytes(missing) + refs.Sum(RegularBytes);
            paths.Add(snapshot);
            paths.AddRange(refs);
            paths.Add(missing);
            paths.Add(tree);
        }
        foreach (var blob in blobs)
        {
            bytes += scan.Blobs[blob];
            paths.Add(Path.Combine(scan.Folder, "blobs", blob));
        }
        return (removal with { Bytes = bytes }, paths);
    }

    /// <summary>Names in <c>blobs/</c> that are downloads in progress (hfdl's and huggingface_hub's), never pruned.</summary>
    private static bool IsInProgress(string name) =>
        name.StartsWith('.') || name.EndsWith(".incomplete", StringComparison.Ordinal) || name.EndsWith(".hfdl-part", StringComparison.Ordinal)
        || name.EndsWith(".hfdl-copy", StringComparison.Ordinal) || name.EndsWith(".lock", StringComparison.Ordinal);



    private static int CountEntries(string folder) =>
        Directory.Exists(folder) && new DirectoryInfo(folder).LinkTarget is null ? new DirectoryInfo(folder).EnumerateFileSystemInfos().Count() : 0;

    /// <summary>The bytes of the regular files at or under <paramref name="path"/>, links not followed.</summary>
    private static long RegularBytes(string path)
    {
        var file = new FileInfo(path);
        if (file.LinkTarget is not null)
        {
            return 0;
        }
        if (file.Exists)
        {
            return file.Length;
        }
        return SafeFileSystem.WalkWithoutFollowingLinks(path).OfType<FileInfo>().Where(f => f.LinkTarget is null).Sum(f => f.Length);
    }

    private static long LockBytes(string folder) =>
        new DirectoryInfo(folder).EnumerateFiles(RepoFolderLock.FileName + "*").Where(f => f.LinkTarget is null).Sum(f => f.Length);

    /// <summary>Deletes a file, a link (never what it points at) or a real folder with everything in it, links unlinked.</summary>
    private static void DeleteEntry(string path)
    {
        var file = new FileInfo(path);
        if (file.LinkTarget is not null)
        {
            File.Delete(path);
        }
        else if (Directory.Exists(path))
        {
            foreach (var child in Directory.EnumerateFileSystemEntries(path).ToList())
            {
                DeleteEntry(child);
            }
            Directory.Delete(path);
        }
        else if (file.Exists)
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Removes a repo folder whose lock <paramref name="held"/> is held: everything but the lock first, then the lock
    /// file (on Unix while still held, so a download waiting for it starts afresh only once the rest is gone), then
    /// the folder if it is empty by then.
    /// </summary>
    private static void DeleteRepoFolder(string folder, bool isLink, ref RepoFolderLock? held)
    {
        if (isLink)
        {
            held?.Dispose();
            held = null;
            File.Delete(folder); // The link, not the folder it points at.
            return;
        }
        var lockFile = Path.Combine(folder, RepoFolderLock.FileName);
        foreach (var child in Directory.EnumerateFileSystemEntries(folder).Where(c => c != lockFile).ToList())
        {
            DeleteEntry(child);
        }
        try
        {
            File.Delete(lockFile);
        }
        catch (IOException)
        {
            // Windows does not delete a file that is open: done below, once released.
        }
        held?.Dispose();
        held = null;
        try
        {
            File.Delete(lockFile);
            Directory.Delete(folder);
        }
        catch (IOException)
        {
            // A download that was waiting has already started again in it: its files stay.
        }
    }
}
