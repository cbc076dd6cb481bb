using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Downloads one small file: one <see cref="RangeFetch"/> (one request, resumed from the last byte after a fault)
/// into a temporary file beside its target, hashed as it arrives, then the <see cref="CommitStep"/>. While it arrives,
/// each save of the journal records how far it got (<see cref="Checkpoint"/>), and a failed or interrupted file keeps
/// its temporary file: the next run resumes it from there (<see cref="SmallFileResume"/>) instead of starting over.
/// </summary>
/// <param name="stoppedByFullDisk">Whether the run is stopping because the disk is full: then a cut file's partial data is
/// deleted (the space matters more, and the journal may not be saved), so the file starts over.</param>
internal sealed class FileFetcher(HubClient client, DownloadOptions options, RangeFetch fetch, CommitStep commit, ITransferJournal journal, Func<bool> stoppedByFullDisk, IProgress<DownloadEvent>? progress)
{
    private const string TempSuffix = ".hfdl-part";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<StreamTarget, (RemoteFile File, string TempPath)> _inFlight = new();

    public static bool IsTemporaryFile(string name) => name.EndsWith(TempSuffix, StringComparison.Ordinal);

    /// <summary>A fresh temporary name beside <paramref name="finalPath"/>: hidden, unique, never taken for a final file, within 255 bytes.</summary>
    public static string NewTempPath(string finalPath) => Storage.TempNames.Beside(finalPath, TempSuffix);

    /// <summary>
    /// Records how far every small file in flight has been written (called just before each save of the journal).
    /// A file that arrives between two saves is never recorded as partial: only the ones a kill could cut matter.
    /// </summary>
    public void Checkpoint()
    {
        foreach (var (target, (file, tempPath)) in _inFlight)
        {
            target.RecordProgress(written => journal.Partial(file, tempPath, [(0, written)]));
        }
    }

