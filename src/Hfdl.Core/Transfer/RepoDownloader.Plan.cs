using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Transfer;

public sealed partial class RepoDownloader
{
    /// <summary>
    /// The plan of <paramref name="request"/> without doing it (<c>--dry-run</c>): resolves the revision, lists and
    /// selects the files, and looks at the target folder and its journal. Reads only: creates no folder, writes no
    /// state file, renames nothing, hashes nothing.
    /// </summary>
    public async Task<DownloadPlan> PlanAsync(DownloadRequest request, CancellationToken cancellationToken)
    {
        var revision = request.Revision ?? "main";
        var commit = await ResolveCommitAsync(request.RepoType, request.RepoId, revision, cancellationToken).ConfigureAwait(false);
        var listed = await FilePlanner.ListFilesAsync(_client, request.RepoType, request.RepoId, commit, cancellationToken).ConfigureAwait(false);
        var files = FilePlanner.Select(listed, request.Files, request.RepoType, request.RepoId, revision);
        files = PathFilter.Apply(files, request.Include, request.Exclude, request.RepoType, request.RepoId, revision);

        var root = Path.GetFullPath(request.TargetFolder);
        var state = Directory.Exists(root) ? DownloadStateStore.Open(root, request.RepoType, request.RepoId, _options.Time, readOnly: true) : null;
        var planned = new List<PlannedFile>(files.Count);
        foreach (var file in files)
        {
            var path = RepoLayout.FilePath(root, file.Path);
            var hash = $"{(file.Hash.Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{file.Hash.Hex}";
            var (action, onDisk) = state is null ? (PlannedAction.Download, 0L) : Inspect(state, file, path, IsBig(file));
            planned.Add(new PlannedFile(file.Path, file.Size, file.IsLfs, IsBig(file), hash, action, onDisk));
        }
        return new DownloadPlan(request.RepoType, request.RepoId, revision, commit, root, _options.BigFileThreshold, planned, state?.LoadWarning);
    }

    private static (PlannedAction Action, long BytesOnDisk) Inspect(DownloadStateStore state, RemoteFile file, string path, bool isBig)
    {
        if (IsRecordedComplete(state, file, path))
        {
            return (PlannedAction.Present, file.Size);
        }
        if (isBig && state.Get(file.Path) is { Status: FileState.Partial, TempFile: { } tempName, Ranges: { } ranges } recorded
            && recorded.Etag == file.Etag && recorded.Size == file.Size
            && File.Exists(Path.Combine(Path.GetDirectoryName(path)!, tempName)))
        {
            return (PlannedAction.Resume, ranges.Sum(r => r[1] - r[0]));
        }
        var info = new FileInfo(path);
        return info.Exists && info.Length == file.Size && info.LinkTarget is null
            ? (PlannedAction.Verify, file.Size)
            : (PlannedAction.Download, 0);
    }
}
