using Hfdl.Core.Hub;

namespace Hfdl.Core.Transfer;

/// <summary>How the engine downloads. Immutable; every value has a documented default.</summary>
public sealed record DownloadOptions
{
    /// <summary>
    /// Parallel transfers: small files at once, and the most connections big files may use. Transfers wait on the
    /// network, not on a core (they are async, not OS threads), and small files are bound by round trips: so 64 per
    /// core with one core's worth left for the rest of the system, at least 32 and at most 128. The adaptive
    /// controller only uses as many connections for big files as keep paying.
    /// </summary>
    public int Threads { get; init; } = DefaultThreads(Environment.ProcessorCount);

    /// <summary>Files at or above this size (bytes) are "big": fetched in segments over the connections small files leave free. Default 200 MB.</summary>
    public long BigFileThreshold { get; init; } = 200L * 1000 * 1000;

    /// <summary>Transient failures (connection lost, 5xx, 429, stalls) tried again per file, with backoff. Default 5.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First backoff delay; doubles with jitter up to <see cref="MaxRetryDelay"/>. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest backoff delay (a 429's Retry-After may ask for longer, and is obeyed). Default 8 s.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Smallest interval between two progress reports of one file. Default 100 ms.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Preferred segment size for big files, bytes (<c>--chunk-size</c>); smaller when a file needs more segments to keep every connection busy. Default 32 MiB.</summary>
    public long ChunkSize { get; init; } = 32L * 1024 * 1024;

    /// <summary>A connection must carry at least this many bytes per second or it is shed (<c>--min-speed-per-thread</c>). Default 3 MB/s.</summary>
    public double MinSpeedPerConnection { get; init; } = 3_000_000;

    /// <summary>Longest speed test on the first big file before adding connections; it ends early once the rate is stable. Default 5 s.</summary>
    public TimeSpan SpeedTestDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Aggregate cap in bytes per second over all connections and files (<c>--max-speed</c>); null for none, else at least <see cref="SlowestSpeedCap"/>.</summary>
    public double? MaxBytesPerSecond { get; init; }

    /// <summary>
    /// The slowest <see cref="MaxBytesPerSecond"/>: 1000 bytes per second. Below it one read's worth of data (256 KiB)
    /// would hold a connection for longer than any server keeps it open, and the waits overflow the timers.
    /// </summary>
    public const double SlowestSpeedCap = 1000;

    /// <summary>Signed download URLs of big files are resolved again after this long, before they expire. Default 20 min.</summary>
    public TimeSpan UrlRefreshInterval { get; init; } = TimeSpan.FromMinutes(20);

    /// <summary>
    /// How often the journal (<c>.download_state</c>) is saved while something changed: the written ranges of big
    /// files in flight and the files completed. Saved without an fsync (the page cache outlives a killed hfdl), so a
    /// <c>kill -9</c> makes the next run fetch again at most about this much of the transfer. Default 250 ms.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Bytes that must stay free on the target file system after the download (<c>--min-free-space</c>). Default 0.</summary>
    public long MinFreeSpace { get; init; }

    /// <summary>The clock of every timeout, backoff and rate (a fake one in tests). Default the system clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Native Xet for Xet-backed files (<c>xetHash</c> in the listing): only the chunks not in the chunk cache are
    /// fetched, from the Xet CAS's signed xorb ranges; any failure falls back to plain HTTPS. False (<c>--no-xet</c>,
    /// <c>HF_HUB_DISABLE_XET</c>) fetches every file over plain HTTPS. Default true.
    /// </summary>
    public bool UseXet { get; init; } = true;

    /// <summary>
    /// The Xet cache root (<c>HF_XET_CACHE</c>, else <c>$HF_HOME/xet</c>); hfdl keeps its chunk cache in its
    /// <c>hfdl-chunks</c> folder. Null: no chunk cache (every chunk comes over the network).
    /// </summary>
    public string? XetCacheFolder { get; init; }

    /// <summary>
    /// The setting that chose <see cref="XetCacheFolder"/> when it comes from the environment (<c>HF_XET_CACHE</c>, or
    /// <c>HF_HOME</c> it is derived from; a null setting: the default under the home folder), so that a message about it
    /// names what to change. It applies only while <see cref="XetCacheFolder"/> is still that folder: a folder set
    /// otherwise names <see cref="XetCacheFolder"/> itself.
    /// </summary>
    internal (string Folder, PathSetting? Setting)? XetCacheChosenBy { get; init; }

