using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Transfer;

/// <summary>What the transfers tell the journal.</summary>
internal interface ITransferJournal
{
    /// <summary>These ranges of the temporary file are written: in the page cache at least, see <see cref="BigFileJob.Checkpoint"/>.</summary>
    void Partial(RemoteFile file, string tempPath, IReadOnlyList<(long Start, long End)> ranges);

    /// <summary>The file is verified and under its final name: record it and place it in the layout.</summary>
    void Completed(RemoteFile file, string finalPath, string digest, TimeSpan elapsed);

    void Failed(RemoteFile file, Exception exception);

    /// <summary>A temporary file was given up (hash mismatch): forget it.</summary>
    void Discarded(RemoteFile file);

    /// <summary>Something changed: save the journal soon (throttled, not durable).</summary>
    void SaveSoon();
}

/// <summary>How a commit ended.</summary>
internal enum CommitOutcome
{
    /// <summary>Verified, durable, under its final name, recorded and placed.</summary>
    Committed,

    /// <summary>The bytes did not verify on the first attempt: the temporary file is gone; fetch the whole file once more.</summary>
    FetchAgain,

    /// <summary>The bytes did not verify on the second attempt either: reported as failed.</summary>
    Failed,
}

/// <summary>
/// The one way fetched bytes become a file: the size and the hash are checked while the data is flushed to disk
/// (durable before it has its final name: after a power loss the final name holds the whole file or is absent), then
/// the temporary file is renamed atomically to the final name and the journal records and places it. A mismatch
/// deletes the temporary file; the first one asks for one more full attempt (a corrupting proxy or a flaky disk may do
/// better the second time), the second one is reported. Nothing unverified ever gets a final name.
/// </summary>
internal sealed class CommitStep(ITransferJournal journal, IProgress<DownloadEvent>? progress)
{
    /// <param name="received">Bytes the temporary file holds.</param>
    /// <param name="hashing">The digest of those bytes (may still be running: big files hash as they arrive).</param>
    /// <param name="flush">Makes the temporary file durable; runs alongside <paramref name="hashing"/>.</param>
    /// <param name="close">Closes the temporary file before it is renamed or deleted, told whether it verified. Not called when this throws
    /// (cancelled, or the disk failed): the caller still records what the file holds, so a rerun resumes it.</param>
    /// <param name="attempt">1, or 2 for the full attempt after a mismatch.</param>
    /// <param name="onVerified">Told as soon as the hash matched, before the flush ends (readers that follow the file).</param>
    public async Task<CommitOutcome> CommitAsync(
        RemoteFile file, string tempPath, string finalPath, long received, Task<string> hashing, Func<Task> flush, Action<bool> close, int attempt, long startedAt, Action? onVerified = null)
    {
        if (received != file.Size)
        {
            close(false);
            return Mismatch(file, tempPath, attempt, $"'{file.Path}' arrived with {received} bytes, but the Hub lists {file.Size}");
        }
        // The flush (on a big file what arrived since the last writeback, ~100 ms of data) runs while the hash reads
        // the last segments back; the rename waits for both. On a mismatch the flush was wasted, which is rare.
        var flushing = Task.Run(flush);
        if (onVerified is not null)
        {
            try
            {
                if (await hashing.ConfigureAwait(false) == file.Hash.Hex)
                {
                    onVerified();
                }
            }
            catch (Exception) when (hashing.IsFaulted || hashing.IsCanceled)
            {
                // Rethrown below, once the flush has ended too.
            }
        }
        await Task.WhenAll(hashing, flushing).ConfigureAwait(false);
        var digest = await hashing.ConfigureAwait(false);
        var verified = digest == file.Hash.Hex;
        close(verified);
        if (!verified)
        {
            return Mismatch(file, tempPath, attempt,
                $"'{file.Path}' arrived with {(file.Hash.Kind == Integrity.HashKind.Sha256 ? "sha256" : "git sha1")} {digest}, but the Hub lists {file.Hash.Hex}");
        }
        File.Move(tempPath, finalPath, overwrite: true);
        journal.Completed(file, finalPath, digest, System.Diagnostics.Stopwatch.GetElapsedTime(startedAt));
        return CommitOutcome.Committed;
    }

    /// <summary>
    /// The transfer itself proved the bytes wrong (a server announced another size than the Hub lists): handled like
    /// a hash mismatch. The caller has closed the temporary file.
    /// </summary>
    public CommitOutcome Reject(RemoteFile file, string tempPath, int attempt, IntegrityException problem) =>
        Mismatch(file, tempPath, attempt, problem.Message.TrimEnd('.'));

    private CommitOutcome Mismatch(RemoteFile file, string tempPath, int attempt, string what)
    {
        AtomicFile.TryDelete(tempPath);
        journal.Discarded(file);
        if (attempt == 1)
        {
            progress?.Report(new FileRetrying(file.Path, 2, "content did not match the expected size or hash; downloading it again", TimeSpan.Zero));
            return CommitOutcome.FetchAgain;
        }
        journal.Failed(file, new IntegrityException(file.Path, $"{what}, twice. The corrupt copies were deleted; nothing was put under the final name."));
        return CommitOutcome.Failed;
    }
}
