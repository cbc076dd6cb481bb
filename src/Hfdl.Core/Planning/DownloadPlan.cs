using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Planning;

/// <summary>What a download does with one file.</summary>
public enum PlannedAction
{
    /// <summary>Not on disk: downloaded in full.</summary>
    Download,

    /// <summary>A big file partly downloaded by an earlier run: only the missing ranges are fetched.</summary>
    Resume,

    /// <summary>On disk with the right size but not recorded as verified: hashed, kept if it matches, downloaded otherwise.</summary>
    Verify,

    /// <summary>On disk and recorded as verified (same etag, size and modification time), or a blob of the HF cache: nothing to do.</summary>
    Present,

    /// <summary>A local file of the selection that the repo does not have at this commit: left alone, reported by verify.</summary>
    Extra,
}

/// <summary>One file of a plan.</summary>
/// <param name="Path">The path in the repo (for an extra file, its path relative to the folder).</param>
/// <param name="Size">Bytes the file has on the Hub (for an extra file, on disk).</param>
/// <param name="IsLfs">Stored with LFS (hash sha256) or as a regular git file (git blob sha1).</param>
/// <param name="IsBig">At or above the big-file threshold: fetched in ranges over several connections.</param>
/// <param name="Action">What a download does with it.</param>
/// <param name="BytesOnDisk">Bytes already there (the whole size when present or to verify, the written ranges when resuming).</param>
public sealed record PlannedFile(string Path, long Size, bool IsLfs, bool IsBig, PlannedAction Action, long BytesOnDisk)
{
    /// <summary>The digest the file must have, as <c>sha256:HEX</c> or <c>git-sha1:HEX</c> (empty for an extra file).</summary>
    public string Hash => Remote is { } remote ? $"{(remote.Hash.Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{remote.Hash.Hex}" : "";

    private readonly string? _targetPath;
    private readonly string? _dataPath;

    /// <summary>Where a user (or transformers) finds the file: in the folder, or the HF cache snapshot's link.</summary>
    public string TargetPath
    {
        get => _targetPath ?? Roots?.User(Path) ?? "";
        init => _targetPath = value;
    }

    /// <summary>Bytes a download would fetch: everything not already on disk (a file to verify may need all of it).</summary>
    public long BytesToFetch => Action is PlannedAction.Present or PlannedAction.Extra ? 0 : Size - (Action == PlannedAction.Resume ? BytesOnDisk : 0);

    /// <summary>
    /// Why a download of this file would fail before fetching anything (a folder where the file goes), as the plan
    /// found it; null when nothing stands in the way.
    /// </summary>
    public string? Blocked { get; init; }

    /// <summary>The file as the Hub lists it (null for an extra file).</summary>
    internal RemoteFile? Remote { get; init; }

    /// <summary>Where its verified bytes are stored (the HF cache's blob; the target itself in a folder).</summary>
    internal string DataPath
    {
        get => _dataPath ?? (Roots is { } roots && Remote is { } remote ? roots.Data(Path, remote.Etag) : "");
        init => _dataPath = value;
    }

    /// <summary>
    /// Names <see cref="DataPath"/> without building it: files with the same key share their data (one HF cache blob).
    /// </summary>
    internal string DataKey => _dataPath ?? (Roots is { } roots && Remote is { } remote ? roots.DataKey(Path, remote.Etag) : Path);

    /// <summary>The plan's folders: the paths above are derived from them when asked, not stored with each file.</summary>
    internal PlanRoots? Roots { get; init; }

    /// <summary>Bytes of the file at <see cref="DataPath"/> when the planner looked (null: absent, or a link).</summary>
    internal long? LocalSize { get; init; }

    /// <summary>For <see cref="PlannedAction.Resume"/>: the temporary file (beside <see cref="DataPath"/>) the journal names.</summary>
    internal string? ResumeTempFile { get; init; }

    /// <summary>
    /// For <see cref="PlannedAction.Resume"/>: the disk space the temporary file already holds. A big file's is reserved
    /// whole when it starts, so resuming it needs no more: counting the bytes still to fetch refused resumes that fit.
    /// </summary>
    internal long SpaceHeld { get; init; }

    /// <summary>The disk space fetching it still needs.</summary>
    internal long SpaceNeeded => Action is PlannedAction.Download or PlannedAction.Resume ? Math.Max(0, Size - Math.Max(SpaceHeld, Action == PlannedAction.Resume ? BytesOnDisk : 0)) : 0;
}

