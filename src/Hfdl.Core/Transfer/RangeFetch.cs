using System.Net;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Polly;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Where the bytes of a fetch come from: a URL that may be resolved, reused, refused (a signed URL expired) and
/// resolved again. The Hub's resolve URL of a file today; a Xet term's presigned URL later.
/// </summary>
internal interface IFetchSource
{
    /// <summary>What is fetched (a repo path), for messages and progress.</summary>
    string Path { get; }

    /// <summary>Who is asked, for error messages and the token policy.</summary>
    HubRequestContext Context { get; }

    ValueTask<Uri> GetUrlAsync(CancellationToken cancellationToken);

    /// <summary>A host other than the endpoint refused <paramref name="refused"/> with 403 (signed URLs expire): do not hand it out again.</summary>
    void Invalidate(Uri refused);

    /// <summary>
    /// Whether the Hub token may go with the request (to the endpoint's origin only, as always). False for URLs signed
    /// by someone else (Xet xorb ranges): they carry their own authorisation and get no token, whatever their host.
    /// </summary>
    bool SendsHubToken => true;

    /// <summary>
    /// What a URL signed by a storage service fetches (a Xet xorb range), for its error answers: they are that storage's,
    /// not the Hub's, and name its host. Null for the Hub's URLs (and the CDN it redirects to).
    /// </summary>
    string? Storage => null;
}

/// <summary>
/// Where the bytes of a fetch go, and which bytes are still wanted. The wanted range can change while a fetch runs:
/// its start moves as bytes are written, its end shrinks when another connection steals the tail.
/// </summary>
internal interface IFetchTarget
{
    /// <summary>
    /// The size of the whole resource; a Content-Range total or a whole body must match it. <see cref="RangeFetch.UnknownSize"/>
    /// for a resource whose size the client does not know (a xorb): then only a 206 for exactly the wanted range is accepted.
    /// </summary>
    long TotalSize { get; }

    /// <summary>Reads are gathered into writes of at least this many bytes (0: each read is written as it arrives).</summary>
    int GatherBytes { get; }

    /// <summary>The bytes still wanted, <c>[From, End)</c> (empty when done), or null when the target went stale.</summary>
    (long From, long End)? Wanted();

    /// <summary>
    /// Writes <paramref name="bytes"/> at the current position. Returns how many were taken: fewer than given means the
    /// target wants no more (its end shrank, or it went stale).
    /// </summary>
    ValueTask<int> WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken);

    /// <summary>The server ignored Range and sends everything from byte 0: start over from there, or return false to refuse.</summary>
    bool RestartFromZero();

    /// <summary>
    /// An attempt starts (the first, or a retry). A target whose range must be asked for exactly as it was signed (a Xet
    /// xorb range cannot be resumed from its middle) moves its <see cref="Wanted"/> start back here.
    /// </summary>
    void BeginAttempt()
    {
    }

    /// <summary>
    /// A <c>Range</c> header to send exactly as it is, naming several ranges (a signed Xet URL's, which authorises those
    /// and no other); null for the usual single range from <see cref="Wanted"/>. The answer must then be a 206
    /// <c>multipart/byteranges</c>: its boundary goes to <see cref="BeginMultipart"/>, its raw body to
    /// <see cref="WriteAsync"/>, which reads the parts.
    /// </summary>
    string? ExactRanges => null;

    /// <summary>A multipart answer to <see cref="ExactRanges"/> begins, with this boundary.</summary>
    void BeginMultipart(string boundary)
    {
    }
}

/// <summary>How a fetch ended (failures are exceptions).</summary>
internal enum FetchOutcome
{
    /// <summary>Every wanted byte is written.</summary>
    Done,

    /// <summary>The target went stale (its file restarted or failed): the bytes are not wanted any more.</summary>
    Stale,
}

