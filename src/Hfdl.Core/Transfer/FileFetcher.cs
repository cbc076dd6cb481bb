using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Polly;
using Polly.Retry;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Downloads one file: streams it into a unique temporary file beside its target while hashing, checks size and hash,
/// and only then renames it to its final name. Transient faults resume from the last byte received.
/// </summary>
internal sealed class FileFetcher
{
    private const int BufferSize = 256 * 1024;
    private const string TempSuffix = ".hfdl-part";

    private readonly HubClient _client;
    private readonly DownloadOptions _options;
    private readonly ResiliencePipeline _retry;
    private readonly IProgress<DownloadEvent>? _progress;
    private readonly BandwidthLimiter? _limiter;

    public FileFetcher(HubClient client, DownloadOptions options, BandwidthLimiter? limiter, IProgress<DownloadEvent>? progress)
    {
        _client = client;
        _options = options;
        _limiter = limiter;
        _progress = progress;
        _retry = TransientFaults.CreateRetryPipeline(options, progress);
    }

    private static ResiliencePropertyKey<string> PathKey => TransientFaults.PathKey;

    public static bool IsTemporaryFile(string name) => name.EndsWith(TempSuffix, StringComparison.Ordinal);

    /// <summary>Downloads <paramref name="file"/> to <paramref name="finalPath"/>; returns the verified hash.</summary>
    public async Task<string> FetchAsync(RepoType type, RepoId id, string commit, RemoteFile file, string finalPath, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(finalPath)!;
        Directory.CreateDirectory(directory);
        if (Directory.Exists(finalPath))
        {
            throw new HfdlException($"'{finalPath}' is a folder, but the repo has a file with that name. Move the folder away and run the same command again.");
        }

        // One more full attempt when the bytes arrived but did not verify: a corrupting proxy or a flaky disk may
        // do better the second time. A second mismatch is reported.
        for (var integrityAttempt = 1; ; integrityAttempt++)
        {
            var temp = Path.Combine(directory, $".{Path.GetFileName(finalPath)}.{RandomNumberGenerator.GetHexString(8, lowercase: true)}{TempSuffix}");
            try
            {
                var digest = await DownloadToAsync(type, id, commit, file, temp, cancellationToken).ConfigureAwait(false);
                if (digest != file.Hash.Hex)
                {
                    throw new IntegrityException(file.Path,
                        $"'{file.Path}' arrived with {(file.Hash.Kind == Integrity.HashKind.Sha256 ? "sha256" : "git sha1")} {digest}, but the Hub lists {file.Hash.Hex}. The corrupt copy was deleted; nothing was put under the final name.");
                }
                File.Move(temp, finalPath, overwrite: true);
                return digest;
            }
            catch (IntegrityException) when (integrityAttempt == 1)
            {
                AtomicFile.TryDelete(temp);
                _progress?.Report(new FileRetrying(file.Path, 2, "content did not match the expected hash", TimeSpan.Zero));
            }
            catch
            {
                AtomicFile.TryDelete(temp);
                throw;
            }
        }
    }

