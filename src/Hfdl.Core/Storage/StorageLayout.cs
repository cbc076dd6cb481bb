using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Storage;

/// <summary>Which on-disk layout a download writes.</summary>
public enum LayoutKind
{
    /// <summary>Plain files in a folder (the seed's <c>downloads/org/name</c>, or <c>--local-dir</c>), with huggingface_hub's local-dir metadata.</summary>
    Folder,

    /// <summary>The Hugging Face cache (<c>~/.cache/huggingface/hub</c>) that transformers and friends read.</summary>
    HfCache,
}

/// <summary>
/// Where verified bytes go and what else must be written so other tools find them. The engine writes each file's
/// bytes to <see cref="DataPath"/> (temporary name beside it, then an atomic rename) and then calls
/// <see cref="Place"/>.
/// </summary>
internal abstract class StorageLayout
{
    public static StorageLayout Create(LayoutKind kind, string path, RepoType type, RepoId id, bool disableSymlinks = false) => kind switch
    {
        LayoutKind.HfCache => new HfCacheLayout(path, type, id, disableSymlinks),
        _ => new FolderLayout(path, type, id),
    };

    /// <summary>Hears what the user should know and that does not stop the run (files copied instead of linked, metadata not written).</summary>
    public Action<string>? OnWarning { get; set; }

    /// <summary>Which layout this is.</summary>
    public abstract LayoutKind Kind { get; }

    /// <summary>The folder holding hfdl's journal and lock for this repo.</summary>
    public abstract string JournalFolder { get; }

    /// <summary>
    /// The folder the user chose (<c>--local-dir</c>, the cache root). It and the folders above it may be links (the
    /// user's choice); below it hfdl refuses to write through any (<see cref="SafeFileSystem"/>).
    /// </summary>
    protected abstract string TrustedRoot { get; }

    /// <summary>The files and folders of hfdl's own bookkeeping that a link must not replace, checked by <see cref="CheckForLinks"/>.</summary>
    protected abstract IEnumerable<string> OwnPaths { get; }

    /// <summary>
    /// Refuses to start when a folder or file that hfdl writes for itself (lock, metadata, tree cache, the cache's
    /// blobs/snapshots/refs) is a link: one clear error before anything is fetched. Each write checks again.
    /// </summary>
    public void CheckForLinks()
    {
        foreach (var path in OwnPaths)
        {
            SafeFileSystem.CheckNoLinks(TrustedRoot, path);
        }
    }

    /// <summary>Where the verified bytes of <paramref name="file"/> are stored. Files with the same content may share it.</summary>
    public abstract string DataPath(RemoteFile file);

    /// <summary>Where a user (or transformers) finds the file.</summary>
    public abstract string UserPath(RemoteFile file, string commit);

    /// <summary>The folder to hand to <c>from_pretrained</c>.</summary>
    public abstract string ResultFolder(string commit);

    /// <summary>The folders <see cref="DataPath"/> and <see cref="UserPath"/> name files in, for a plan at <paramref name="commit"/>.</summary>
    public abstract Planning.PlanRoots PlanRoots(string commit);

    /// <summary>
    /// True when data already at <see cref="DataPath"/> with the right size is trusted without hashing: the HF cache
    /// only ever holds blobs renamed into place after a check, and is named by content.
    /// </summary>
    public virtual bool TrustsPresentData => false;

    /// <summary>Records that <paramref name="revision"/> is <paramref name="commit"/> (the cache's <c>refs/</c>).</summary>
    public virtual void RecordRevision(string revision, string commit)
    {
    }

    /// <summary>
    /// Deletes what a process killed while it wrote one of hfdl's records (the journal, the lock's record, a cached
    /// listing, metadata, a ref) left: a temporary file of the record's name. Call it only while holding the folder's
    /// lock, so that no other hfdl is writing one.
    /// </summary>
    public virtual void RemoveStaleRecordTemporaryFiles()
    {
        AtomicFile.RemoveStaleTemporaryFiles(JournalFolder, [DownloadState.FileName, RepoFolderLock.InfoFileName]);
        AtomicFile.RemoveStaleTemporaryFiles(Path.Combine(TreeCacheFolder, "trees"));
    }

