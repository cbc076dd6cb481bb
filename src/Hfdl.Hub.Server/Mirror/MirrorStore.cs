using System.Collections.Concurrent;
using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;

namespace Hfdl.Hub.Mirror;

/// <summary>A repository as the mirror keys it: its type and its id as clients spell it (the cache folder's name).</summary>
internal sealed record MirrorRepo(RepoType Type, RepoId Id)
{
    public override string ToString() => $"{Type.Name()} {Id}";
}

/// <summary>
/// The mirror's store: a Hugging Face cache (hub-api.md §7.1) read as huggingface_hub and hfdl write it
/// (<c>{type}s--org--name/blobs/&lt;etag&gt;</c>, <c>snapshots/&lt;commit&gt;/&lt;path&gt;</c>, <c>refs/</c>,
/// <c>trees/&lt;commit&gt;.json</c>). A blob with the right size is stored content: blobs only ever get their name
/// after their hash was checked. As for <c>hfdl download</c>'s HF cache, a blob the journal (<c>.download_state</c>)
/// recorded as verified and that was modified since (another modification time) is hashed again before it is served,
/// once per change: if it no longer matches, it is not stored content (the mirror fetches it again, over it).
/// </summary>
internal sealed class MirrorStore
{
    private static readonly ILookup<string, (long Size, long MtimeTicks)> NoneVerified = Array.Empty<(string, long, long)>().ToLookup(e => e.Item1, e => (e.Item2, e.Item3));
    private readonly ConcurrentDictionary<(string Folder, string Commit), IReadOnlyDictionary<string, RemoteFile>> _listings = new();
    // What the mirror knows of a blob as it is now (size and modification time): stored content, or hashed and wrong.
    private readonly ConcurrentDictionary<string, (long Length, long MtimeTicks, bool Good)> _checked = new(StringComparer.Ordinal);
    // The journals' verified entries by etag, as last read (with the journal's write time and length then).
    private readonly ConcurrentDictionary<string, (DateTime WrittenAt, long Length, ILookup<string, (long Size, long MtimeTicks)> Verified)> _journals = new(StringComparer.Ordinal);
    private readonly Lock _hashingGate = new();
    private readonly Dictionary<string, Task<bool>> _hashing = new(StringComparer.Ordinal);
    private readonly MirrorLog? _log;

    public MirrorStore(string root, MirrorLog? log = null)
    {
        Root = Path.GetFullPath(root);
        _log = log;
    }

    public string Root { get; }

    public HfCacheLayout Layout(MirrorRepo repo) => new(Root, repo.Type, repo.Id);

    public string RepoFolder(MirrorRepo repo) => Path.Combine(Root, HfCacheLayout.FolderName(repo.Type, repo.Id));

    public string BlobPath(MirrorRepo repo, string etag) => Path.Combine(RepoFolder(repo), "blobs", etag);

    /// <summary>
    /// The blob of <paramref name="file"/> is there, a regular file of the right size, and unchanged since it was verified
    /// (or hashed again since it changed, and right). A blob changed since and not hashed again yet is not stored:
    /// <see cref="CheckAsync"/> hashes it.
    /// </summary>
    public bool IsStored(MirrorRepo repo, RemoteFile file) => Candidate(repo, file) is { } blob && Trust(repo, file, blob) == true;