    /// <summary>
    /// Downloads <paramref name="file"/> to <paramref name="finalPath"/>: verified, committed and journaled, or reported
    /// as failed. With <paramref name="resume"/>, the first attempt continues the temporary file an earlier run left.
    /// </summary>
    public async Task FetchAsync(RepoType type, RepoId id, string commitId, RemoteFile file, string finalPath, SmallFileResume? resume, CancellationToken cancellationToken)
    {
        SafeFileSystem.CreateFolderFor(Path.GetDirectoryName(finalPath)!);
        if (Directory.Exists(finalPath))
        {
            throw new InTheWayException($"'{finalPath}' is a folder, but the repo has a file with that name. Move the folder away and run the same command again.");
        }
        var started = Stopwatch.GetTimestamp();
        var source = new ResolveUrlSource(client, type, id, commitId, file);
        var budget = RetryBudget.For(file.Path, file.Size, options.MaxRetries, options.Time);
        var buffer = ArrayPool<byte>.Shared.Rent(RangeFetch.BufferSize);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var temp = attempt == 1 && resume is not null ? resume.TempPath : NewTempPath(finalPath);
                var target = attempt == 1 && resume is not null
                    ? await StreamTarget.ResumeAsync(file, temp, resume.Written, options.ProgressInterval, progress, cancellationToken).ConfigureAwait(false)
                    : new StreamTarget(file, temp, options.ProgressInterval, progress);
                if (attempt == 1)
                {
                    // Reported once the temporary file is open: what a resume kept of it is known only then.
                    progress?.Report(new FileStarted(file.Path, file.Size, IsBig: false, ResumedBytes: target.Received));
                }
                _inFlight[target] = (file, temp);
                try
                {
                    CommitOutcome outcome;
                    try
                    {
                        if (target.Received < file.Size)
                        {
                            await fetch.FetchAsync(source, target, budget, buffer, null, cancellationToken).ConfigureAwait(false);
                        }
                    }
                    catch (IntegrityException problem)
                    {
                        target.Dispose();
                        outcome = commit.Reject(file, temp, attempt, problem);
                        if (outcome != CommitOutcome.FetchAgain)
                        {
                            return;
                        }
                        continue;
                    }
                    progress?.Report(new FileProgress(file.Path, target.Received, file.Size));
                    outcome = await commit.CommitAsync(file, temp, finalPath, target.Received, Task.FromResult(target.Digest()),
                        target.FlushToDiskAsync, _ => target.Dispose(), attempt, started).ConfigureAwait(false);
                    if (outcome != CommitOutcome.FetchAgain)
                    {
                        return;
                    }
                }
                catch (Exception failure)
                {
                    // Failed or interrupted (Ctrl+C, SIGTERM, retries spent): what arrived stays on disk and in the
                    // journal, so the next run continues from there. Not on a full disk (see stoppedByFullDisk).
                    var kept = false;
                    try
                    {
                        if (!TransientFaults.IsDiskFull(failure) && failure is not DiskFullException && !stoppedByFullDisk())
                        {
                            kept = target.RecordProgress(written => journal.Partial(file, temp, [(0, written)]));
                            journal.SaveSoon();
                        }
                    }
                    catch (IOException)
                    {
                        // Nothing recorded: the next run starts this file over, slower but never wrong.
                    }
                    target.Dispose();
                    if (!kept)
                    {
                        Storage.AtomicFile.TryDelete(temp);
                    }
                    throw;
                }
                finally
                {
                    _inFlight.TryRemove(target, out _);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>A small file's temporary file from an earlier run, and how many of its first bytes the journal vouches for.</summary>
internal sealed record SmallFileResume(string TempPath, long Written)
{
    /// <summary>
    /// From the journal's ranges: a small file is written in order, so only the range from byte 0 counts. Ranges a big
    /// file left (the threshold changed between runs) give their first one, when it starts at 0.
    /// </summary>
    public static SmallFileResume From(string tempPath, IEnumerable<(long Start, long End)> ranges) =>
        new(tempPath, ByteRanges.Normalize(ranges).FirstOrDefault(r => r.Start == 0).End);
}

/// <summary>A file written in order from its first byte and hashed as it is written: the target of a small file's fetch.</summary>
internal sealed class StreamTarget : IFetchTarget, IDisposable
{
    private readonly RemoteFile _file;
    private readonly FileStream _output;
    private readonly IncrementalHash _hasher;
    private readonly TimeSpan _progressInterval;
    private readonly IProgress<DownloadEvent>? _progress;
    private readonly object _lifetime = new();
    private long _lastReport = Stopwatch.GetTimestamp();
    private long _received;
    private long _recorded;
    private bool _closed;

    public StreamTarget(RemoteFile file, string path, TimeSpan progressInterval, IProgress<DownloadEvent>? progress)
        : this(file, SafeFileSystem.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous), progressInterval, progress)
    {
    }

    private StreamTarget(RemoteFile file, Microsoft.Win32.SafeHandles.SafeFileHandle handle, TimeSpan progressInterval, IProgress<DownloadEvent>? progress)
    {
        _file = file;
        _progressInterval = progressInterval;
        _progress = progress;
        _hasher = file.Hash.CreateHasher(file.Size);
        _output = new FileStream(handle, FileAccess.ReadWrite, bufferSize: 0, isAsync: true);
    }

    /// <summary>
    /// Reopens an earlier run's temporary file (never through a link), keeps its first <paramref name="written"/>
    /// bytes (at most what it holds), drops the rest, and hashes what it kept, so the fetch continues after them.
    /// </summary>
    public static async Task<StreamTarget> ResumeAsync(RemoteFile file, string path, long written, TimeSpan progressInterval, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken)
    {
        var handle = SafeFileSystem.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
        var target = new StreamTarget(file, handle, progressInterval, progress);
        try
        {
            var keep = Math.Clamp(written, 0, Math.Min(file.Size, RandomAccess.GetLength(handle)));
            target._output.SetLength(keep);
            var buffer = ArrayPool<byte>.Shared.Rent(1024 * 1024);
            try
            {
                for (long at = 0; at < keep;)
                {
                    var read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, keep - at)), at, cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }
                    target._hasher.AppendData(buffer, 0, read);
                    at += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            target._output.Position = keep;
            target._received = keep;
            target._recorded = keep;
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    public long Received => Interlocked.Read(ref _received);

    /// <summary>
    /// Gives what is written (in the page cache at least; it outlives a killed hfdl) to <paramref name="record"/> when
    /// it grew since the last record and the file is still open. Under the file's lock, so no record can land after
    /// the commit closed the file and the journal marked it complete. False when there is nothing to keep.
    /// </summary>
    public bool RecordProgress(Action<long> record)
    {
        lock (_lifetime)
        {
            var written = Received;
            if (_closed || written == 0)
            {
                return false;
            }
            if (written != _recorded)
            {
                record(written);
                _recorded = written;
            }
            return true;
        }
    }

    public long TotalSize => _file.Size;

    /// <summary>Each read is written as it arrives: one connection per file, so there is no lock to spare.</summary>
    public int GatherBytes => 0;

    public (long From, long End)? Wanted() => (Received, _file.Size);

    public async ValueTask<int> WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var count = (int)Math.Min(bytes.Length, _file.Size - Received);
        if (count <= 0)
        {
            return 0;
        }
        await _output.WriteAsync(bytes[..count], cancellationToken).ConfigureAwait(false);
        _hasher.AppendData(bytes.Span[..count]);
        Interlocked.Add(ref _received, count);
        if (_progress is not null && Stopwatch.GetElapsedTime(_lastReport) >= _progressInterval)
        {
            _lastReport = Stopwatch.GetTimestamp();
            _progress.Report(new FileProgress(_file.Path, Received, _file.Size));
        }
        return count;
    }

    /// <summary>The server ignored Range: throw away what arrived and take the whole body from byte 0.</summary>
    public bool RestartFromZero()
    {
        _output.SetLength(0);
        _output.Position = 0;
        _hasher.GetHashAndReset();
        if (_file.Hash.Kind == Integrity.HashKind.GitSha1)
        {
            _hasher.AppendData(Integrity.GitBlobHasher.Header(_file.Size));
        }
        Interlocked.Exchange(ref _received, 0);
        return true;
    }

    public string Digest() => Convert.ToHexStringLower(_hasher.GetHashAndReset());

    public async Task FlushToDiskAsync()
    {
        await _output.FlushAsync().ConfigureAwait(false);
        _output.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        lock (_lifetime)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            _output.Dispose();
            _hasher.Dispose();
        }
    }
}