    /// <summary>Makes a verified file visible where other tools look for it.</summary>
    public virtual void Place(RemoteFile file, string commit)
    {
    }

    /// <summary>
    /// The etags the cached listings of the revisions this layout names (the HF cache's refs) list: data other
    /// revisions still want. None in a folder, which holds one revision at a time.
    /// </summary>
    public virtual IReadOnlySet<string> EtagsOfNamedRevisions() => new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// The layout holds <paramref name="commit"/> as a revision of its own beside the one a run completes (the HF
    /// cache: its snapshot folder or cached listing), so that revision may still resume its partial files. Never in a
    /// folder, which holds one revision at a time.
    /// </summary>
    public virtual bool HoldsRevision(string commit) => false;

    /// <summary>
    /// The content <paramref name="etag"/> names is already stored whole, shared by every path that has it (the HF
    /// cache's blob, which gets its name only once verified): a partial transfer of it is of no use any more.
    /// </summary>
    public virtual bool HasCompleteBlob(string etag, long size) => false;

    /// <summary>
    /// Makes sure <see cref="ResultFolder"/> exists once a run succeeded: placing a file creates it, but a revision with
    /// no file (an empty repo) places none, and its printed folder must still be there.
    /// </summary>
    public virtual void CompleteResult(string commit)
    {
    }

    /// <summary>Records that <paramref name="path"/> does not exist at <paramref name="commit"/> (the cache's <c>.no_exist/</c>).</summary>
    public virtual void RecordMissing(string path, string commit)
    {
    }

    /// <summary>The commit a revision means locally, for offline use; null when unknown.</summary>
    public abstract string? LocalCommit(string revision);

    /// <summary>
    /// For a message when <see cref="LocalCommit"/> knows nothing of a revision: the one a layout that records a
    /// single revision (a folder's journal) last downloaded, as <c>revision 'main' (commit ...)</c>; null otherwise.
    /// </summary>
    public virtual string? LastRecorded() => null;

    /// <summary>
    /// Offline, when no listing of <paramref name="commit"/> is cached: the files the layout holds for it, as far as it
    /// can tell what they are (null when it cannot tell anything).
    /// </summary>
    /// <param name="commit">The commit whose files are looked for.</param>
    /// <param name="unusable">Paths of the snapshot that cannot be used (a dangling link, a link elsewhere, a FIFO blob).</param>
    public virtual IReadOnlyList<RemoteFile>? ListHeld(string commit, out IReadOnlyList<string> unusable)
    {
        unusable = [];
        return null;
    }

    /// <summary>Whether an earlier run recorded that <paramref name="path"/> does not exist at <paramref name="commit"/>.</summary>
    public virtual bool IsRecordedMissing(string path, string commit) => false;

    /// <summary>
    /// Where huggingface_hub keeps its partial download of <paramref name="file"/> (an interrupted <c>hf download</c>,
    /// which it resumes with a Range request), and the lock file it holds (an flock) while writing it; null when the
    /// layout has none.
    /// </summary>
    protected virtual (string Incomplete, string Lock)? HfPartialPaths(RemoteFile file) => null;

    /// <summary>
    /// The length of huggingface_hub's partial download of <paramref name="file"/> when this run can take it over (a
    /// regular file, shorter than the file, not being written by a huggingface_hub that holds its lock), else null.
    /// </summary>
    public long? HfPartialLength(RemoteFile file) => HfPartialLength(file, checkLock: true);

    private long? HfPartialLength(RemoteFile file, bool checkLock)
    {
        try
        {
            if (HfPartialPaths(file) is not var (incomplete, lockPath))
            {
                return null;
            }
            var info = new FileInfo(incomplete);
            if (!info.Exists || info.LinkTarget is not null || SafeFileSystem.IsSpecialFile(info.FullName) || info.Length <= 0 || info.Length >= file.Size)
            {
                return null;
            }
            if (checkLock)
            {
                // A huggingface_hub still writing it keeps it: the plan must not promise what the run will not take.
                using var probe = LockHfPartial(lockPath);
            }
            return info.Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HfdlException)
        {
            return null; // held by huggingface_hub, or a link on the way (RepoLayout.FilePath): not taken
        }
    }

