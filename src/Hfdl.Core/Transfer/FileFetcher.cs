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
/// into a unique temporary file beside its target, hashed as it arrives, then the <see cref="CommitStep"/>.
/// </summary>
internal sealed class FileFetcher(HubClient client, DownloadOptions options, RangeFetch fetch, CommitStep commit, IProgress<DownloadEvent>? progress)
{
    private const string TempSuffix = ".hfdl-part";

    public static bool IsTemporaryFile(string name) => name.EndsWith(TempSuffix, StringComparison.Ordinal);

    /// <summary>A fresh temporary name beside <paramref name="finalPath"/>: hidden, unique, never taken for a final file.</summary>
    public static string NewTempPath(string finalPath) =>
        Path.Combine(Path.GetDirectoryName(finalPath)!, $".{Path.GetFileName(finalPath)}.{RandomNumberGenerator.GetHexString(8, lowercase: true)}{TempSuffix}");

    /// <summary>Downloads <paramref name="file"/> to <paramref name="finalPath"/>: verified, committed and journaled, or reported as failed.</summary>
    public async Task FetchAsync(RepoType type, RepoId id, string commitId, RemoteFile file, string finalPath, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
        if (Directory.Exists(finalPath))
        {
            throw new HfdlException($"'{finalPath}' is a folder, but the repo has a file with that name. Move the folder away and run the same command again.");
        }
        var started = Stopwatch.GetTimestamp();
        var source = new ResolveUrlSource(client, type, id, commitId, file);
        var budget = RetryBudget.For(file.Path, file.Size, options.MaxRetries);
        var buffer = ArrayPool<byte>.Shared.Rent(RangeFetch.BufferSize);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var temp = NewTempPath(finalPath);
                var target = new StreamTarget(file, temp, options.ProgressInterval, progress);
                try
                {
                    CommitOutcome outcome;
                    try
                    {
                        await fetch.FetchAsync(source, target, budget, buffer, null, cancellationToken).ConfigureAwait(false);
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
                catch
                {
                    target.Dispose();
                    Storage.AtomicFile.TryDelete(temp);
                    throw;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>A file written in order from its first byte and hashed as it is written: the target of a small file's fetch.</summary>
internal sealed class StreamTarget : IFetchTarget, IDisposable
{
    private readonly RemoteFile _file;
    private readonly FileStream _output;
    private readonly IncrementalHash _hasher;
    private readonly TimeSpan _progressInterval;
    private readonly IProgress<DownloadEvent>? _progress;
    private long _lastReport = Stopwatch.GetTimestamp();

    public StreamTarget(RemoteFile file, string path, TimeSpan progressInterval, IProgress<DownloadEvent>? progress)
    {
        _file = file;
        _progressInterval = progressInterval;
        _progress = progress;
        _hasher = file.Hash.CreateHasher(file.Size);
        _output = SafeFileSystem.Open(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
            Options = FileOptions.Asynchronous,
        });
    }

    public long Received { get; private set; }

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
        Received += count;
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
        Received = 0;
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
        _output.Dispose();
        _hasher.Dispose();
    }
}
