using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;

namespace Hfdl.Core.Storage;

/// <summary>One repo of a Hugging Face cache.</summary>
/// <param name="BadRefs">Refs that name no revision: they cannot be read or hold no commit id (prune stops at them).</param>
internal sealed record CachedRepo(RepoType Type, string Id, string Folder, long SizeOnDisk, int BlobCount, IReadOnlyDictionary<string, string> Refs, IReadOnlyList<string> Snapshots, IReadOnlyList<string> BadRefs);

/// <summary>The verdict on one snapshot file of <c>hfdl cache verify</c>.</summary>
internal sealed record CachedFileCheck(string Commit, string Path, Progress.VerifyStatus Status, string? Detail);

/// <summary>Reads a Hugging Face cache (hub-api.md §7.1) the way <c>hf cache ls</c> / <c>hf cache verify</c> do.</summary>
internal static class CacheScanner
{
    /// <summary>Every repo folder of the cache; blobs shared by several revisions are counted once.</summary>
    public static IReadOnlyList<CachedRepo> Scan(string cacheRoot)
    {
        var repos = new List<CachedRepo>();
        if (!Directory.Exists(cacheRoot))
        {
            return repos;
        }
        foreach (var folder in Directory.EnumerateDirectories(cacheRoot).Order(StringComparer.Ordinal))
        {
            if (!TryParseFolderName(Path.GetFileName(folder), out var type, out var id))
            {
                continue; // .locks and anything else that is not a repo
            }
            var blobs = Path.Combine(folder, "blobs");
            var blobFiles = Directory.Exists(blobs) ? Directory.GetFiles(blobs).Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".incomplete", StringComparison.Ordinal)).ToList() : [];
            var size = blobFiles.Sum(f => new FileInfo(f).Length);
            var snapshots = Path.Combine(folder, "snapshots");
            var snapshotIds = Directory.Exists(snapshots) ? Directory.GetDirectories(snapshots).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList() : [];
            // Copies (no symlinks) live in the snapshot itself: count what is not a link (and never walk through one).
            foreach (var snapshot in snapshotIds)
            {
                size += SafeFileSystem.WalkWithoutFollowingLinks(Path.Combine(snapshots, snapshot))
                    .OfType<FileInfo>().Where(f => f.LinkTarget is null).Sum(f => f.Length);
            }
            var refs = new Dictionary<string, string>(StringComparer.Ordinal);
            var badRefs = new List<string>();
            var refsFolder = Path.Combine(folder, "refs");
            if (Directory.Exists(refsFolder))
            {
                // What a run killed while writing a ref left is no ref (the next download deletes it).
                foreach (var refFile in SafeFileSystem.WalkWithoutFollowingLinks(refsFolder).OfType<FileInfo>().Where(f => !AtomicFile.IsTemporaryFile(f.Name)))
                {
                    // A ref that holds no commit id (or cannot be read) names no revision, but is listed as bad: prune
                    // leaves the repo alone because of it, and a listing that hid it would leave the user guessing why.
                    var name = Path.GetRelativePath(refsFolder, refFile.FullName).Replace(Path.DirectorySeparatorChar, '/');
                    if (SafeFileSystem.ReadRef(refFile.FullName, out _) is { } commit)
                    {
                        refs[name] = commit;
                    }
                    else
                    {
                        badRefs.Add(name);
                    }
                }
            }
            repos.Add(new CachedRepo(type, id, folder, size, blobFiles.Count, refs, snapshotIds, [.. badRefs.Order(StringComparer.Ordinal)]));
        }
        return repos;
    }

    /// <summary>
    /// Reads a repo folder's name (<c>models--org--name</c>) as huggingface_hub's <c>scan_cache_dir</c> does: the type
    /// before the first <c>--</c>, the id after it with <c>--</c> as <c>/</c>. False for anything else (<c>.locks</c>).
    /// </summary>
    public static bool TryParseFolderName(string name, out RepoType type, out string id)
    {
        var split = name.IndexOf("--", StringComparison.Ordinal);
        id = "";
        type = RepoType.Model;
        if (split < 0 || !RepoTypes.TryParse(name[..split], out type))
        {
            return false;
        }
        id = name[(split + 2)..].Replace("--", "/", StringComparison.Ordinal);
        return true;
    }

    /// <summary>
    /// Checks every file of the repo's snapshots (or of one commit) against the hash its blob is named by (or, for
    /// a copied file, the hash in the cached listing).
    /// </summary>
    public static async Task<IReadOnlyList<CachedFileCheck>> VerifyAsync(string cacheRoot, RepoType type, RepoId id, string? revision, CancellationToken cancellationToken)
    {
        var layout = new HfCacheLayout(cacheRoot, type, id);
        var snapshotsFolder = Path.Combine(layout.RepoFolder, "snapshots");
        if (!Directory.Exists(snapshotsFolder))
        {
            // `cache ls` lists such a folder (0 B, no revision): a request that failed leaves refs/ and .no_exist/, as
            // huggingface_hub's does. Said as what it is, not as no repo at all.
            throw new HfdlException(Directory.Exists(layout.RepoFolder)
                ? $"The cache at {cacheRoot} holds no snapshot of {type.Name()} '{id}', so no file of it to verify: its folder has only the records of downloads that fetched nothing (refs, files recorded as missing). Download it into the cache first."
                : $"The cache at {cacheRoot} holds no {type.Name()} '{id}'. Download it into the cache first.");
        }
        IEnumerable<string> commits = Directory.GetDirectories(snapshotsFolder).Select(Path.GetFileName).OfType<string>();
        if (revision is not null)
        {
            var commit = layout.LocalCommit(CacheCleaner.CommitInLowerCase(revision))
                ?? throw new HfdlException($"The cache at {cacheRoot} has no snapshot of {type.Name()} '{id}' for revision '{revision}'.");
            commits = [commit];
        }
        var checks = new List<CachedFileCheck>();
        var downloaded = DownloadedFiles(layout.RepoFolder, type, id);
        foreach (var commit in commits.Order(StringComparer.Ordinal))
        {
            var snapshot = Path.Combine(snapshotsFolder, commit);
            var tree = layout.LoadTree(commit)?.ToDictionary(f => f.Path, StringComparer.Ordinal);
            if (tree is not null)
            {
                // The listing names every file of the commit, downloaded or not (a download may select a few): a listed
                // file the snapshot lacks is missing only when hfdl's journal records it as downloaded with that hash
                // for this very commit (another revision that has the same file may have been downloaded in full).
                foreach (var listed in tree.Values.Where(f => downloaded.GetValueOrDefault(f.Path) == (f.Etag, commit)).OrderBy(f => f.Path, StringComparer.Ordinal))
                {
                    var entry = Path.Combine(snapshot, listed.Path.Replace('/', Path.DirectorySeparatorChar));
                    if (!File.Exists(entry) && new FileInfo(entry).LinkTarget is null && !Directory.Exists(entry))
                    {
                        checks.Add(new CachedFileCheck(commit, listed.Path, Progress.VerifyStatus.Missing, "downloaded before and named by the cached listing, but not in the snapshot"));
                    }
                }
            }
            // Links are never walked through: a link to a folder (to '..' or '/') is one entry, not a tour of the disk.
            foreach (var info in SafeFileSystem.WalkWithoutFollowingLinks(snapshot).Where(e => e is FileInfo || e.LinkTarget is not null).OrderBy(e => e.FullName, StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(snapshot, info.FullName).Replace(Path.DirectorySeparatorChar, '/');
                string expectedHex;
                string data;
                if (info.LinkTarget is { } link)
                {
                    if (info is DirectoryInfo)
                    {
                        checks.Add(new CachedFileCheck(commit, relative, Progress.VerifyStatus.Corrupt, $"a link to a folder ({SafeText.Printable(link)}), where the cache links files to blobs; not followed"));
                        continue;
                    }
                    // The link's own target is the blob, named by the file's hash: a file in a blobs folder of a repo
                    // folder of this name (an absolute link may spell the cache root differently), itself no link.
                    var blob = new FileInfo(Path.GetFullPath(link, Path.GetDirectoryName(info.FullName)!));
                    if (blob.Directory is not { Name: "blobs", Parent: { } repoFolder } || repoFolder.Name != Path.GetFileName(layout.RepoFolder) || blob.LinkTarget is not null)
                    {
                        checks.Add(new CachedFileCheck(commit, relative, Progress.VerifyStatus.Corrupt, $"the link leads outside the repo's blobs ({SafeText.Printable(blob.LinkTarget ?? link)})"));
                        continue;
                    }
                    if (!blob.Exists)
                    {
                        checks.Add(new CachedFileCheck(commit, relative, Progress.VerifyStatus.Missing, $"the link points at a missing blob ({SafeText.Printable(link)})"));
                        continue;
                    }
                    expectedHex = blob.Name;
                    data = blob.FullName;
                }
                else if (tree?.GetValueOrDefault(relative) is { } listed)
                {
                    expectedHex = listed.Hash.Hex;
                    data = info.FullName;
                }
                else
                {
                    checks.Add(new CachedFileCheck(commit, relative, Progress.VerifyStatus.Extra, tree is null
                        ? "a copy with no cached listing to check it against"
                        : "not in the cached listing of this commit"));
                    continue;
                }
                if (!ContentHash.TryFromEtag(expectedHex, out var expected))
                {
                    checks.Add(new CachedFileCheck(commit, relative, Progress.VerifyStatus.Corrupt, $"its blob name '{SafeText.Printable(expectedHex)}' is not a hash hfdl can check"));
                    continue;
                }
                if (SafeFileSystem.IsSpecialFile(data))
                {
                    checks.Add(new CachedFileCheck(commit, relative, Progress.VerifyStatus.Corrupt, "not a regular file (a FIFO, a device or a socket); not read"));
                    continue;
                }
                var digest = await LocalHasher.HashFileAsync(data, expected, cancellationToken).ConfigureAwait(false);
                checks.Add(digest == expected.Hex
                    ? new CachedFileCheck(commit, relative, Progress.VerifyStatus.Ok, null)
                    : new CachedFileCheck(commit, relative, Progress.VerifyStatus.Corrupt, $"{(expected.Kind == HashKind.Sha256 ? "sha256" : "git sha1")} {digest}, expected {expected.Hex}"));
            }
        }
        return checks;
    }

    /// <summary>
    /// True when every snapshot <see cref="VerifyAsync"/> checks (all, or the revision's) has a cached listing that
    /// names no file: a repo with no file at all, whose empty snapshot is complete as it is.
    /// </summary>
    public static bool ListingsAreEmpty(string cacheRoot, RepoType type, RepoId id, string? revision)
    {
        var layout = new HfCacheLayout(cacheRoot, type, id);
        var snapshotsFolder = Path.Combine(layout.RepoFolder, "snapshots");
        if (!Directory.Exists(snapshotsFolder))
        {
            return false;
        }
        List<string?> commits = revision is null
            ? [.. Directory.GetDirectories(snapshotsFolder).Select(Path.GetFileName)]
            : [layout.LocalCommit(CacheCleaner.CommitInLowerCase(revision))];
        return commits.Count > 0 && commits.All(c => c is not null && layout.LoadTree(c) is { Count: 0 });
    }

    /// <summary>
    /// path → (etag, commit) of the files hfdl's journal records as downloaded into the repo folder (none without a
    /// usable journal). A file with no commit in its record matches no snapshot.
    /// </summary>
    private static Dictionary<string, (string Etag, string? Commit)> DownloadedFiles(string repoFolder, RepoType type, RepoId id)
    {
        try
        {
            return DownloadStateStore.Open(repoFolder, type, id, TimeProvider.System, readOnly: true).Current.Files
                .Where(f => f.Value.Status == FileState.Complete && f.Value.Commit is not null)
                .ToDictionary(f => f.Key, f => (f.Value.Etag, f.Value.Commit), StringComparer.Ordinal);
        }
        catch (HfdlException)
        {
            return []; // A folder where the journal belongs: nothing is known to have been downloaded.
        }
    }
}