    /// <summary>Takes huggingface_hub's lock (an flock; .NET takes one for FileShare.None), when its lock file exists.</summary>
    private static FileStream? LockHfPartial(string lockPath) =>
        File.Exists(lockPath) && SafeFileSystem.LinkTarget(lockPath) is null && !SafeFileSystem.IsSpecialFile(lockPath)
            ? new FileStream(lockPath, FileMode.Open, FileAccess.Read, FileShare.None)
            : null;

    /// <summary>
    /// Takes over huggingface_hub's partial download of <paramref name="file"/> (<see cref="HfPartialLength(RemoteFile)"/>)
    /// as this run's temporary file beside <paramref name="dataPath"/>, so its bytes are not fetched again; the file's
    /// hash still decides. Not while huggingface_hub holds its lock: that process is still writing it. Null when
    /// nothing is taken over.
    /// </summary>
    public (string TempPath, List<(long Start, long End)> Ranges)? TakeOverHfPartial(RemoteFile file, string dataPath)
    {
        if (HfPartialLength(file, checkLock: false) is null || HfPartialPaths(file) is not var (incomplete, lockPath))
        {
            return null;
        }
        FileStream? held = null;
        try
        {
            held = LockHfPartial(lockPath);
            // Read again under the lock: huggingface_hub may have finished (and renamed it) meanwhile.
            if (HfPartialLength(file, checkLock: false) is not { } length)
            {
                return null;
            }
            var temp = Transfer.FileFetcher.NewTempPath(dataPath);
            // hf download may have stopped before it made the file's folder (tokenizer/ of tokenizer/vocab.txt).
            SafeFileSystem.CreateFolderFor(Path.GetDirectoryName(temp)!);
            File.Move(incomplete, temp);
            return (temp, [(0, length)]);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HfdlException)
        {
            return null; // Held by huggingface_hub, gone, or a file where its folder goes: this run downloads the file itself (and says so).
        }
        finally
        {
            held?.Dispose();
        }
    }

    /// <summary>True when the file is where users find it, with its size.</summary>
    public virtual bool IsPlaced(RemoteFile file, string commit) =>
        new FileInfo(UserPath(file, commit)) is { Exists: true } info && info.Length == file.Size;

    /// <summary>Folder holding <c>trees/&lt;commit&gt;.json</c>, huggingface_hub's cached listing of a commit.</summary>
    protected abstract string TreeCacheFolder { get; }

