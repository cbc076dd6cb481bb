using Hfdl.Core.Hub;

namespace Hfdl.Core.Planning;

/// <summary>What a download would do with one file.</summary>
public enum PlannedAction
{
    /// <summary>Not on disk: downloaded in full.</summary>
    Download,

    /// <summary>A big file partly downloaded by an earlier run: only the missing ranges are fetched.</summary>
    Resume,

    /// <summary>On disk with the right size but not in the journal: hashed, kept if it matches, downloaded otherwise.</summary>
    Verify,

    /// <summary>On disk and recorded as verified (same etag, size and modification time): nothing to do.</summary>
    Present,
}

/// <param name="Path">The path in the repo.</param>
/// <param name="Size">Bytes.</param>
/// <param name="IsLfs">Stored with LFS (hash sha256) or as a regular git file (git blob sha1).</param>
/// <param name="IsBig">At or above the big-file threshold: fetched in ranges over several connections.</param>
/// <param name="Hash">The digest the file must have, as <c>sha256:HEX</c> or <c>git-sha1:HEX</c>.</param>
/// <param name="Action">What a download would do.</param>
/// <param name="BytesOnDisk">Bytes already there (the whole size when present, the flushed ranges when resuming).</param>
public sealed record PlannedFile(string Path, long Size, bool IsLfs, bool IsBig, string Hash, PlannedAction Action, long BytesOnDisk)
{
    /// <summary>Bytes a download would fetch: everything not already on disk (a file to verify may need all of it).</summary>
    public long BytesToFetch => Action == PlannedAction.Present ? 0 : Size - (Action == PlannedAction.Resume ? BytesOnDisk : 0);
}

/// <summary>The plan of a download (<c>--dry-run</c>): the files selected at one commit, and what would happen to each.</summary>
public sealed record DownloadPlan(
    RepoType RepoType,
    RepoId RepoId,
    string Revision,
    string Commit,
    string TargetFolder,
    long BigFileThreshold,
    IReadOnlyList<PlannedFile> Files,
    string? Warning)
{
    public long TotalBytes => Files.Sum(f => f.Size);

    public int FilesPresent => Files.Count(f => f.Action == PlannedAction.Present);

    public int FilesToFetch => Files.Count(f => f.Action != PlannedAction.Present);

    public long BytesToFetch => Files.Sum(f => f.BytesToFetch);
}