    /// <summary>
    /// <see cref="IsStored"/>, after hashing the blob again when it was modified since it was verified (once per change,
    /// however many requests wait for it): a blob that no longer matches its hash is not stored content.
    /// </summary>
    public async Task<bool> CheckAsync(MirrorRepo repo, RemoteFile file, CancellationToken cancellationToken)
    {
        if (Candidate(repo, file) is not { } blob)
        {
            return false;
        }
        if (Trust(repo, file, blob) is { } known)
        {
            return known;
        }
        Task<bool> hashing;
        lock (_hashingGate)
        {
            if (!_hashing.TryGetValue(blob.FullName, out hashing!))
            {
                hashing = Task.Run(() => HashAgainAsync(repo, file, blob.FullName));
                _hashing[blob.FullName] = hashing;
            }
        }
        return await hashing.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A transfer just verified and stored <paramref name="blobPath"/>: stored content as it is now (the journal may not be saved yet).</summary>
    public void Verified(string blobPath)
    {
        var blob = new FileInfo(blobPath);
        if (blob.Exists)
        {
            Remember(blob.FullName, blob.Length, blob.LastWriteTimeUtc.Ticks, good: true);
        }
    }

    private FileInfo? Candidate(MirrorRepo repo, RemoteFile file) =>
        new FileInfo(BlobPath(repo, file.Etag)) is { Exists: true, LinkTarget: null } blob && blob.Length == file.Size ? blob : null;

    /// <summary>
    /// True for stored content, false for a blob hashed since it changed and found wrong, null for a blob the journal
    /// recorded as verified with another modification time (changed since; not hashed again yet). A blob no journal entry
    /// vouches for is trusted by its name, as huggingface_hub trusts it.
    /// </summary>
    private bool? Trust(MirrorRepo repo, RemoteFile file, FileInfo blob)
    {
        var mtime = blob.LastWriteTimeUtc.Ticks;
        if (_checked.TryGetValue(blob.FullName, out var known) && known.Length == blob.Length && known.MtimeTicks == mtime)
        {
            return known.Good;
        }
        var recorded = VerifiedEntries(repo)[file.Etag].Where(e => e.Size == file.Size).ToList();
        if (recorded.Count > 0 && recorded.All(e => e.MtimeTicks != mtime))
        {
            return null;
        }
        Remember(blob.FullName, blob.Length, mtime, good: true);
        return true;
    }

    private void Remember(string blobPath, long length, long mtimeTicks, bool good)
    {
        if (_checked.Count > 100_000)
        {
            _checked.Clear();
        }
        _checked[blobPath] = (length, mtimeTicks, good);
    }

    /// <summary>The journal's verified (complete) entries of a repo by etag: read again only when the journal was written since.</summary>
    private ILookup<string, (long Size, long MtimeTicks)> VerifiedEntries(MirrorRepo repo)
    {
        var folder = RepoFolder(repo);
        var journal = new FileInfo(Path.Combine(folder, DownloadState.FileName));
        if (!journal.Exists || journal.LinkTarget is not null)
        {
            return NoneVerified;
        }
        if (_journals.TryGetValue(folder, out var read) && read.WrittenAt == journal.LastWriteTimeUtc && read.Length == journal.Length)
        {
            return read.Verified;
        }
        ILookup<string, (long Size, long MtimeTicks)> verified;
        try
        {
            // Saved by renaming a new file over it: never read half-written. One that is not trusted vouches for nothing.
            verified = DownloadStateStore.Open(folder, repo.Type, repo.Id, TimeProvider.System, readOnly: true).Current.Files.Values
                .Where(f => f.Status == FileState.Complete)
                .ToLookup(f => f.Etag, f => (f.Size, f.MtimeTicks), StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HfdlException)
        {
            return NoneVerified;
        }
        if (_journals.Count > 10_000)
        {
            _journals.Clear();
        }
        _journals[folder] = (journal.LastWriteTimeUtc, journal.Length, verified);
        return verified;
    }

    /// <summary>Hashes a blob modified since it was verified; remembers the verdict unless it changed meanwhile.</summary>
    private async Task<bool> HashAgainAsync(MirrorRepo repo, RemoteFile file, string blobPath)
    {
        try
        {
            var before = new FileInfo(blobPath);
            string digest;
            try
            {
                digest = await LocalHasher.HashFileAsync(blobPath, file.Hash, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _log?.Write("warning", ("repo", repo.ToString()), ("message", $"The blob {file.Etag} ('{file.Path}') was modified after it was verified and could not be hashed again ({ex.Message}); it is not served."));
                return false;
            }
            var good = digest == file.Hash.Hex;
            var after = new FileInfo(blobPath);
            if (after.Exists && after.Length == before.Length && after.LastWriteTimeUtc == before.LastWriteTimeUtc)
            {
                Remember(blobPath, before.Length, before.LastWriteTimeUtc.Ticks, good);
            }
            _log?.Write(
                good ? "blob_verified" : "warning",
                ("repo", repo.ToString()),
                ("message", good
                    ? $"The blob {file.Etag} ('{file.Path}') was modified after it was verified; hashed again, it still matches."
                    : $"The blob {file.Etag} ('{file.Path}') was modified after it was verified and no longer matches its hash; it is not served, and is fetched again over it."));
            return good;
        }
        finally
        {
            lock (_hashingGate)
            {
                _hashing.Remove(blobPath);
            }
        }
    }

    /// <summary>
    /// What the store knows of <paramref name="path"/> at <paramref name="commit"/>: from the commit's cached listing,
    /// else from the snapshot's link into <c>blobs/</c>. Null when it knows nothing (the path may still exist upstream).
    /// </summary>
    public RemoteFile? FindFile(MirrorRepo repo, string commit, string path)
    {
        if (!RepoDownloader.IsCommit(commit) || !RepoFilePath.TryValidate(path, out _))
        {
            return null;
        }
        if (Listing(repo, commit) is { } listing)
        {
            return listing.GetValueOrDefault(path);
        }
        var entry = new FileInfo(Path.Combine(RepoFolder(repo), "snapshots", commit, path.Replace('/', Path.DirectorySeparatorChar)));
        if (entry.LinkTarget is { } target && Path.GetFileName(target) is var etag && ContentHash.TryFromEtag(etag, out var hash)
            && new FileInfo(BlobPath(repo, hash.Hex)) is { Exists: true, LinkTarget: null } blob)
        {
            return new RemoteFile(path, blob.Length, hash, hash.Kind == HashKind.Sha256);
        }
        return null;
    }

    /// <summary>The cached listing of a commit (<c>trees/&lt;commit&gt;.json</c>), by path; null when there is none.</summary>
    public IReadOnlyDictionary<string, RemoteFile>? Listing(MirrorRepo repo, string commit)
    {
        var folder = RepoFolder(repo);
        if (_listings.TryGetValue((folder, commit), out var known))
        {
            return known;
        }
        if (StorageLayout.LoadTree(folder, commit) is not { } files || files.Any(f => f.WriteProblem is not null))
        {
            return null;
        }
        var byPath = files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        if (_listings.Count > 1000)
        {
            _listings.Clear();
        }
        _listings[(folder, commit)] = byPath;
        return byPath;
    }

    /// <summary>The commit a branch or tag was last resolved to (<c>refs/</c>), for when the upstream cannot be asked.</summary>
    public string? StoredCommit(MirrorRepo repo, string revision) => Layout(repo).LocalCommit(revision);

    /// <summary>The store's repo folders, with the repo each one holds (folders of another shape are skipped).</summary>
    public IEnumerable<(MirrorRepo Repo, string Folder)> Repos()
    {
        if (!Directory.Exists(Root))
        {
            yield break;
        }
        foreach (var folder in Directory.EnumerateDirectories(Root))
        {
            if (ParseFolder(Path.GetFileName(folder)) is { } repo)
            {
                yield return (repo, folder);
            }
        }
    }

    /// <summary><c>models--org--name</c> to the model <c>org/name</c>; null for anything else.</summary>
    public static MirrorRepo? ParseFolder(string name)
    {
        var parts = name.Split("--");
        if (parts.Length is < 2 or > 3)
        {
            return null;
        }
        RepoType? type = parts[0] switch { "models" => RepoType.Model, "datasets" => RepoType.Dataset, "spaces" => RepoType.Space, _ => null };
        return type is { } known && RepoId.TryParse(string.Join('/', parts[1..]), out var id) ? new MirrorRepo(known, id) : null;
    }
}

/// <summary>
/// A file of the mirror as the server's handlers see it: its size and hash are known (from the upstream or the store's
/// records) without reading it; its bytes come from the stored blob, or from the upstream transfer that is filling it.
/// <paramref name="clientVerifiesWholeFile"/>: the client checks the whole file's hash itself (see
/// <see cref="MirrorHandler.ClientVerifiesWholeFile"/>), so its ranges of a transfer may end before the file is verified.
/// </summary>
internal sealed class MirrorContent(RemoteFile file, string blobPath, FetchRegistry? transfers, bool clientVerifiesWholeFile = false) : FileContent
{
    public override long Length => file.Size;

    public RemoteFile File => file;

    protected override string ComputeSha256() =>
        file.Hash.Kind == HashKind.Sha256 ? file.Hash.Hex : throw new InvalidOperationException($"'{file.Path}' is a regular git file: only its git sha1 is known.");

    protected override string ComputeGitSha1() =>
        file.Hash.Kind == HashKind.GitSha1 ? file.Hash.Hex : throw new InvalidOperationException($"'{file.Path}' is an LFS file: only its sha256 is known.");

    public override int ReadAt(long offset, Span<byte> destination)
    {
        using var handle = System.IO.File.OpenHandle(blobPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var limit = (int)Math.Min(destination.Length, Math.Max(0, file.Size - offset));
        return limit == 0 ? 0 : RandomAccess.Read(handle, destination[..limit], offset);
    }

    /// <summary>The transfer in flight for this blob, when there is one (a reader that follows it); else the blob.</summary>
    public override IContentReader OpenReader() => OpenReader(0, file.Size);

    /// <summary>
    /// A reader of the transfer in flight holds back the response's last byte until the whole file matched its hash, so
    /// that no response, a range included, ends looking complete with bytes the check may still reject; for a client
    /// that verifies the whole file itself, only the file's own last byte waits (its ranges complete as bytes land).
    /// </summary>
    public override IContentReader OpenReader(long start, long length) =>
        transfers?.Find(blobPath) is { } flight
            ? new FollowingReader(flight, heldByte: clientVerifiesWholeFile || length <= 0 ? file.Size - 1 : start + length - 1)
            : new HandleReader(System.IO.File.OpenHandle(blobPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous), file.Size);
}

/// <summary>
/// The store as the hub's own handler reads repositories (<see cref="IRepoStore"/>): what the mirror answers from
/// when the upstream cannot be reached, or with <c>--offline</c>. Refs are branches (or PRs), snapshots without a ref
/// are reached by their commit id; a commit's files come from its cached listing, else from its snapshot's links.
/// </summary>
internal sealed class StoredRepoStore(MirrorStore store, FetchRegistry? transfers) : IRepoStore
{
    private static readonly RepoSettings Settings = new() { ResolveMode = ResolveMode.Cache, Downloads = 0, Likes = 0 };
    private readonly ConcurrentDictionary<(string Folder, string Commit), RepoSnapshot> _snapshots = new();

    public HostedRepo? FindRepo(RepoType type, string repoId)
    {
        if (!RepoId.TryParse(repoId, out var id))
        {
            return null;
        }
        var repo = new MirrorRepo(type, id);
        var folder = store.RepoFolder(repo);
        if (!Directory.Exists(folder))
        {
            // Repo ids are case-insensitive on the Hub; the cache keeps the spelling a client used.
            var name = Path.GetFileName(folder);
            folder = Directory.Exists(store.Root)
                ? Directory.EnumerateDirectories(store.Root).FirstOrDefault(d => string.Equals(Path.GetFileName(d), name, StringComparison.OrdinalIgnoreCase)) ?? folder
                : folder;
            if (MirrorStore.ParseFolder(Path.GetFileName(folder)) is not { } found || !Directory.Exists(folder))
            {
                return null;
            }
            repo = found;
        }
        var revisions = new List<HostedRevision>();
        var refs = Path.Combine(folder, "refs");
        if (Directory.Exists(refs))
        {
            foreach (var file in Directory.EnumerateFiles(refs, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
            {
                var name = Path.GetRelativePath(refs, file).Replace(Path.DirectorySeparatorChar, '/');
                if (store.StoredCommit(repo, name) is { } commit && Snapshot(repo, folder, commit) is { } snapshot)
                {
                    revisions.Add(new HostedRevision(name, IsPseudoRef(name) ? RevisionKind.Detached : RepoBuilder.KindOf(name), snapshot));
                }
            }
        }
        var snapshots = Path.Combine(folder, "snapshots");
        if (Directory.Exists(snapshots))
        {
            foreach (var commit in Directory.EnumerateDirectories(snapshots).Select(Path.GetFileName).OfType<string>().Where(RepoDownloader.IsCommit))
            {
                if (revisions.All(r => r.Snapshot.KnownCommitId != commit) && Snapshot(repo, folder, commit) is { } snapshot)
                {
                    revisions.Add(new HostedRevision(commit, RevisionKind.Detached, snapshot));
                }
            }
        }
        return revisions.Count == 0 ? null : new HostedRepo(type, repo.Id.Value, Settings, revisions);
    }

    /// <summary>
    /// A ref huggingface_hub (and the mirror, like it) writes for any revision a client named that is not a full commit
    /// id: <c>HEAD</c>, or a short commit id. It still resolves, but is no branch, so <c>/refs</c> does not list it.
    /// </summary>
    private static bool IsPseudoRef(string name) =>
        name == "HEAD" || (name.Length is >= 4 and < 40 && name.All(char.IsAsciiHexDigitLower));

    /// <summary>The files of a commit: all of its listing when there is one (a file not stored then fails when asked for), else those its snapshot links.</summary>
    private RepoSnapshot? Snapshot(MirrorRepo repo, string folder, string commit)
    {
        if (_snapshots.TryGetValue((folder, commit), out var known))
        {
            return known;
        }
        IEnumerable<RemoteFile> files;
        DateTime date;
        var treeFile = Path.Combine(folder, "trees", commit + ".json");
        if (store.Listing(repo, commit) is { } listing)
        {
            files = listing.Values;
            date = System.IO.File.GetLastWriteTimeUtc(treeFile);
        }
        else
        {
            var root = Path.Combine(folder, "snapshots", commit);
            if (!Directory.Exists(root))
            {
                return null;
            }
            date = Directory.GetLastWriteTimeUtc(root);
            files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true })
                .Select(f => store.FindFile(repo, commit, Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')))
                .OfType<RemoteFile>()
                .ToList();
        }
        var snapshot = new RepoSnapshot(
            [.. files.Select(f => new RepoFile(f.Path, new MirrorContent(f, store.BlobPath(repo, f.Etag), transfers), f.IsLfs, ResolveMode.Cache))],
            commit,
            new DateTimeOffset(date.Ticks - (date.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero))
        {
            KnownCommitId = commit,
        };
        if (_snapshots.Count > 100)
        {
            _snapshots.Clear();
        }
        // A listing is final; a snapshot read from its links may gain files, so only listed ones are kept.
        if (store.Listing(repo, commit) is not null)
        {
            _snapshots[(folder, commit)] = snapshot;
        }
        return snapshot;
    }
}

/// <summary>One repository, made for one request: what the mirror learned of it from its upstream or its store.</summary>
internal sealed class SingleRepoStore(HostedRepo repo) : IRepoStore
{
    public HostedRepo? FindRepo(RepoType type, string repoId) =>
        type == repo.Type && string.Equals(repoId, repo.Id, StringComparison.OrdinalIgnoreCase) ? repo : null;
}

/// <summary>No repository: lets <see cref="RepoRoute.Parse"/> split a path by its keywords alone.</summary>
internal sealed class NoRepoStore : IRepoStore
{
    public static NoRepoStore Instance { get; } = new();

    public HostedRepo? FindRepo(RepoType type, string repoId) => null;
}
