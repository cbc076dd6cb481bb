using Hfdl.Core.Hub;

namespace Hfdl.Core.Progress;

/// <summary>
/// Progress as data: the engine reports these records through <see cref="IProgress{T}"/> and never draws anything.
/// Reports may arrive from several threads at once.
/// </summary>
public abstract record DownloadEvent;

/// <summary>The revision was resolved to a commit.</summary>
public sealed record RevisionResolved(RepoType RepoType, RepoId RepoId, string Revision, string Commit) : DownloadEvent;

/// <summary>
/// The listing of a big repo is still arriving (page after page): <paramref name="FilesListed"/> files so far, said every
/// <see cref="Every"/> files, so that a listing of 100,000 files is not taken for a hang.
/// </summary>
public sealed record ListingProgress(RepoType RepoType, RepoId RepoId, int FilesListed) : DownloadEvent
{
    /// <summary>Files between two of these events.</summary>
    public const int Every = 1000;
}

/// <summary>The plan is ready: what exists, what will be downloaded, where.</summary>
public sealed record PlanReady(
    string TargetFolder,
    int TotalFiles,
    long TotalBytes,
    int FilesToDownload,
    long BytesToDownload,
    int FilesAlreadyPresent,
    long BigFileThreshold) : DownloadEvent
{
    /// <summary>The plan of a verification: its files are hashed, nothing is downloaded (the counts to download and present are 0).</summary>
    public bool Verify { get; init; }

    /// <summary>Of <see cref="FilesToDownload"/>, the files on disk but not in the journal: hashed first, fetched only if they differ.</summary>
    public int FilesToVerify { get; init; }

    /// <summary>Of <see cref="BytesToDownload"/>, the bytes of <see cref="FilesToVerify"/>.</summary>
    public long BytesToVerify { get; init; }

    /// <summary>Of <see cref="BytesToDownload"/>, the bytes resumed files already hold on disk from an earlier run (kept, not fetched again).</summary>
    public long BytesOnDisk { get; init; }
}

/// <summary>A transfer starts. <paramref name="ResumedBytes"/>: bytes already on disk from an earlier run that this one keeps (a resumed file, big or small).</summary>
public sealed record FileStarted(string Path, long Size, bool IsBig, long ResumedBytes = 0) : DownloadEvent;

/// <summary>Bytes of one file received so far (sent at a bounded rate per file).</summary>
public sealed record FileProgress(string Path, long BytesDone, long Size) : DownloadEvent
{
    /// <summary>
    /// For a big file, the connections fetching it now: 0 while it waits for one (the pool's connections all work on
    /// other files, as one connection does on a slow server or under a speed limit), which is not a stall. Null when
    /// not told (a small file has a connection of its own while it transfers).
    /// </summary>
    public int? Connections { get; init; }
}

/// <summary>A file was received, its size and hash matched, and it is under its final name.</summary>
public sealed record FileCompleted(string Path, long Size, string Hash, TimeSpan Elapsed) : DownloadEvent;

/// <summary>A file already present and verified, so not downloaded.</summary>
public sealed record FileSkipped(string Path, long Size, string Reason) : DownloadEvent
{
    /// <summary>
    /// Counted by the plan as present (<see cref="PlanReady.FilesAlreadyPresent"/>), and reported right after it; false
    /// for a file found on disk with the right hash during the run, which the plan counted as work.
    /// </summary>
    public bool Planned { get; init; }
}

/// <summary>A transfer failed and will be tried again.</summary>
public sealed record FileRetrying(string Path, int Attempt, string Reason, TimeSpan Delay) : DownloadEvent
{
    /// <summary>The attempt failed because the server could not be reached at all (refused, no route, name not found).</summary>
    public bool Unreachable { get; init; }

    /// <summary>The HTTP status the server answered when that is why the attempt failed (a 5xx, or 429); else null.</summary>
    public int? ServerStatus { get; init; }
}