/// <summary>
/// The one transfer of hfdl: fetches the bytes a target wants from a source, retrying transient faults. Small files,
/// big-file segments and (later) Xet terms all go through it. Per attempt:
/// <list type="bullet">
/// <item>one timer on the injected <see cref="TimeProvider"/> bounds the connect, the request and the wait for the
/// response headers, then every read of the body (re-armed cheaply as bytes flow): a server that accepts a request
/// and never answers, or stops sending, is dropped after the read timeout;</item>
/// <item>a ranged request must be answered with 206 and exactly that range start and total, or with 200 and the whole
/// body (the server ignored Range: the target decides whether to start over from byte 0); a Content-Length must match;</item>
/// <item>a 403 from a host other than the endpoint invalidates the source's URL (signed URLs expire);</item>
/// <item>bytes pass the shared bandwidth cap and are counted for the connection controller.</item>
/// </list>
/// Retries: Polly's backoff (a 429's <c>RateLimit</c>/<c>Retry-After</c> honoured) for up to
/// <see cref="DownloadOptions.MaxRetries"/> attempts in a row; an attempt that delivered a meaningful amount before
/// failing (<see cref="RetryBudget.IsMeaningful"/>) starts a fresh run of attempts; and every failure counts against
/// the file's <see cref="RetryBudget"/>, so a server that always sends a few bytes cannot keep a file retrying for ever.
/// </summary>
internal sealed class RangeFetch
{
    public const int BufferSize = 256 * 1024;

    /// <summary>The <see cref="IFetchTarget.TotalSize"/> of a resource whose size is not known.</summary>
    public const long UnknownSize = -1;

    private readonly HubClient _client;
    private readonly TimeProvider _time;
    private readonly TimeSpan _readTimeout;
    private readonly BandwidthLimiter? _limiter;
    private readonly ResiliencePipeline _retry;
    private long _bytesReceived;

    public RangeFetch(HubClient client, DownloadOptions options, BandwidthLimiter? limiter, IProgress<DownloadEvent>? progress)
    {
        _client = client;
        _time = options.Time;
        _readTimeout = client.Options.ReadTimeout;
        _limiter = limiter;
        _retry = TransientFaults.CreateRetryPipeline(options, progress);
    }