    private async Task<string> DownloadToAsync(RepoType type, RepoId id, string commit, RemoteFile file, string temp, CancellationToken cancellationToken)
    {
        var url = HubUrls.Resolve(_client.Endpoint, type, id, commit, file.Path);
        var context = _client.Context(type, id, commit, file.Path);
        using var hasher = file.Hash.CreateHasher(file.Size);
        var fileOptions = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
            Options = FileOptions.Asynchronous,
            // Reserving the space up front makes a full disk fail now, not after gigabytes.
            PreallocationSize = file.Size >= _options.BigFileThreshold ? file.Size : 0,
        };
        await using var output = SafeFileSystem.Open(temp, fileOptions);
        var state = new TransferState();
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            // Each pass runs with a fresh retry budget; a pass ends early (without an exception) after an attempt that
            // delivered bytes and then failed, so the budget resets whenever data flows again.
            var passes = 0;
            while (true)
            {
                var context2 = ResilienceContextPool.Shared.Get(cancellationToken);
                context2.Properties.Set(PathKey, file.Path);
                try
                {
                    var finished = await _retry.ExecuteAsync(
                        async ctx => await TryTransferAsync(url, context, file, output, hasher, state, buffer, ctx.CancellationToken).ConfigureAwait(false),
                        context2).ConfigureAwait(false);
                    if (finished)
                    {
                        break;
                    }
                }
                finally
                {
                    ResilienceContextPool.Shared.Return(context2);
                }
                if (++passes > 10_000)
                {
                    throw new HubProtocolException($"The transfer of '{file.Path}' kept breaking after delivering a few bytes; hfdl gave up.");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (state.Received != file.Size)
        {
            throw new IntegrityException(file.Path, $"'{file.Path}' arrived with {state.Received} bytes, but the Hub lists {file.Size}.");
        }
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        output.Flush(flushToDisk: true);
        return Convert.ToHexStringLower(hasher.GetHashAndReset());
    }

    private sealed class TransferState
    {
        public long Received;
        public long LastReport = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// One attempt: request the bytes from <see cref="TransferState.Received"/> on and stream them. Returns true when
    /// the file is complete, false when bytes flowed and then the connection failed (the caller starts a new pass).
    /// Throws for failures before any byte flowed, so the retry strategy backs off.
    /// </summary>
    private async Task<bool> TryTransferAsync(Uri url, HubRequestContext context, RemoteFile file, FileStream output, IncrementalHash hasher, TransferState state, byte[] buffer, CancellationToken cancellationToken)
    {
        if (state.Received == file.Size && file.Size > 0)
        {
            return true;
        }
        var startedAt = state.Received;
        // The read timeout covers the wait for the answer's headers too: a server that accepts the connection and then
        // says nothing would otherwise hold this transfer forever.
        HttpResponseMessage answer;
        using (var headers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            headers.CancelAfter(_client.Options.ReadTimeout);
            try
            {
                answer = await _client.SendFileRequestAsync(url, state.Received, null, context, headers.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TransferStalledException(file.Path, _client.Options.ReadTimeout);
            }
        }
        using var response = answer;
        var finalUri = response.RequestMessage?.RequestUri ?? url;
        if (!response.IsSuccessStatusCode)
        {
            if (response.StatusCode == HttpStatusCode.Forbidden && !HubUrls.IsSameOrigin(finalUri, _client.Endpoint))
            {
                throw new ExpiredDownloadUrlException(file.Path, response.StatusCode);
            }
            throw await HubErrorMapper.CreateAsync(response, context, cancellationToken).ConfigureAwait(false);
        }

        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            var range = response.Content.Headers.ContentRange;
            if (range is null || range.From != state.Received || (range.Length is { } total && total != file.Size))
            {
                throw new HubProtocolException($"The server answered the range request for '{file.Path}' with the wrong range ({range?.ToString() ?? "none"}).");
            }
        }
        else
        {
            if (state.Received > 0)
            {
                // The server ignored Range: start this file again from its first byte.
                output.SetLength(0);
                output.Position = 0;
                hasher.GetHashAndReset();
                if (file.Hash.Kind == Integrity.HashKind.GitSha1)
                {
                    hasher.AppendData(Integrity.GitBlobHasher.Header(file.Size));
                }
                state.Received = 0;
                startedAt = 0;
            }
            if (response.Content.Headers.ContentLength is { } length && length != file.Size)
            {
                throw new IntegrityException(file.Path, $"The server announced {length} bytes for '{file.Path}', but the Hub lists {file.Size}; hfdl refuses the mismatch.");
            }
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watchdog = new StallWatchdog(stall, _client.Options.ReadTimeout);
        try
        {
            while (true)
            {
                watchdog.Arm();
                var read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                if (state.Received + read > file.Size)
                {
                    throw new IntegrityException(file.Path, $"The server sent more than the {file.Size} bytes the Hub lists for '{file.Path}'; hfdl refuses the extra data.");
                }
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                hasher.AppendData(buffer, 0, read);
                state.Received += read;
                ReportProgress(file, state);
                if (_limiter is not null)
                {
                    await _limiter.ConsumeAsync(read, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (state.Received > startedAt)
            {
                return false;
            }
            throw new TransferStalledException(file.Path, _client.Options.ReadTimeout);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException && !TransientFaults.IsDiskFull(ex) && state.Received > startedAt)
        {
            return false;
        }
        if (state.Received < file.Size)
        {
            if (state.Received > startedAt)
            {
                return false;
            }
            throw new TruncatedBodyException($"The server ended the body of '{file.Path}' after {state.Received} of {file.Size} bytes.");
        }
        _progress?.Report(new FileProgress(file.Path, state.Received, file.Size));
        return true;
    }

    private void ReportProgress(RemoteFile file, TransferState state)
    {
        if (_progress is null)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(state.LastReport, now) >= _options.ProgressInterval)
        {
            state.LastReport = now;
            _progress.Report(new FileProgress(file.Path, state.Received, file.Size));
        }
    }
}