    /// <summary>The setting to name in a message about <see cref="XetCacheFolder"/> (see <see cref="XetCacheChosenBy"/>).</summary>
    internal PathSetting? XetCacheSetting(string folder) =>
        XetCacheChosenBy is { } chosen && chosen.Folder == folder ? chosen.Setting : new PathSetting(nameof(XetCacheFolder), folder);

    /// <summary>The most bytes the chunk cache keeps (<c>--xet-cache-size</c>); least recently used entries are evicted. Default 10 GB.</summary>
    public long XetCacheSize { get; init; } = DefaultXetCacheSize;

    /// <summary>10 GB, as hf_xet's chunk cache.</summary>
    public const long DefaultXetCacheSize = 10L * 1000 * 1000 * 1000;

    /// <summary>
    /// A big Xet file's reconstruction is asked for this many bytes at a time (the spec recommends batches), so memory
    /// stays bounded for files of any size. Default 4 GiB.
    /// </summary>
    internal long XetWindowBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>The default of <see cref="Threads"/> on a machine with <paramref name="processorCount"/> cores.</summary>
    internal static int DefaultThreads(int processorCount) => Math.Clamp((processorCount - 1) * 64, 32, 128);

    internal void Validate()
    {
        if (Time is null)
        {
            throw new InvalidOptionException(nameof(Time), "must be a TimeProvider (TimeProvider.System by default).");
        }
        if (MaxRetries is < 0 or > 1000)
        {
            throw new InvalidOptionException(nameof(MaxRetries), $"must be between 0 and 1000 (got {MaxRetries}).");
        }
        if (RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromDays(1))
        {
            throw new InvalidOptionException(nameof(RetryDelay), "must be between 0 and a day.");
        }
        if (MaxRetryDelay < RetryDelay || MaxRetryDelay > TimeSpan.FromDays(1))
        {
            throw new InvalidOptionException(nameof(MaxRetryDelay), $"must be between {nameof(RetryDelay)} and a day.");
        }
        if (Threads is < 1 or > 256)
        {
            throw new InvalidOptionException(nameof(Threads), $"must be between 1 and 256 (got {Threads}).");
        }
        if (BigFileThreshold < 0)
        {
            throw new InvalidOptionException(nameof(BigFileThreshold), "must not be negative.");
        }
        if (ChunkSize is < 64 * 1024 or > Hub.FileSizes.MaxFileSize)
        {
            throw new InvalidOptionException(nameof(ChunkSize), "must be at least 65536 bytes and at most 1 PiB.");
        }
        if (!(MinSpeedPerConnection >= 0) || double.IsInfinity(MinSpeedPerConnection))
        {
            throw new InvalidOptionException(nameof(MinSpeedPerConnection), $"must be a finite number of bytes per second, 0 or more (got {MinSpeedPerConnection.ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
        }
        if (ProgressInterval < TimeSpan.Zero || ProgressInterval > TimeSpan.FromDays(1))
        {
            throw new InvalidOptionException(nameof(ProgressInterval), "must be between 0 and a day.");
        }
        if (SpeedTestDuration < TimeSpan.Zero)
        {
            throw new InvalidOptionException(nameof(SpeedTestDuration), "must not be negative.");
        }
        if (MinFreeSpace is < 0 or > Hub.FileSizes.MaxTotalSize)
        {
            throw new InvalidOptionException(nameof(MinFreeSpace), "must be between 0 and 1 EiB.");
        }
        if (UrlRefreshInterval <= TimeSpan.Zero)
        {
            throw new InvalidOptionException(nameof(UrlRefreshInterval), "must be more than 0 seconds.");
        }
        if (CheckpointInterval <= TimeSpan.Zero)
        {
            throw new InvalidOptionException(nameof(CheckpointInterval), "must be more than 0 seconds.");
        }
        if (XetCacheSize < 0)
        {
            throw new InvalidOptionException(nameof(XetCacheSize), "must not be negative.");
        }
        if (MaxBytesPerSecond is { } cap && !(cap >= SlowestSpeedCap && double.IsFinite(cap)))
        {
            throw new InvalidOptionException(nameof(MaxBytesPerSecond), $"must be a number of at least {SlowestSpeedCap} bytes per second.");
        }
    }
}

/// <summary>What to download and where.</summary>
public sealed record DownloadRequest
{
    private readonly IReadOnlyList<string> _files = [];
    private readonly IReadOnlyList<string> _include = [];
    private readonly IReadOnlyList<string> _exclude = [];

