using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Transfer;

internal sealed partial class RepoDownloader
{
    /// <summary>
    /// The plan of <paramref name="request"/> without carrying it out (<c>--dry-run</c>): the same planning step a
    /// download takes, read-only: creates no folder, writes no state file, takes no lock, renames and hashes nothing.
    /// It also lists the local files of the selection that the repo does not have (extras).
    /// </summary>
    public Task<DownloadPlan> PlanAsync(DownloadRequest request, CancellationToken cancellationToken) =>
        PlanAsync(request, null, cancellationToken);

    /// <summary>The dry run's plan, with <paramref name="progress"/> told how far a long listing got (<see cref="ListingProgress"/> only).</summary>
    public Task<DownloadPlan> PlanWithListingProgressAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken) =>
        PlanAsync(request, progress is null ? null : new ListingOnly(progress), cancellationToken);

    /// <summary>Passes on <see cref="ListingProgress"/> at once, on the reporting thread (Progress&lt;T&gt; would post it later, after the plan).</summary>
    private sealed class ListingOnly(IProgress<DownloadEvent> inner) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value)
        {
            if (value is ListingProgress)
            {
                inner.Report(value);
            }
        }
    }

    private async Task<DownloadPlan> PlanAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken)
    {
        var revision = request.Revision ?? "main";
        var layout = CreateLayout(request, null);
        RepoSelection selection;
        string? unreachableWarning = null;
        if (request.Offline)
        {
            selection = RepoPlanner.SelectOffline(request, layout) ?? throw new OfflineIncompleteException(request.RepoType, request.RepoId, revision, null, RepoPlanner.OfflineGap(request, layout));
            // The commit the local records give, as a run with the network reports the one the Hub gives.
            progress?.Report(new RevisionResolved(request.RepoType, request.RepoId, revision, selection.Commit));
        }
        else
        {
            try
            {
                selection = await RepoPlanner.SelectAsync(_client, request, progress, cancellationToken).ConfigureAwait(false);
            }
            catch (HubUnreachableException unreachable) when (RepoPlanner.SelectOffline(request, layout) is { } local)
            {
                // As the download does with the network down: the local records answer, and the plan says so. A dry
                // run that refused what the download then does would not be the download's plan.
                unreachableWarning = $"{unreachable.Message} Planned from the local records of commit {local.Commit} instead.";
                progress?.Report(new Warning(unreachableWarning));
                progress?.Report(new RevisionResolved(request.RepoType, request.RepoId, revision, local.Commit));
                selection = local;
            }
        }
        var plan = InspectReadOnly(request, selection, layout, withExtras: true);
        if (selection.MissingRequested.Count > 0)
        {
            throw new OfflineIncompleteException(request.RepoType, request.RepoId, revision,
                new LocalReport(plan.TargetFolder, selection.Commit, [.. plan.Files.Select(f => f.Path)], selection.MissingRequested) { WithoutListing = true });
        }
        if (selection.FromHeldFiles)
        {
            plan = plan with { Warning = plan.Warning is { } earlier ? $"{earlier} {HeldFilesWarning(selection.Commit)}" : HeldFilesWarning(selection.Commit), WithoutListing = true };
        }
        if (unreachableWarning is not null)
        {
            plan = plan with { Warning = plan.Warning is { } earlier ? $"{unreachableWarning} {earlier}" : unreachableWarning };
        }
        var offline = request.Offline || unreachableWarning is not null;
        if (offline)
        {
            plan = plan with { Files = [.. plan.Files.Select(f => OfflineAction(f, layout, plan.Commit))] };
        }
        return plan with { DiskSpace = CheckDiskSpace(plan, layout.JournalFolder), Offline = offline };
    }

    /// <summary>
    /// What an offline download does with a file, which writes nothing: a file is present only where users find it
    /// (<see cref="StorageLayout.IsPlaced"/>), as that download judges it. A blob whose snapshot link is gone would be
    /// linked again by a run with the network; offline it is missing, and the dry run said "present" (QA: helper-38).
    /// </summary>
    private static PlannedFile OfflineAction(PlannedFile file, StorageLayout layout, string commit) =>
        file.Action is PlannedAction.Present or PlannedAction.Verify && file.Remote is { } remote && !layout.IsPlaced(remote, commit)
            ? file with { Action = PlannedAction.Download, BytesOnDisk = 0 }
            : file;

    /// <summary>The plan as the files and journal stand, read without writing anything (no folder, state or lock is created).</summary>
    private DownloadPlan InspectReadOnly(DownloadRequest request, RepoSelection selection, StorageLayout layout, bool withExtras)
    {
        var state = Directory.Exists(layout.JournalFolder)
            ? DownloadStateStore.Open(layout.JournalFolder, request.RepoType, request.RepoId, _options.Time, readOnly: true)
            : null;
        return RepoPlanner.Inspect(selection, layout, state, request.Existing, _options.BigFileThreshold, withExtras, probeFileSystem: false, request.HashedBefore);
    }
}