/// <summary>
/// A metadata call to the Hub (repo info, a page of the file listing, refs, whoami, a file's metadata) failed
/// transiently and will be tried again after <paramref name="Delay"/>. <paramref name="Request"/> says which, in words.
/// </summary>
public sealed record RequestRetrying(string Request, int Attempt, string Reason, TimeSpan Delay) : DownloadEvent;

/// <summary>A file could not be downloaded; the run goes on with the others and ends unsuccessfully.</summary>
/// <param name="Path">The path in the repo.</param>
/// <param name="Error">Why, as a sentence for the user.</param>
public sealed record FileFailed(string Path, string Error) : DownloadEvent
{
    /// <summary>
    /// Running again may succeed (the server or the network failed). False when the failure waits on the user: something
    /// in the way on disk, a link, no permission, a file the revision does not have, access refused; its
    /// <see cref="Error"/> says what to do.
    /// </summary>
    public bool Retryable { get; init; } = true;
}

/// <summary>The end of a run.</summary>
public sealed record DownloadFinished(DownloadSummary Summary) : DownloadEvent;

/// <summary>What a download did.</summary>
/// <param name="TargetFolder">Where the files are: the folder, or the HF cache snapshot to hand to <c>from_pretrained</c>.</param>
/// <param name="Commit">The commit the files are from.</param>
/// <param name="FilesDownloaded">Files fetched (fully or in part) and verified in this run.</param>
/// <param name="FilesSkipped">Files already present, or found on disk with the right hash.</param>
/// <param name="FilesFailed">Files that could not be downloaded.</param>
/// <param name="BytesDownloaded">Bytes of the files downloaded in this run.</param>
/// <param name="Elapsed">How long the run took.</param>
public sealed record DownloadSummary(
    string TargetFolder,
    string Commit,
    int FilesDownloaded,
    int FilesSkipped,
    int FilesFailed,
    long BytesDownloaded,
    TimeSpan Elapsed)
{
    /// <summary>Bytes that came over the network in this run (file bodies and Xet xorb ranges as sent, retried bytes included).</summary>
    public long BytesFetched { get; init; }

    /// <summary>Bytes of Xet xorb ranges read from the local chunk cache instead of the network.</summary>
    public long BytesFromCache { get; init; }

    /// <summary>
    /// Native Xet brought bytes in this run: xorb ranges fetched over the network or read from the chunk cache. Then
    /// <see cref="BytesFetched"/> and <see cref="BytesFromCache"/> are what it saved, even when one of them is 0.
    /// </summary>
    public bool UsedXet { get; init; }

    /// <summary>
    /// Offline (or the Hub unreachable) from a Hugging Face cache that holds no listing of the commit (huggingface_hub
    /// and transformers cache none): the files were taken as the cache holds them, with nothing to check them against.
    /// </summary>
    public bool Unchecked { get; init; }

    /// <summary><see cref="BytesDownloaded"/> over <see cref="Elapsed"/>.</summary>
    public double AverageBytesPerSecond => Elapsed.TotalSeconds > 0 ? BytesDownloaded / Elapsed.TotalSeconds : 0;
}

/// <summary>Something the user should know that does not stop the run (a state file set aside, say).</summary>
public sealed record Warning(string Message) : DownloadEvent;

/// <summary>Another hfdl process holds the folder's lock; this one waits for it.</summary>
public sealed record WaitingForLock(string Folder, string Holder) : DownloadEvent;

/// <summary>The verdict on one local file of <c>--verify</c>.</summary>
public sealed record FileVerified(string Path, VerifyStatus Status, string? Detail) : DownloadEvent;

/// <summary>What verify found for one file.</summary>
public enum VerifyStatus
{
    /// <summary>Present, with the size and hash the Hub lists.</summary>
    Ok,

    /// <summary>Present, but of another size or hash.</summary>
    Corrupt,

    /// <summary>Selected, but not on disk.</summary>
    Missing,

    /// <summary>On disk, selected by the patterns, but not in the repo at this commit.</summary>
    Extra,
}