    /// <summary>
    /// Refuses a request no run can carry out, before anything is asked or written: each property named, rather than
    /// a NullReferenceException or a request for repo '' deep inside.
    /// </summary>
    internal void Validate()
    {
        if (!Enum.IsDefined(RepoType))
        {
            throw new InvalidOptionException(nameof(RepoType), $"must be Model, Dataset or Space (got {(int)RepoType}).");
        }
        if (RepoId.Value.Length == 0)
        {
            throw new InvalidOptionException(nameof(RepoId), "must be set (RepoId.Parse(\"org/name\")).");
        }
        if (TargetFolder is null || (TargetFolder.Length == 0 && Layout == Storage.LayoutKind.Folder) || TargetFolder.Contains('\0', StringComparison.Ordinal))
        {
            throw new InvalidOptionException(nameof(TargetFolder), "must name a folder.");
        }
        if (!Enum.IsDefined(Existing))
        {
            throw new InvalidOptionException(nameof(Existing), $"must be one of {string.Join(", ", Enum.GetNames<ExistingFiles>())} (got {(int)Existing}).");
        }
        if (!Enum.IsDefined(Layout))
        {
            throw new InvalidOptionException(nameof(Layout), $"must be Folder or HfCache (got {(int)Layout}).");
        }
        if (TargetFolder.Length > 0 && File.Exists(TargetFolder))
        {
            throw new InvalidOptionException(nameof(TargetFolder), $"is '{TargetFolder}', which is a file; it must be a folder (or one that does not exist yet).");
        }
        if (Revision is { Length: 0 })
        {
            throw new InvalidOptionException(nameof(Revision), "must be a branch, a tag or a commit id, or null for main.");
        }
        if (Revision is { } revision && revision.Any(char.IsControl))
        {
            // Sent to the Hub as it was ("main\n" from a file read without trimming), it came back as a revision
            // not found, with the control character raw in the message.
            throw new InvalidOptionException(nameof(Revision), $"is '{Hub.SafeText.Printable(revision)}', which holds a control character; no branch, tag or commit id has one.");
        }
    }

    /// <summary>Copied when set, so a caller's list changed later does not change the request; null is refused.</summary>
    private static IReadOnlyList<string> Copy(IReadOnlyList<string> value, string name) =>
        value is null ? throw new InvalidOptionException(name, "must be a list (empty for none), not null.")
        : value.Any(v => v is null) ? throw new InvalidOptionException(name, "must not hold null entries.")
        : Array.AsReadOnly([.. value]);

    /// <summary>Model, dataset or space.</summary>
    public required Hub.RepoType RepoType { get; init; }

    /// <summary>The repo, e.g. <c>openai-community/gpt2</c> (<see cref="Hub.RepoId.Parse"/>).</summary>
    public required Hub.RepoId RepoId { get; init; }

    /// <summary>Branch, tag, commit or <c>refs/pr/N</c>; null means <c>main</c>.</summary>
    public string? Revision { get; init; }

    /// <summary>Only these paths (a trailing <c>/</c> selects a folder); empty means the whole repo.</summary>
    public IReadOnlyList<string> Files { get => _files; init => _files = Copy(value, nameof(Files)); }

    /// <summary>Keep only files matching one of these fnmatch patterns (<c>--include</c>); empty keeps every file.</summary>
    public IReadOnlyList<string> Include { get => _include; init => _include = Copy(value, nameof(Include)); }

    /// <summary>Drop files matching one of these fnmatch patterns (<c>--exclude</c>).</summary>
    public IReadOnlyList<string> Exclude { get => _exclude; init => _exclude = Copy(value, nameof(Exclude)); }

    /// <summary>
    /// The folder the repo's files go into (its root), or with <see cref="Layout"/> <see cref="Storage.LayoutKind.HfCache"/>
    /// the cache's root; an empty one there means the cache of the <see cref="HfdlClient"/> (<c>HF_HUB_CACHE</c>).
    /// </summary>
    public required string TargetFolder { get; init; }

    /// <summary>How files already in the folder are treated.</summary>
    public ExistingFiles Existing { get; init; } = ExistingFiles.TrustJournal;

    /// <summary>
    /// With <see cref="ExistingFiles.Rehash"/>: the verdicts of a verification run just before (<c>--verify --fix-broken</c>),
    /// by path, trusted for the files still unchanged since they were hashed.
    /// </summary>
    internal IReadOnlyDictionary<string, Integrity.HashedFile>? HashedBefore { get; init; }

