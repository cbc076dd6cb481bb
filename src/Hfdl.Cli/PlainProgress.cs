using Hfdl.Progress;

namespace Hfdl.Cli;

/// <summary>
/// Plain progress lines for logs and pipes: one line per finished, skipped or failed file, one for retries, and a
/// summary. Thread-safe: the engine reports from many workers.
/// </summary>
internal sealed class PlainProgress(TextWriter writer, bool quiet) : IProgress<DownloadEvent>
{
    private readonly object _gate = new();

    public int Failed { get; private set; }

    public void Report(DownloadEvent value)
    {
        lock (_gate)
        {
            switch (value)
            {
                case FileFailed failed:
                    Failed++;
                    writer.WriteLine($"failed   {failed.Path}: {failed.Error}");
                    break;
                case not null when quiet:
                    break;
                case RevisionResolved resolved:
                    writer.WriteLine($"{resolved.RepoType.ToString().ToLowerInvariant()} {resolved.RepoId} at {resolved.Revision} = commit {resolved.Commit}");
                    break;
                case PlanReady plan:
                    writer.WriteLine($"{plan.TotalFiles} files, {Units.Bytes(plan.TotalBytes)}; to download: {plan.FilesToDownload} files, {Units.Bytes(plan.BytesToDownload)}; already verified: {plan.FilesAlreadyPresent}");
                    break;
                case FileCompleted done:
                    var rate = done.Elapsed.TotalSeconds > 0 ? done.Size / done.Elapsed.TotalSeconds : 0;
                    writer.WriteLine($"done     {done.Path} ({Units.Bytes(done.Size)}, {Units.Rate(rate)}, verified)");
                    break;
                case FileSkipped skipped when skipped.Reason != "already downloaded and verified":
                    writer.WriteLine($"kept     {skipped.Path} ({skipped.Reason})");
                    break;
                case FileRetrying retrying:
                    writer.WriteLine($"retry    {retrying.Path} (attempt {retrying.Attempt}, in {retrying.Delay.TotalSeconds:0.#} s): {retrying.Reason}");
                    break;
                case DownloadFinished finished:
                    var s = finished.Summary;
                    writer.WriteLine(
                        $"Downloaded {s.FilesDownloaded} files ({Units.Bytes(s.BytesDownloaded)}) in {Units.Duration(s.Elapsed)} at {Units.Rate(s.AverageBytesPerSecond)}; " +
                        $"{s.FilesSkipped} already present, {s.FilesFailed} failed." +
                        (s.FilesFailed == 0 ? " Every file is verified." : ""));
                    break;
            }
        }
    }
}
