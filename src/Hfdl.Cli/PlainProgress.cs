using Hfdl.Progress;

namespace Hfdl.Cli;

/// <summary>
/// Plain progress lines for logs and pipes: one line per finished, skipped or failed file, one for retries, and a
/// summary. Thread-safe: the engine reports from many workers.
/// </summary>
internal sealed class PlainProgress(TextWriter writer, bool quiet, bool verbose = false) : IProgress<DownloadEvent>
{
    private static readonly TimeSpan StatusInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan VerboseStatusInterval = TimeSpan.FromSeconds(1);
    private readonly object _gate = new();
    private readonly Dictionary<string, (long Done, long Size)> _bigFiles = new(StringComparer.Ordinal);
    private long _lastStatus = System.Diagnostics.Stopwatch.GetTimestamp();

    public int Failed { get; private set; }

    private static string Percent(long done, long size) =>
        size == 0 ? "100%" : (100.0 * done / size).ToString("0", System.Globalization.CultureInfo.InvariantCulture) + "%";

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
                case Warning warning:
                    writer.WriteLine($"warning: {warning.Message}");
                    break;
                case FileVerified { Status: VerifyStatus.Ok } when !verbose:
                    break;
                case FileVerified verified:
                    writer.WriteLine($"{verified.Status.ToString().ToLowerInvariant(),-8} {verified.Path}{(verified.Detail is null ? "" : $" ({verified.Detail})")}");
                    break;
                case WaitingForLock waiting:
                    writer.WriteLine($"Another hfdl is downloading into {waiting.Folder} ({waiting.Holder}); waiting for it to finish.");
                    break;
                case RevisionResolved resolved:
                    writer.WriteLine($"{resolved.RepoType.ToString().ToLowerInvariant()} {resolved.RepoId} at {resolved.Revision} = commit {resolved.Commit}");
                    break;
                case PlanReady plan:
                    writer.WriteLine($"{plan.TotalFiles} files, {Units.Bytes(plan.TotalBytes)}; to download: {plan.FilesToDownload} files, {Units.Bytes(plan.BytesToDownload)}; already verified: {plan.FilesAlreadyPresent}");
                    break;
                case FileCompleted done:
                    _bigFiles.Remove(done.Path);
                    var rate = done.Elapsed.TotalSeconds > 0 ? done.Size / done.Elapsed.TotalSeconds : 0;
                    writer.WriteLine($"done     {done.Path} ({Units.Bytes(done.Size)}, {Units.Rate(rate)}, verified)");
                    break;
                case FileSkipped skipped when skipped.Reason != "already downloaded and verified":
                    writer.WriteLine($"kept     {skipped.Path} ({skipped.Reason})");
                    break;
                case FileStarted { IsBig: true } big:
                    _bigFiles[big.Path] = (0, big.Size);
                    break;
                case FileProgress fileProgress when _bigFiles.ContainsKey(fileProgress.Path):
                    _bigFiles[fileProgress.Path] = (fileProgress.BytesDone, fileProgress.Size);
                    break;
                case TransferStats stats:
                    var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(_lastStatus);
                    if (elapsed >= (verbose ? VerboseStatusInterval : StatusInterval))
                    {
                        _lastStatus = System.Diagnostics.Stopwatch.GetTimestamp();
                        var files = string.Join(", ", _bigFiles.Select(f => $"{f.Key} {Percent(f.Value.Done, f.Value.Size)}"));
                        var perConnection = verbose && stats.PerConnectionBytesPerSecond.Count > 0
                            ? $" [{string.Join(" ", stats.PerConnectionBytesPerSecond.Select(r => (r / Units.MB).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)))} MB/s]"
                            : "";
                        writer.WriteLine($"status   {Units.Rate(stats.BytesPerSecond)} on {stats.Connections} connections (target {stats.TargetConnections}, {stats.Phase}){perConnection}; {files}");
                    }
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