/// <summary>
/// The plan of a request: the files selected at one commit and what a download does with each. Every mode consumes it:
/// a download carries it out, a dry run prints it, verify hashes its files, offline judges them.
/// </summary>
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
    /// <summary>The layout the plan writes.</summary>
    public LayoutKind Layout { get; init; }

    /// <summary>Local files of the selection that the repo does not list (folder layouts, when asked for: dry run and verify).</summary>
    public IReadOnlyList<PlannedFile> Extras { get; init; } = [];

    /// <summary>
    /// Planned offline from a Hugging Face cache that holds no listing of the commit (huggingface_hub's): the files are
    /// what the snapshot holds, and nothing checks them.
    /// </summary>
    public bool WithoutListing { get; init; }

    /// <summary>
    /// Planned without the network (offline, or the Hub out of reach): a file to download or resume cannot be, so the
    /// download would report it missing.
    /// </summary>
    public bool Offline { get; init; }

    /// <summary>The disk-space check the download makes before fetching anything, judged now (null when not made).</summary>
    public DiskSpaceCheck? DiskSpace { get; init; }

    /// <summary>Bytes of every selected file.</summary>
    public long TotalBytes => Checked.Sum(Files.Select(f => f.Size));

    /// <summary>Selected files already present: nothing to do for them.</summary>
    public int FilesPresent => Files.Count(f => f.Action == PlannedAction.Present);

    /// <summary>Selected files a download resumes, verifies or fetches.</summary>
    public int FilesToFetch => Files.Count(f => f.Action != PlannedAction.Present);

    /// <summary>Of <see cref="FilesToFetch"/>, the files on disk but not in the journal: hashed first, fetched only if they differ.</summary>
    public int FilesToVerify => Files.Count(f => f.Action == PlannedAction.Verify);

    /// <summary>Of <see cref="BytesToFetch"/>, the bytes of <see cref="FilesToVerify"/>.</summary>
    public long BytesToVerify => Checked.Sum(Files.Where(f => f.Action == PlannedAction.Verify).DistinctBy(f => f.DataKey, StringComparer.Ordinal).Select(f => f.Size));

    /// <summary>Bytes resumed files already hold on disk from an earlier run: kept, not counted in <see cref="BytesToFetch"/>.</summary>
    public long BytesResumed => Checked.Sum(Files.Where(f => f.Action == PlannedAction.Resume).DistinctBy(f => f.DataKey, StringComparer.Ordinal).Select(f => f.BytesOnDisk));

    /// <summary>Bytes to fetch; files that share their data (one HF cache blob) count once.</summary>
    public long BytesToFetch => Checked.Sum(Files.Where(f => f.BytesToFetch > 0).DistinctBy(f => f.DataKey, StringComparer.Ordinal).Select(f => f.BytesToFetch));
}

/// <summary>
/// The folders a plan's files live in. Their full paths are derived from the repo path when asked instead of being
/// stored: a plan of 400,000 files would otherwise keep 400,000 full paths (one or two each, about 70 MB or more).
/// The planner checks each derived path against the one the layout gives (with its link checks) and stores the
/// layout's own when they differ.
/// </summary>
/// <param name="DataRoot">The folder of the data: the target folder, or the HF cache's <c>blobs</c>.</param>
/// <param name="UserRoot">The folder users look in: the target folder, or the commit's snapshot.</param>
/// <param name="DataByEtag">Data is named by etag (HF cache blobs), not by repo path.</param>
internal sealed record PlanRoots(string DataRoot, string UserRoot, bool DataByEtag)
{
    public string Data(string repoPath, string etag) => DataByEtag ? System.IO.Path.Combine(DataRoot, etag) : Under(DataRoot, repoPath);

    public string User(string repoPath) => Under(UserRoot, repoPath);

    public string DataKey(string repoPath, string etag) => DataByEtag ? etag : repoPath;

    private static string Under(string root, string repoPath) =>
        System.IO.Path.Combine(root, System.IO.Path.DirectorySeparatorChar == '/' ? repoPath : repoPath.Replace('/', System.IO.Path.DirectorySeparatorChar));
}

/// <summary>The disk-space check a download makes before it fetches anything.</summary>
/// <param name="Needed">Bytes the download would still write: partial files count their missing bytes, files on disk with the right size nothing.</param>
/// <param name="Reserve">Bytes that must stay free (<see cref="Transfer.DownloadOptions.MinFreeSpace"/>).</param>
/// <param name="Available">Bytes free on the target's file system; null when it cannot be told.</param>
public sealed record DiskSpaceCheck(long Needed, long Reserve, long? Available)
{
    /// <summary>
    /// True when the download starts: it writes nothing (a reserve is about what a download takes, so a run that takes
    /// nothing is never refused), or what it writes fits with the reserve, or the free space cannot be told.
    /// </summary>
    public bool Fits => Needed == 0 || Available is not { } free || Needed + Reserve <= free;
}