    /// <summary>Body bytes received over the network by every fetch so far (retried bytes included): what the run cost the network.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>
    /// Fetches what <paramref name="target"/> wants from <paramref name="source"/>, through <paramref name="buffer"/>
    /// (at least <see cref="BufferSize"/> bytes). <paramref name="onReceived"/> sees every read, before it is written.
    /// </summary>
    public async Task<FetchOutcome> FetchAsync(IFetchSource source, IFetchTarget target, RetryBudget budget, byte[] buffer, Action<int>? onReceived, CancellationToken cancellationToken)
    {
        var reached = new HighWater();
        while (true)
        {
            var streak = new Streak();
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            context.Properties.Set(TransientFaults.PathKey, source.Path);
            try
            {
                var outcome = await _retry.ExecuteAsync(
                    async ctx => await AttemptCountedAsync(source, target, budget, streak, reached, buffer, onReceived, ctx.CancellationToken).ConfigureAwait(false),
                    context).ConfigureAwait(false);
                if (outcome is { } ended)
                {
                    return ended;
                }
                // An attempt delivered a meaningful amount and then failed: a fresh run of attempts, at once.
            }
            catch (Exception ex) when (streak.Delivered > 0 && ex is TransferStalledException or TruncatedBodyException or IOException or HttpRequestException
                && TransientFaults.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                // Polly gave up on attempts that each delivered a little: say so, rather than only how the last one ended.
                throw new TransferCutShortException(source.Path, streak.Attempts, streak.Delivered, ex);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>How far into the target the attempts of one fetch have written: bytes before it are not new.</summary>
    private sealed class HighWater
    {
        public long Position;
    }

    /// <summary>Attempts that failed in a row without a meaningful delivery.</summary>
    private sealed class Streak
    {
        public int Attempts;
        public long Delivered;

        /// <summary>What was wanted when the streak began: meaningful is measured against it, not against the remainder
        /// (which shrinks with every little delivery until a little is "half of what was asked").</summary>
        public long Asked;
    }

    /// <summary>
    /// One attempt, with its failure counted against the file's budget. Returns the outcome, or null after a failure
    /// that came after a meaningful delivery (the caller starts a fresh run of attempts); throws otherwise.
    /// </summary>
    private async Task<FetchOutcome?> AttemptCountedAsync(IFetchSource source, IFetchTarget target, RetryBudget budget, Streak streak, HighWater reached, byte[] buffer, Action<int>? onReceived, CancellationToken cancellationToken)
    {
        var attempt = new Attempt();
        try
        {
            return await AttemptAsync(source, target, attempt, buffer, onReceived, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (TransientFaults.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
        {
            budget.CountFailure(ex);
            if (streak.Attempts == 0)
            {
                streak.Asked = attempt.Asked;
            }
            // Only bytes past where earlier attempts got to count as progress: a server that answers a resumed range
            // with the whole file and cuts it where the last one did, or a range that must be fetched whole again (a
            // Xet unit) answered a few bytes short each time, "delivers" megabytes that were had already, and was
            // retried at once, without a pause, dozens to hundreds of times a second.
            var attemptEnd = attempt.Start + attempt.Delivered;
            var progress = Math.Max(0, attemptEnd - Math.Max(attempt.Start, reached.Position));
            reached.Position = Math.Max(reached.Position, attemptEnd);
            if (RetryBudget.IsMeaningful(progress, streak.Asked))
            {
                return null;
            }
            streak.Attempts++;
            streak.Delivered += progress;
            throw;
        }
    }

    private sealed class Attempt
    {
        public long Asked;
        public long Delivered;

        /// <summary>Where in the target the attempt's first byte went: where it asked from, or 0 when the server ignored Range.</summary>
        public long Start;
    }

    private async Task<FetchOutcome?> AttemptAsync(IFetchSource source, IFetchTarget target, Attempt attempt, byte[] buffer, Action<int>? onReceived, CancellationToken cancellationToken)
    {
        target.BeginAttempt();
        if (target.Wanted() is not var (from, end))
        {
            return FetchOutcome.Stale;
        }
        if (from >= end)
        {
            return FetchOutcome.Done;
        }
        var total = target.TotalSize;
        attempt.Asked = end - from;
        attempt.Start = from;
        var url = await source.GetUrlAsync(cancellationToken).ConfigureAwait(false);
        var unknownSize = total == UnknownSize;
        var exactRanges = target.ExactRanges;
        var ranged = unknownSize || from > 0 || end < total;

        // One timer for the whole attempt: armed now, it bounds the connect, the request and the wait for the headers
        // (a CDN that accepts a request and never answers); then the watchdog re-arms it as the body flows.
        using var timeout = new CancellationTokenSource(_readTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        HttpResponseMessage answer;
        try
        {
            answer = await _client.SendFileRequestAsync(url, from, unknownSize || end < total ? end - 1 : null, source.Context, linked.Token, source.SendsHubToken, exactRanges).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransferStalledException(source.Path, _readTimeout, "no response");
        }
        catch (Exception ex) when (ex is HubUnreachableException or HttpRequestException && !HubUrls.IsSameOrigin(url, _client.Endpoint))
        {
            // A CDN that cannot be reached may have moved (a restarted one on another port, another edge): the next
            // attempt asks the Hub where the file is again, instead of retrying a dead address until the run fails.
            source.Invalidate(url);
            throw;
        }
        using var response = answer;
        var finalUri = response.RequestMessage?.RequestUri ?? url;
        if (!response.IsSuccessStatusCode)
        {
            if (response.StatusCode == HttpStatusCode.Forbidden && !HubUrls.IsSameOrigin(finalUri, _client.Endpoint))
            {
                source.Invalidate(url);
                throw new ExpiredDownloadUrlException(source.Path, response.StatusCode);
            }
            throw source.Storage is { } what
                ? await HubErrorMapper.CreateStorageAsync(response, $"The Xet storage at {HubUrls.Display(finalUri, UriPartial.Authority)}", what, cancellationToken).ConfigureAwait(false)
                : HubUrls.IsSameOrigin(finalUri, _client.Endpoint)
                    ? await HubErrorMapper.CreateAsync(response, source.Context, cancellationToken).ConfigureAwait(false)
                    // The CDN the Hub redirected to answered, not the Hub: a 404 there is a storage object gone
                    // missing, not a wrong name, and a 5xx is the CDN's trouble, not the Hub's.
                    : await HubErrorMapper.CreateStorageAsync(response, $"The download server {HubUrls.Display(finalUri, UriPartial.Authority)}, where the Hub sent hfdl for it,", $"'{source.Path}' of {source.Context.Describe()}", cancellationToken, listedFile: true).ConfigureAwait(false);
        }
        // Where the body starts and ends in the resource: it must not run past its end (with no Content-Length a
        // server could send anything after the bytes it owes).
        var bodyAt = from;
        long bodyEnd;
        if (response.StatusCode == HttpStatusCode.PartialContent && exactRanges is not null)
        {
            // Several ranges: one multipart body, read by the target; it knows when the last part has come.
            var boundary = Xet.MultipartByteRanges.Boundary(response.Content.Headers.ContentType?.ToString())
                ?? throw new HubProtocolException($"The server answered the request for bytes {exactRanges[6..]} of '{source.Path}' without a multipart/byteranges body ({HubClient.Describe(response)}).");
            target.BeginMultipart(boundary);
            bodyEnd = response.Content.Headers.ContentLength is { } length ? from + length : long.MaxValue;
        }
        else if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            bodyEnd = CheckPartial(response, source.Path, from, end, total) + 1;
        }
        else if (unknownSize)
        {
            throw new HubProtocolException($"The server ignored the range request for bytes {from}-{end - 1} of '{source.Path}' and sent another answer ({HubClient.Describe(response)}).");
        }
        else
        {
            bodyAt = 0;
            bodyEnd = total;
            if (response.Content.Headers.ContentLength is { } length && length != total)
            {
                throw new IntegrityException(source.Path, $"The server announced {length} bytes for '{source.Path}', but the Hub lists {total}; hfdl refuses the mismatch.");
            }
            if (ranged)
            {
                // The server ignored Range and sends the whole body.
                if (!target.RestartFromZero())
                {
                    throw new HubProtocolException($"The server ignored the range request for bytes {from}-{end - 1} of '{source.Path}' and sent the whole body.");
                }
                attempt.Asked = total;
                attempt.Start = 0;
            }
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var watchdog = new StallWatchdog(timeout, _readTimeout, _time);
        var filled = 0;
        var received = 0L;
        while (true)
        {
            watchdog.Arm(received);
            int read;
            try
            {
                read = await body.ReadAsync(buffer.AsMemory(filled, BufferSize - filled), linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                // Keep what arrived before the connection failed; then the retry resumes after it.
                await WriteGatheredAsync(target, buffer, filled, attempt, cancellationToken).ConfigureAwait(false);
                if (ex is OperationCanceledException)
                {
                    throw new TransferStalledException(source.Path, _readTimeout, watchdog.Shortfall(received));
                }
                throw;
            }
            if (read > 0)
            {
                received += read;
                bodyAt += read;
                if (bodyAt > bodyEnd)
                {
                    throw new IntegrityException(source.Path, bodyEnd == total
                        ? $"The server sent more than the {total} bytes the Hub lists for '{source.Path}'; hfdl refuses the extra data."
                        : $"The server sent more than the bytes {from}-{bodyEnd - 1} of '{source.Path}' it announced; hfdl refuses the extra data.");
                }
                filled += read;
                Interlocked.Add(ref _bytesReceived, read);
                onReceived?.Invoke(read);
                if (_limiter is not null)
                {
                    await _limiter.ConsumeAsync(read, cancellationToken).ConfigureAwait(false);
                }
            }
            if (filled > 0 && (read == 0 || filled >= target.GatherBytes || (target.Wanted() is var (at, wantedEnd) && at + filled >= wantedEnd)))
            {
                if (!await WriteGatheredAsync(target, buffer, filled, attempt, cancellationToken).ConfigureAwait(false))
                {
                    // The wanted range shrank under us (its tail was stolen) or went stale: this connection is done with it.
                    return target.Wanted() is null ? FetchOutcome.Stale : FetchOutcome.Done;
                }
                filled = 0;
            }
            if (read == 0)
            {
                break;
            }
        }
        if (target.Wanted() is not var (position, wanted))
        {
            return FetchOutcome.Stale;
        }
        if (position >= wanted)
        {
            return FetchOutcome.Done;
        }
        throw new TruncatedBodyException($"The server ended the body of '{source.Path}' at byte {position} instead of {wanted}.");
    }

    /// <summary>Writes the gathered bytes; false when the target took fewer (it wants no more).</summary>
    private static async ValueTask<bool> WriteGatheredAsync(IFetchTarget target, byte[] buffer, int filled, Attempt attempt, CancellationToken cancellationToken)
    {
        if (filled == 0)
        {
            return true;
        }
        var taken = await target.WriteAsync(buffer.AsMemory(0, filled), cancellationToken).ConfigureAwait(false);
        attempt.Delivered += taken;
        return taken == filled;
    }

    /// <summary>
    /// A 206 must start where asked, end inside what was asked, and give the resource's size as its total: anything
    /// else is refused (the bytes would land in the wrong place, or belong to another file). A Content-Length that
    /// disagrees with its own Content-Range is a broken answer, tried again.
    /// </summary>
    /// <returns>The last byte of the answer.</returns>
    private static long CheckPartial(HttpResponseMessage response, string path, long from, long end, long total)
    {
        var range = response.Content.Headers.ContentRange;
        if (range is null || range.From != from || range.To is not { } to || to < from || to >= end || (range.Length is { } size && total != UnknownSize && size != total))
        {
            throw new HubProtocolException(
                $"The server answered the range request for bytes {from}-{end - 1} of '{path}' with the wrong range ({range?.ToString() ?? "none"}{(total == UnknownSize ? "" : $"; the file has {total} bytes")}).");
        }
        if (response.Content.Headers.ContentLength is { } length && length != to - from + 1)
        {
            throw new TruncatedBodyException($"The server's answer for bytes {from}-{to} of '{path}' announced {length} bytes instead of {to - from + 1}.");
        }
        return to;
    }
}

/// <summary>
/// How many times one file may fail in one run. Every failed attempt of any of its connections counts; the bound
/// grows with the file's size (a long transfer meets more real faults), so only a server that keeps breaking
/// transfers reaches it.
/// </summary>
internal sealed class RetryBudget(string path, int limit, TimeProvider? time = null)
{
    /// <summary>An attempt that delivered this much (or half of what it asked for) before failing was real progress.</summary>
    public const long MeaningfulBytes = 1024 * 1024;

    /// <summary>
    /// Failures closer together than this are one event: when a server restarts, every connection of the file fails at
    /// once, and forty segments counting forty failures each second spent the whole budget on a blip of one second.
    /// </summary>
    public static readonly TimeSpan SameEvent = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private long? _lastCounted;
    private int _failures;

    public static RetryBudget For(string path, long size, int maxRetries, TimeProvider? time = null) =>
        new(path, (10 * (Math.Max(0, maxRetries) + 1)) + (int)Math.Min(100_000, size / (64L * 1024 * 1024)), time);

    public int Limit => limit;

    public int Failures => Volatile.Read(ref _failures);

    public static bool IsMeaningful(long delivered, long asked) => delivered >= Math.Min(MeaningfulBytes, Math.Max(1, asked / 2));

    /// <summary>
    /// Counts a failed attempt, unless one was counted less than <see cref="SameEvent"/> ago; throws
    /// <see cref="RetryBudgetExhaustedException"/> past the limit.
    /// </summary>
    public void CountFailure(Exception failure)
    {
        int failures;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (_lastCounted is { } last && _time.GetElapsedTime(last, now) < SameEvent)
            {
                return;
            }
            _lastCounted = now;
            failures = ++_failures;
        }
        if (failures > limit)
        {
            throw new RetryBudgetExhaustedException(path, failures, failure);
        }
    }
}

/// <summary>A file failed more often in one run than its <see cref="RetryBudget"/> allows.</summary>
internal sealed class RetryBudgetExhaustedException(string path, int failures, Exception last)
    : HfdlException($"'{path}' failed {failures} times in this run, although some of its transfers delivered data; hfdl gave up on it, so that a server that keeps breaking transfers cannot hold the download for ever. The last failure: {TransientFaults.Describe(last).TrimEnd('.')}. Run the same command again to retry it.", last);

/// <summary>Attempts in a row each delivered only a few bytes before the server cut them (or stopped sending).</summary>
internal sealed class TransferCutShortException(string path, int attempts, long delivered, Exception last)
    : HfdlException($"The server kept cutting the transfer of '{path}' short: {attempts} attempts in a row delivered {delivered:N0} bytes in all, too little to count as progress, so hfdl gave up on this file. The last attempt: {TransientFaults.Describe(last).TrimEnd('.')}. Run the same command again to retry it.", last);