    /// <summary>
    /// <see cref="Storage.LayoutKind.Folder"/>: <see cref="TargetFolder"/> holds the files. <see cref="Storage.LayoutKind.HfCache"/>:
    /// <see cref="TargetFolder"/> is the root of a Hugging Face cache.
    /// </summary>
    public Storage.LayoutKind Layout { get; init; } = Storage.LayoutKind.Folder;

    /// <summary>In the HF cache, copy files into snapshots instead of linking (<c>HF_HUB_DISABLE_SYMLINKS</c>).</summary>
    public bool DisableSymlinks { get; init; }

    /// <summary>
    /// No network call at all (<c>HF_HUB_OFFLINE</c>): the commit and the listing come from what earlier downloads
    /// recorded locally (the journal or the cache's refs, and the cached listing of the commit).
    /// </summary>
    public bool Offline { get; init; }
}

/// <summary>Offline, and what is on disk does not hold the whole selection of the revision (or no record of it at all).</summary>
public sealed class OfflineIncompleteException(Hub.RepoType type, Hub.RepoId id, string revision, LocalReport? report, string? reason)
    : HfdlException(reason is not null
        ? $"Offline, and for {type.Name()} '{id}' at '{revision}' {reason}. Download it with the network first."
        : report is null
        ? $"Offline, and nothing on disk records {type.Name()} '{id}' at '{revision}' (no journal or ref names a commit for it). Download it once with the network first."
        : report.Corrupt.Count > 0
        ? $"Offline, and in the local copy of {type.Name()} '{id}' at '{revision}' (commit {report.Commit}) {report.Missing.Count} of the {report.Present.Count + report.Missing.Count} selected files are missing or do not match the cached listing (its size or hash), for example '{SafeText.Printable(report.Corrupt[0])}' does not. Download them again with the network."
        : $"Offline, and the local copy of {type.Name()} '{id}' at '{revision}' (commit {report.Commit}) lacks {report.Missing.Count} of the {report.Present.Count + report.Missing.Count} selected files, for example '{SafeText.Printable(report.Missing[0])}'. Download them with the network first.")
{
    /// <summary>Offline, and the local copy lacks files (<paramref name="report"/>) or nothing records the revision (null).</summary>
    public OfflineIncompleteException(Hub.RepoType type, Hub.RepoId id, string revision, LocalReport? report)
        : this(type, id, revision, report, null)
    {
    }

    /// <summary>What is on disk, when anything records the revision.</summary>
    public LocalReport? Report { get; } = report;
}

/// <summary>What is on disk for a revision, found without the network.</summary>
public sealed record LocalReport(string Folder, string Commit, IReadOnlyList<string> Present, IReadOnlyList<string> Missing)
{
    /// <summary>True when every selected file is on disk.</summary>
    public bool IsComplete => Missing.Count == 0;

    /// <summary>Files of <see cref="Missing"/> that are on disk but whose size or content does not match the cached listing.</summary>
    public IReadOnlyList<string> Corrupt { get; init; } = [];

    /// <summary>
    /// No listing of the commit is cached (a Hugging Face cache written by huggingface_hub or transformers, which
    /// cache none): <see cref="Present"/> is what the snapshot holds, and nobody can tell whether the repo has more.
    /// </summary>
    public bool WithoutListing { get; init; }
}

/// <summary>What to do with what is already on disk.</summary>
public enum ExistingFiles
{
    /// <summary>Files the journal records as verified (same etag, size and modification time) are kept unread; others are hashed and kept if right.</summary>
    TrustJournal,

    /// <summary><c>--fix-broken</c>: hash every local file; download exactly the corrupt and missing ones.</summary>
    Rehash,

    /// <summary><c>--force</c>: ignore local files and the journal; download everything again (old copies stay until each new one is verified).</summary>
    Ignore,
}

/// <summary>The outcome of a verification: a verdict per selected file, and the extra files.</summary>
public sealed record VerificationReport(string Folder, string Commit, IReadOnlyList<Progress.FileVerified> Files)
{
    /// <summary>True when every file verified (and there is no extra or missing one).</summary>
    public bool AllOk => Files.All(f => f.Status == Progress.VerifyStatus.Ok);

    /// <summary>How many files got <paramref name="status"/>.</summary>
    public int Count(Progress.VerifyStatus status) => Files.Count(f => f.Status == status);

    /// <summary>The ok and corrupt verdicts with the files as they were hashed, for a repair that follows (<see cref="DownloadRequest.HashedBefore"/>).</summary>
    internal IReadOnlyDictionary<string, Integrity.HashedFile> Hashed { get; init; } = new Dictionary<string, Integrity.HashedFile>(StringComparer.Ordinal);
}