    /// <summary>
    /// Saves the listing of a commit in huggingface_hub's tree-cache format, so offline runs (of hfdl and of
    /// huggingface_hub) know whether a snapshot is complete. A listing with redacted Xet hashes is not cached, as
    /// huggingface_hub does.
    /// </summary>
    public void SaveTree(string commit, IReadOnlyList<RemoteFile> files)
    {
        if (files.Any(f => f.XetRedacted))
        {
            return;
        }
        var entries = new JsonObject();
        foreach (var file in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var info = new JsonObject { ["size"] = file.Size, ["blob_id"] = file.GitOid ?? (file.IsLfs ? null : file.Hash.Hex) };
            if (file.IsLfs)
            {
                info["lfs_sha256"] = file.Hash.Hex;
                info["lfs_size"] = file.Size;
            }
            if (file.XetHash is not null)
            {
                info["xet_hash"] = file.XetHash;
            }
            entries[file.Path] = info;
        }
        var document = new JsonObject { ["format_version"] = 1, ["files"] = entries };
        try
        {
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                document.WriteTo(writer);
            }
            AtomicFile.WriteAllBytes(TrustedRoot, Path.Combine(TreeCacheFolder, "trees", commit + ".json"), buffer.ToArray());
        }
        catch (IOException ex)
        {
            // Only an aid for offline use: a failure to write it must not fail a download.
            MetadataNotWritten(ex, listing: true);
        }
    }

    /// <summary>huggingface_hub's metadata (a cached listing, a file's download record) could not be written.</summary>
    /// <param name="problem">What went wrong.</param>
    /// <param name="listing">The cached listing (which offline runs need), not one file's download record.</param>
    protected virtual void MetadataNotWritten(IOException problem, bool listing)
    {
    }

    /// <summary>Reads a cached listing; null when missing, of another format, or unreadable.</summary>
    public IReadOnlyList<RemoteFile>? LoadTree(string commit) => LoadTree(TreeCacheFolder, commit);

    /// <summary>Reads <c>trees/&lt;commit&gt;.json</c> under <paramref name="treeCacheFolder"/> (see <see cref="LoadTree(string)"/>).</summary>
    internal static IReadOnlyList<RemoteFile>? LoadTree(string treeCacheFolder, string commit)
    {
        var path = Path.Combine(treeCacheFolder, "trees", commit + ".json");
        try
        {
            if (!File.Exists(path) || JsonNode.Parse(SafeFileSystem.ReadRegularFile(path)) is not JsonObject root
                || root["format_version"]?.GetValue<int>() != 1 || root["files"] is not JsonObject files)
            {
                return null;
            }
            var result = new List<RemoteFile>();
            foreach (var (name, node) in files)
            {
                if (node is not JsonObject info || name.Length == 0)
                {
                    return null;
                }
                var size = info["size"]?.GetValue<long>() ?? -1;
                var blobId = info["blob_id"]?.GetValue<string>();
                var lfs = info["lfs_sha256"]?.GetValue<string>();
                if (!Integrity.ContentHash.TryFromEtag(lfs ?? blobId, out var hash) || size < 0)
                {
                    return null;
                }
                // A name hfdl will not write stays in the listing as the Hub's listing keeps it: marked, refused if selected.
                result.Add(new RemoteFile(name, size, hash, lfs is not null) { GitOid = blobId, XetHash = info["xet_hash"]?.GetValue<string>(), WriteProblem = RemoteFile.WriteProblemOf(name) });
            }
            return result;
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidOperationException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>
/// Files in a folder, and huggingface_hub's local-dir metadata beside them
/// (<c>.cache/huggingface/download/&lt;path&gt;.metadata</c>: commit, etag, timestamp), so <c>hf download --local-dir</c>
/// on the same folder sees the files as up to date.
/// </summary>
internal sealed class FolderLayout(string root, RepoType type, RepoId id) : StorageLayout
{
    public string Root { get; } = Path.GetFullPath(root);

    public override LayoutKind Kind => LayoutKind.Folder;

    public override string JournalFolder => Root;

    protected override string TrustedRoot => Root;

    protected override string TreeCacheFolder => MetadataFolder;

    /// <summary>huggingface_hub's <c>.cache/huggingface</c> folder (repo paths below it are refused by RepoFilePath).</summary>
    private string MetadataFolder => Path.Combine(Root, ".cache", "huggingface");

    public override void RemoveStaleRecordTemporaryFiles()
    {
        base.RemoveStaleRecordTemporaryFiles();
        AtomicFile.RemoveStaleTemporaryFiles(Path.Combine(MetadataFolder, "download"), recursive: true);
    }

    protected override IEnumerable<string> OwnPaths =>
    [
        Path.Combine(Root, RepoFolderLock.FileName),
        Path.Combine(MetadataFolder, ".gitignore"),
        Path.Combine(MetadataFolder, "download"),
        Path.Combine(MetadataFolder, "trees"),
    ];

    public override string DataPath(RemoteFile file) => RepoLayout.FilePath(Root, file.Path);

    public override string UserPath(RemoteFile file, string commit) => DataPath(file);

    public override string ResultFolder(string commit) => Root;

    public override Planning.PlanRoots PlanRoots(string commit) => new(Root, Root, DataByEtag: false);

    public override void Place(RemoteFile file, string commit)
    {
        try
        {
            SafeFileSystem.CreateFileIfMissing(Root, Path.Combine(MetadataFolder, ".gitignore"), "*"u8);
            // As huggingface_hub's _huggingface_dir does: backup tools that honour the tag skip the metadata.
            SafeFileSystem.CreateFileIfMissing(Root, Path.Combine(MetadataFolder, "CACHEDIR.TAG"), System.Text.Encoding.ASCII.GetBytes(HfCacheLayout.CacheDirTag), leaveLinkAlone: true);
            var metadata = Path.Combine(MetadataFolder, "download", file.Path.Replace('/', Path.DirectorySeparatorChar) + ".metadata");
            var timestamp = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000###", CultureInfo.InvariantCulture);
            // Not flushed: a hint that is validated when read (huggingface_hub and hfdl both fall back to hashing the
            // file when it is missing or unreadable), written for every file; an fsync each cost 1500 journal commits
            // on a 1500-file repo.
            AtomicFile.WriteAllBytes(Root, metadata, System.Text.Encoding.UTF8.GetBytes($"{commit}\n{file.Etag}\n{timestamp}\n"), durable: false);
        }
        catch (IOException ex)
        {
            // The metadata only helps huggingface_hub skip a hash; the file itself is in place and verified.
            MetadataNotWritten(ex, listing: false);
        }
    }

    private int _metadataWarned;

    /// <summary>
    /// Said once per run: a <c>.cache/huggingface</c> that is a file (or a full or read-only disk there) would otherwise
    /// make every file's metadata, and the cached listing offline runs need, go missing without a word.
    /// </summary>
    protected override void MetadataNotWritten(IOException problem, bool listing)
    {
        if (Interlocked.Exchange(ref _metadataWarned, 1) == 0)
        {
            OnWarning?.Invoke(listing
                ? $"huggingface_hub's download metadata cannot be written in {MetadataFolder} ({problem.Message}); the files are in place and verified, but huggingface_hub will hash them again, and offline runs cannot find this download's listing."
                : $"huggingface_hub's download metadata cannot be written in {MetadataFolder} ({problem.Message}); the files are in place and verified, but huggingface_hub will hash the files it has no metadata for again.");
        }
    }

    /// <summary>
    /// huggingface_hub's partial download in a local dir (<c>.cache/huggingface/download/&lt;path&gt;.&lt;etag&gt;.incomplete</c>,
    /// its <c>LocalDownloadFilePaths.incomplete_path</c>) and the lock it holds meanwhile (<c>&lt;path&gt;.lock</c> there).
    /// No link on the way is followed (RepoLayout.FilePath).
    /// </summary>
    protected override (string Incomplete, string Lock)? HfPartialPaths(RemoteFile file)
    {
        var download = ".cache/huggingface/download/" + file.Path;
        return (RepoLayout.FilePath(Root, $"{download}.{file.Etag}.incomplete"), RepoLayout.FilePath(Root, download + ".lock"));
    }

    /// <summary>Reads huggingface_hub's metadata of a file: (commit, etag), if present and not older than the file.</summary>
    public (string Commit, string Etag)? ReadMetadata(string repoPath)
    {
        var metadata = Path.Combine(MetadataFolder, "download", repoPath.Replace('/', Path.DirectorySeparatorChar) + ".metadata");
        try
        {
            var lines = System.Text.Encoding.UTF8.GetString(SafeFileSystem.ReadRegularFile(metadata)).Split('\n');
            if (lines.Length < 3 || !double.TryParse(lines[2].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var timestamp))
            {
                return null;
            }
            var file = new FileInfo(Path.Combine(Root, repoPath));
            if (!file.Exists || new DateTimeOffset(file.LastWriteTimeUtc).ToUnixTimeMilliseconds() / 1000.0 - 1 > timestamp)
            {
                return null;
            }
            return (lines[0].Trim(), lines[1].Trim());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public override string? LastRecorded()
    {
        try
        {
            var path = Path.Combine(Root, DownloadState.FileName);
            if (!File.Exists(path) || JsonNode.Parse(SafeFileSystem.ReadRegularFile(path)) is not JsonObject state
                || state["repoType"]?.GetValue<string>() != type.Name() || !string.Equals(state["repoId"]?.GetValue<string>(), id.Value, StringComparison.OrdinalIgnoreCase)
                || state["commit"]?.GetValue<string>() is not { } commit || !Transfer.RepoDownloader.IsCommit(commit))
            {
                return null;
            }
            return state["revision"]?.GetValue<string>() is { } revision && revision != commit
                ? $"revision '{SafeText.Printable(revision)}' (commit {commit})"
                : $"commit {commit}";
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    public override string? LocalCommit(string revision)
    {
        try
        {
            var path = Path.Combine(Root, DownloadState.FileName);
            if (!File.Exists(path) || JsonNode.Parse(SafeFileSystem.ReadRegularFile(path)) is not JsonObject state)
            {
                return null;
            }
            // Another repo's journal (a folder reused for another repo, or a dataset of the same name) says nothing
            // of this one: the online path sets it aside, and offline it must not pass that repo's files off as these.
            if (state["repoType"]?.GetValue<string>() != type.Name() || !string.Equals(state["repoId"]?.GetValue<string>(), id.Value, StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }
            var commit = state["commit"]?.GetValue<string>();
            if (commit is not null && (state["revision"]?.GetValue<string>() == revision || commit == revision))
            {
                return commit;
            }
            // An earlier revision downloaded here, asked for by its commit id: its cached listing says what it holds
            // (as the HF cache answers a commit id from its snapshot, with no ref). A branch or tag name is not
            // recorded anywhere but in the journal, which has only the last one.
            return Transfer.RepoDownloader.IsCommit(revision) && LoadTree(revision) is not null ? revision : null;
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>
/// The Hugging Face cache layout (hub-api.md §7.1): <c>{type}s--owner--name/</c> with <c>blobs/&lt;etag&gt;</c>,
/// <c>snapshots/&lt;commit&gt;/&lt;path&gt;</c> as relative symlinks into <c>blobs/</c>, <c>refs/&lt;revision&gt;</c>,
/// <c>.no_exist/&lt;commit&gt;/&lt;path&gt;</c>, and <c>CACHEDIR.TAG</c> at the root.
/// </summary>
internal sealed class HfCacheLayout : StorageLayout
{
    /// <summary>The suffix of the temporary copies made into snapshots when links cannot be made.</summary>
    internal const string CopySuffix = ".hfdl-copy";

    internal const string CacheDirTag = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by huggingface_hub.\n# For information about cache directory tags, see:\n#\thttps://bford.info/cachedir/\n";
    private readonly bool _disableSymlinks;
    private int _symlinkWarning;

    public HfCacheLayout(string cacheRoot, RepoType type, RepoId id, bool disableSymlinks = false)
    {
        CacheRoot = Path.GetFullPath(cacheRoot);
        RepoFolder = Path.Combine(CacheRoot, FolderName(type, id));
        _disableSymlinks = disableSymlinks;
    }

    public string CacheRoot { get; }

    public string RepoFolder { get; }

    public static string FolderName(RepoType type, RepoId id) => $"{type.ApiSegment()}--{id.Value.Replace("/", "--", StringComparison.Ordinal)}";

    public override LayoutKind Kind => LayoutKind.HfCache;

    public override string JournalFolder => RepoFolder;

    protected override string TrustedRoot => CacheRoot;

    protected override string TreeCacheFolder => RepoFolder;

    protected override IEnumerable<string> OwnPaths =>
    [
        Path.Combine(RepoFolder, RepoFolderLock.FileName),
        Path.Combine(RepoFolder, "blobs"),
        Path.Combine(RepoFolder, "snapshots"),
        Path.Combine(RepoFolder, "refs"),
        Path.Combine(RepoFolder, ".no_exist"),
        Path.Combine(RepoFolder, "trees"),
    ];

    public override bool TrustsPresentData => true;

    public override void RemoveStaleRecordTemporaryFiles()
    {
        base.RemoveStaleRecordTemporaryFiles();
        AtomicFile.RemoveStaleTemporaryFiles(Path.Combine(RepoFolder, "refs"), recursive: true);
    }

    /// <summary>The blob; a link in its place (hfdl never makes one) or on the way is refused.</summary>
    public override string DataPath(RemoteFile file)
    {
        var blob = Path.Combine(RepoFolder, "blobs", file.Etag);
        SafeFileSystem.CheckNoLinks(CacheRoot, blob);
        return blob;
    }

    /// <summary>The snapshot's pointer: the pointer itself may be a link (hfdl's own, replaced when wrong), the folders on the way may not.</summary>
    public override string UserPath(RemoteFile file, string commit)
    {
        SafeFileSystem.CheckNoLinks(CacheRoot, SnapshotFolder(commit));
        return RepoLayout.FilePath(SnapshotFolder(commit), file.Path, allowLinkAtEnd: true);
    }

    public override string ResultFolder(string commit) => SnapshotFolder(commit);

    public override Planning.PlanRoots PlanRoots(string commit) => new(Path.Combine(RepoFolder, "blobs"), SnapshotFolder(commit), DataByEtag: true);

    private string SnapshotFolder(string commit) => Path.Combine(RepoFolder, "snapshots", commit);

    public override bool HasCompleteBlob(string etag, long size) =>
        etag.Length is 40 or 64 && etag.All(char.IsAsciiHexDigitLower)
        && new FileInfo(Path.Combine(RepoFolder, "blobs", etag)) is { Exists: true, LinkTarget: null } blob && blob.Length == size;

    public override bool HoldsRevision(string commit) =>
        Transfer.RepoDownloader.IsCommit(commit)
        && (Directory.Exists(SnapshotFolder(commit)) || File.Exists(Path.Combine(RepoFolder, "trees", commit + ".json")));

    public override IReadOnlySet<string> EtagsOfNamedRevisions()
    {
        var etags = new HashSet<string>(StringComparer.Ordinal);
        var refs = Path.Combine(RepoFolder, "refs");
        if (!Directory.Exists(refs))
        {
            return etags;
        }
        var commits = SafeFileSystem.WalkWithoutFollowingLinks(refs).OfType<FileInfo>()
            .Select(f => SafeFileSystem.ReadRef(f.FullName, out _)).OfType<string>().ToHashSet(StringComparer.Ordinal);
        foreach (var commit in commits)
        {
            etags.UnionWith(LoadTree(commit)?.Select(f => f.Etag) ?? []);
        }
        return etags;
    }

    /// <summary>An empty revision gets an empty <c>snapshots/&lt;commit&gt;/</c>, so its ref names a snapshot, as for any other.</summary>
    public override void CompleteResult(string commit)
    {
        SafeFileSystem.CheckNoLinks(CacheRoot, SnapshotFolder(commit));
        Directory.CreateDirectory(SnapshotFolder(commit));
    }

    public override void RecordRevision(string revision, string commit)
    {
        try
        {
            // Shared by every tool that uses the cache and only a hint for backup tools: whatever is there already,
            // a link included, is left as it is (and never written through).
            SafeFileSystem.CreateFileIfMissing(CacheRoot, Path.Combine(CacheRoot, "CACHEDIR.TAG"), System.Text.Encoding.ASCII.GetBytes(CacheDirTag), leaveLinkAlone: true);
        }
        catch (IOException)
        {
            // Only a hint for backup tools.
        }
        if (revision != commit)
        {
            // refs/pr/1 nests, like git; the content is the commit, without a newline.
            AtomicFile.WriteAllBytes(CacheRoot, RepoLayout.RefPath(Path.Combine(RepoFolder, "refs"), revision, commit), System.Text.Encoding.ASCII.GetBytes(commit));
        }
    }

    /// <summary>huggingface_hub's partial blob (<c>blobs/&lt;etag&gt;.incomplete</c>) and its lock (<c>.locks/&lt;repo folder&gt;/&lt;etag&gt;.lock</c>).</summary>
    protected override (string Incomplete, string Lock)? HfPartialPaths(RemoteFile file) =>
        (DataPath(file) + ".incomplete", Path.Combine(CacheRoot, ".locks", Path.GetFileName(RepoFolder), file.Etag + ".lock"));

    public override bool IsRecordedMissing(string path, string commit)
    {
        try
        {
            return File.Exists(RepoLayout.FilePath(Path.Combine(RepoFolder, ".no_exist", commit), path));
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or LinkInTargetException)
        {
            return false;
        }
    }

    /// <summary>
    /// huggingface_hub's own downloads (<c>hf_hub_download</c>, transformers) cache no listing: offline, it goes from the
    /// ref to the snapshot and takes what is there. So does this: every link of the snapshot into this repo's
    /// <c>blobs/</c> is a file, its hash the blob's name (sha256 for an LFS file, the git blob id otherwise), its size
    /// the blob's. Anything else in the snapshot (a copy with no blob, a link elsewhere) is left out: nothing says what
    /// it should hold.
    /// </summary>
    public override IReadOnlyList<RemoteFile>? ListHeld(string commit, out IReadOnlyList<string> unusable)
    {
        var snapshot = SnapshotFolder(commit);
        var blobs = Path.Combine(RepoFolder, "blobs");
        var bad = new List<string>();
        unusable = bad;
        try
        {
            if (SafeFileSystem.LinkTarget(RepoFolder) is not null || SafeFileSystem.LinkTarget(snapshot) is not null || !Directory.Exists(snapshot))
            {
                return null;
            }
            var held = new List<RemoteFile>();
            foreach (var entry in SafeFileSystem.WalkWithoutFollowingLinks(snapshot))
            {
                if (entry.LinkTarget is null)
                {
                    continue; // A folder, or a copy with no blob (made the blob again by a run with the network).
                }
                var relative = Path.GetRelativePath(snapshot, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (!RepoFilePath.TryValidate(relative, out _))
                {
                    continue;
                }
                // Only a link to a regular file of this repo's blobs/, named by its hash, says what a file holds. Any
                // other link (dangling, elsewhere, to a folder, to a FIFO) is a file of the snapshot that cannot be used.
                if (entry is not FileInfo link
                    || link.ResolveLinkTarget(returnFinalTarget: true) is not FileInfo { Exists: true } blob
                    || !string.Equals(blob.DirectoryName, blobs, StringComparison.Ordinal)
                    || SafeFileSystem.IsSpecialFile(blob.FullName)
                    || !Integrity.ContentHash.TryFromEtag(blob.Name, out var hash)
                    || !string.Equals(hash.Hex, blob.Name, StringComparison.Ordinal))
                {
                    bad.Add(relative);
                    continue;
                }
                held.Add(new RemoteFile(relative, blob.Length, hash, IsLfs: hash.Kind == Integrity.HashKind.Sha256));
            }
            held.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
            bad.Sort(StringComparer.Ordinal);
            return held;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public override void RecordMissing(string path, string commit)
    {
        var marker = RepoLayout.FilePath(Path.Combine(RepoFolder, ".no_exist", commit), path);
        SafeFileSystem.CreateFileIfMissing(CacheRoot, marker, []);
    }

    public override void Place(RemoteFile file, string commit)
    {
        var pointer = UserPath(file, commit);
        SafeFileSystem.CreateDirectory(CacheRoot, Path.GetDirectoryName(pointer)!);
        var blob = DataPath(file);
        var existing = new FileInfo(pointer);
        if (existing.LinkTarget is { } target && Path.GetFullPath(target, Path.GetDirectoryName(pointer)!) == blob && File.Exists(blob))
        {
            return;
        }
        if (existing.Exists || existing.LinkTarget is not null)
        {
            File.Delete(pointer);
        }
        var relative = Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob);
        if (!_disableSymlinks)
        {
            try
            {
                File.CreateSymbolicLink(pointer, relative);
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                if (Interlocked.Exchange(ref _symlinkWarning, 1) == 0)
                {
                    OnWarning?.Invoke($"Symbolic links cannot be made in {CacheRoot} ({ex.Message}); files are copied into the snapshot instead, which takes more disk space.");
                }
            }
        }
        // Like huggingface_hub without symlinks: the snapshot holds a copy (atomic, via a temporary file). The
        // temporary name is new each time (a fixed 'x.hfdl-copy' was deleted first, and could be the repo's own file
        // of that name); the copy creates it with O_EXCL, so nothing is written through a link.
        var temp = TempNames.Beside(pointer, CopySuffix);
        try
        {
            File.Copy(blob, temp, overwrite: false);
            File.Move(temp, pointer, overwrite: true);
        }
        catch
        {
            AtomicFile.TryDelete(temp);
            throw;
        }
    }

    public override bool IsPlaced(RemoteFile file, string commit)
    {
        var pointer = new FileInfo(UserPath(file, commit));
        if (pointer.LinkTarget is not null)
        {
            var resolved = pointer.ResolveLinkTarget(returnFinalTarget: true);
            return resolved is FileInfo { Exists: true } blob && blob.Length == file.Size;
        }
        return pointer.Exists && pointer.Length == file.Size;
    }

    public override string? LocalCommit(string revision)
    {
        if (Transfer.RepoDownloader.IsCommit(revision))
        {
            return Directory.Exists(SnapshotFolder(revision)) ? revision : null;
        }
        try
        {
            var refPath = RepoLayout.RefPath(Path.Combine(RepoFolder, "refs"), revision, reading: true);
            return File.Exists(refPath) ? SafeFileSystem.ReadRef(refPath, out _) : null;
        }
        catch (Exception ex) when (ex is IOException or UnsafeRevisionNameException or LinkInTargetException)
        {
            return null;
        }
    }
}
