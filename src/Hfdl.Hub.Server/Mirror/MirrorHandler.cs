using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Hub.Server;

namespace Hfdl.Hub.Mirror;

/// <summary>
/// The mirror's listener. File bytes are the mirror's own: <c>/resolve/</c> answers, as the Hub does, with a relative
/// 307 to <c>/api/resolve-cache/{type}/{id}/{commit}/{path}</c>, which serves the stored blob, or the upstream transfer
/// that is filling it, with the hub's own handler (<see cref="HubHandler"/>: the same headers, ranges and errors). The
/// API (repo info, tree pages, paths-info, refs, whoami, anything else) passes through to the upstream with the
/// client's token; when the upstream cannot be reached, what the store holds is answered by that same handler.
/// </summary>
internal sealed class MirrorHandler(
    MirrorOptions options,
    HubState state,
    MirrorStore store,
    MirrorAccess access,
    UpstreamClients clients,
    UpstreamProxy proxy,
    FetchRegistry transfers,
    StoredRepoStore storedRepos,
    BlobLru lru,
    MirrorMetrics metrics,
    MirrorLog log)
{
    private static readonly RepoSettings ViewSettings = new() { ResolveMode = ResolveMode.Cache };
    private readonly ConcurrentDictionary<(MirrorRepo Repo, string Commit, string Path), RemoteFile> _learned = new();
    // Shown to clients in error answers: never the upstream's user name and password.
    private readonly string _upstream = Core.Hub.HubUrls.DisplayBase(options.Upstream);

    /// <summary>What one request turned out to be, for the metrics and the log.</summary>
    private sealed class Outcome
    {
        public string Route = "other";
        public string? Cache;
    }

    public async Task HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var request = new HubRequest(http, state, "hub");
        var outcome = new Outcome();
        await RequestRunner.RunAsync(request, (r, ct) => RouteAsync(r, outcome, ct)).ConfigureAwait(false);
        metrics.Request(outcome.Route, request.BodyBytesSent);
        log.Write(
            "request",
            ("method", http.Request.Method),
            ("path", request.RawPath),
            ("status", http.Response.StatusCode),
            ("bytes", request.BodyBytesSent),
            ("ms", Stopwatch.GetElapsedTime(started).TotalMilliseconds),
            ("route", outcome.Route),
            ("cache", outcome.Cache),
            ("aborted", request.Aborted || http.RequestAborted.IsCancellationRequested));
    }

    private async Task RouteAsync(HubRequest request, Outcome outcome, CancellationToken cancellationToken)
    {
        request.SetCommonHeaders();
        request.Authenticate();
        var segments = request.Segments;
        if (request.RawPath == "/metrics")
        {
            outcome.Route = "metrics";
            await request.WriteBodyAsync(200, "text/plain; version=0.0.4; charset=utf-8", System.Text.Encoding.UTF8.GetBytes(metrics.Render()), cancellationToken).ConfigureAwait(false);
            return;
        }
        var isApi = segments.Length > 0 && segments[0] == "api";
        if (!request.RawTarget.StartsWith('/'))
        {
            // An absolute-form target (GET http://host/...) or OPTIONS *: no page of the Hub's, which answers 404. Never
            // passed on (the mirror is no forward proxy), nor taken for an upstream that cannot be reached.
            outcome.Route = "other";
            await request.WriteErrorAsync(404, "Sorry, we can't find the page you are looking for.", null, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (segments.Any(segment => segment is "." or ".."))
        {
            // An escaped dot segment (%2e%2e) reaches the mirror as written, but the URL it would send upstream loses it
            // (and the segment before), so the upstream would answer for another path than the one the mirror routes and
            // records: refused here, as no repo, revision or file path holds such a segment.
            outcome.Route = "other";
            await request.WriteErrorAsync(404, "Sorry, we can't find the page you are looking for.", null, isApi, cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            if (isApi && segments.Length >= 3 && segments[1] == "resolve-cache" && HubHandler.ApiType(segments[2]) is { } cacheType)
            {
                outcome.Route = "file";
                await FileAsync(request, cacheType, outcome, cancellationToken).ConfigureAwait(false);
                return;
            }
            if (isApi && segments.Length >= 3 && HubHandler.ApiType(segments[1]) is { } apiType)
            {
                outcome.Route = "api";
                await ApiAsync(request, apiType, outcome, cancellationToken).ConfigureAwait(false);
                return;
            }
            if (!isApi && segments.Length >= 3)
            {
                var (type, start) = segments[0] switch
                {
                    "datasets" => (RepoType.Dataset, 1),
                    "spaces" => (RepoType.Space, 1),
                    _ => (RepoType.Model, 0),
                };
                var route = RepoRoute.Parse(NoRepoStore.Instance, type, segments, request.RawSegments, start, HubHandler.FileKeywords);
                if (route is { Rest.Length: >= 3 } && route.Rest[0] == "resolve")
                {
                    outcome.Route = "resolve";
                    await ResolveAsync(request, route, outcome, cancellationToken).ConfigureAwait(false);
                    return;
                }
            }
            outcome.Route = isApi ? "api" : "other";
            outcome.Cache = "pass";
            await ProxyAsync(request, BodyChange.None, fallback: null, json: isApi, cancellationToken).ConfigureAwait(false);
        }
        catch (MirrorTransferCutException cut) when (!request.Response.HasStarted)
        {
            // Nothing was sent yet (the reader was waiting for bytes of this response, or for the check of its last
            // one): the client gets the reason, not a cut connection it would take for a network fault and retry.
            request.Http.Response.Clear();
            request.SetCommonHeaders();
            await FailedBeforeFirstByteAsync(request, cut.File, cut.TransferFailure, cancellationToken).ConfigureAwait(false);
        }
        catch (MirrorTransferCutException)
        {
            // The bytes sent cannot be vouched for: the connection is cut, so the response can never look complete.
            request.Aborted = true;
            request.Http.Abort();
        }
        catch (MirrorUnavailableException ex)
        {
            if (!request.Response.HasStarted)
            {
                await UnavailableAsync(request, ex.Message, json: isApi, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // ---------------------------------------------------------------- the API: passed through, the store as fallback

    private async Task ApiAsync(HubRequest request, RepoType type, Outcome outcome, CancellationToken cancellationToken)
    {
        var route = RepoRoute.Parse(NoRepoStore.Instance, type, request.Segments, request.RawSegments, 2, HubHandler.ApiKeywords)!;
        var rest = route.Rest;
        if (rest is ["xet-read-token", ..])
        {
            // The mirror serves plain HTTP only; no answer of it points a client at Xet.
            await request.WriteErrorAsync(404, "Sorry, we can't find the page you are looking for.", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var change = rest is [] or ["revision", ..] ? BodyChange.RepoInfo
            : rest is ["tree", ..] or ["paths-info", ..] ? BodyChange.Entries
            : BodyChange.None;
        var stored = rest is [] or ["revision", _, ..] or ["tree", _, ..] or ["paths-info", _, ..] or ["refs"];
        Func<Task>? fallback = stored && RepoId.TryParse(route.RepoId, out var id)
            ? () => StoredApiAsync(request, new MirrorRepo(type, id), route, outcome, cancellationToken)
            : null;
        Action<string>? onCommit = null;
        if (change == BodyChange.RepoInfo && RepoId.TryParse(route.RepoId, out var infoId))
        {
            // A client that asked for the repo info next asks for files by this commit: the store's ref must follow,
            // so the revision still resolves when the upstream cannot be asked.
            var repo = new MirrorRepo(type, infoId);
            var revision = rest is [] ? HostedRepo.DefaultBranch : route.ReadRevision(1).Revision;
            onCommit = commit =>
            {
                if (access.Resolved(repo, revision, commit))
                {
                    transfers.RecordRevision(repo, revision, commit);
                }
            };
        }
        outcome.Cache = "pass";
        await ProxyAsync(request, change, fallback, json: true, cancellationToken, onCommit).ConfigureAwait(false);
    }

    /// <summary>Repo info, a tree page, paths-info or refs from the store, when the upstream cannot be asked.</summary>
    private async Task StoredApiAsync(HubRequest request, MirrorRepo repo, RepoRoute route, Outcome outcome, CancellationToken cancellationToken)
    {
        outcome.Cache = "stored";
        var hosted = storedRepos.FindRepo(repo.Type, repo.Id.Value);
        var revision = route.Rest is [] or ["refs"] ? HostedRepo.DefaultBranch : route.ReadRevision(1).Revision;
        if (hosted is null || HubHandler.FindSnapshot(hosted, revision) is null)
        {
            await UnavailableAsync(request, NotStored(repo, revision, null), json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        // The store finds a repo whatever the case of its id (the Hub's ids are case-insensitive): its access is that
        // of the folder found, not of the spelling asked for (which nobody classified).
        if (RepoId.TryParse(hosted.Id, out var storedId))
        {
            repo = repo with { Id = storedId };
        }
        if (!access.MayServeWithoutUpstream(repo, access.HashOf(request.Token), options.Offline))
        {
            // Answered as if it were not stored: the Hub does not tell a caller that a private repo exists.
            await UnavailableAsync(request, NotStored(repo, revision, null), json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (request.Http.Request.Body.CanSeek)
        {
            request.Http.Request.Body.Position = 0;
        }
        request.Store = storedRepos;
        await state.Hub.ServeAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Passes the request through; without an upstream answer, <paramref name="fallback"/> (or a 503) answers.</summary>
    private async Task ProxyAsync(HubRequest request, BodyChange change, Func<Task>? fallback, bool json, CancellationToken cancellationToken, Action<string>? onCommit = null)
    {
        if (options.Offline)
        {
            await (fallback?.Invoke() ?? UnavailableAsync(request, "This mirror is offline: it answers only from what it has stored, and this is not something it stores.", json, cancellationToken)).ConfigureAwait(false);
            return;
        }
        using var response = await proxy.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response is null || UpstreamProxy.IsDown(response))
        {
            metrics.UpstreamUnreachable();
            if (fallback is not null)
            {
                await fallback().ConfigureAwait(false);
            }
            else if (response is not null)
            {
                await proxy.RelayAsync(request, response, BodyChange.None, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await UnavailableAsync(request, Unreachable(), json, cancellationToken).ConfigureAwait(false);
            }
            return;
        }
        await proxy.RelayAsync(request, response, change, cancellationToken, onCommit).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- files: resolve, then the bytes

    /// <summary><c>/{p}{id}/resolve/{rev}/{path}</c>: the Hub's 307 to the mirror's own resolve-cache URL of the commit.</summary>
    private async Task ResolveAsync(HubRequest request, RepoRoute route, Outcome outcome, CancellationToken cancellationToken)
    {
        var (revision, next) = route.ReadRevision(1);
        var path = string.Join('/', route.Rest[next..]);
        if (!RepoId.TryParse(route.RepoId, out var id) || !RepoFilePath.TryValidate(path, out _))
        {
            // Nothing the mirror could store: the upstream says what it makes of it.
            outcome.Cache = "pass";
            await ProxyAsync(request, BodyChange.None, null, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!await IsReadAsync(request, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var repo = new MirrorRepo(route.Type, id);
        if (await LocateAsync(request, repo, revision, path, outcome, cancellationToken).ConfigureAwait(false) is not var (commit, file))
        {
            return;
        }
        await ServeAsync(request, repo, revision == "HEAD" ? HostedRepo.DefaultBranch : revision, commit, file, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>/api/resolve-cache/{t}/{id}/{commit}/{path}</c>: the bytes, from the store or from the transfer filling it.</summary>
    private async Task FileAsync(HubRequest request, RepoType type, Outcome outcome, CancellationToken cancellationToken)
    {
        var route = RepoRoute.Parse(NoRepoStore.Instance, type, request.Segments, request.RawSegments, 3, HubHandler.NoKeywords);
        var commit = route?.Rest.FirstOrDefault();
        var path = route is { Rest.Length: >= 2 } ? string.Join('/', route.Rest[1..]) : "";
        if (route is null || commit is null || !Core.Transfer.RepoDownloader.IsCommit(commit) || !RepoId.TryParse(route.RepoId, out var id) || !RepoFilePath.TryValidate(path, out _))
        {
            outcome.Cache = "pass";
            await ProxyAsync(request, BodyChange.None, null, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!await IsReadAsync(request, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var repo = new MirrorRepo(type, id);
        if (await LocateAsync(request, repo, commit, path, outcome, cancellationToken).ConfigureAwait(false) is not var (_, file))
        {
            return;
        }
        if (HttpMethods.IsGet(request.Http.Request.Method))
        {
            var blob = store.BlobPath(repo, file.Etag);
            if (await store.CheckAsync(repo, file, cancellationToken).ConfigureAwait(false))
            {
                metrics.Hit();
                outcome.Cache = "hit";
                lru.Touch(repo, blob, file.Size);
            }
            else
            {
                // The caller's token goes upstream only for a repo whose bytes are not public.
                var client = access.Of(repo) == RepoAccess.Public ? clients.Anonymous : Client(request);
                InFlightFile? flight;
                bool joined;
                try
                {
                    (flight, joined) = transfers.GetOrStart(repo, commit, file, client, IsHeadersProbe(request, file));
                }
                catch (UpstreamCopyRejectedException rejected)
                {
                    outcome.Cache = "rejected";
                    await CopyRejectedAsync(request, rejected, cancellationToken).ConfigureAwait(false);
                    return;
                }
                if (flight is null)
                {
                    // Stored between the look above and now: the transfer that stored it just ended.
                    metrics.Hit();
                    outcome.Cache = "hit";
                    lru.Touch(repo, blob, file.Size);
                }
                else
                {
                    // A client's download is one join however many ranged requests it makes: it is counted at the
                    // request that reads the file's first byte (a whole-file GET, or its first range), which every
                    // download makes once and makes first, so a client that joins early and one that comes back for
                    // the last range after the transfer ended are both counted. The starter's request is the miss.
                    // A headers probe (bytes=0-0, @huggingface/hub's before its GET) is no download: never a join,
                    // and when it started the transfer, the transfer's first download is the one its miss stands for.
                    if (!joined)
                    {
                        metrics.Miss();
                        outcome.Cache = "miss";
                    }
                    else if (ReadsFirstByte(request, file) && !IsHeadersProbe(request, file) && !flight.TakeProbeStartersDownload())
                    {
                        metrics.Join();
                        outcome.Cache = "join";
                    }
                    else
                    {
                        outcome.Cache = "follow";
                    }
                    if (file.Size == 0 && !await flight.Completion.WaitAsync(cancellationToken).ConfigureAwait(false))
                    {
                        throw new MirrorTransferCutException($"The upstream transfer of '{file.Path}' failed: {flight.Failure?.Message}", file, flight.Failure);
                    }
                    if (!await FirstBytesOrEndAsync(flight, cancellationToken).ConfigureAwait(false))
                    {
                        if (!flight.Completion.IsCompleted && flight.UpstreamRetry is { } retry)
                        {
                            // The upstream is down or refuses for now, and nothing of the file is here: the Hub's shape
                            // for it, at once, rather than a wait and a cut connection the client retries for minutes.
                            await UpstreamRetryingAsync(request, file, retry, cancellationToken).ConfigureAwait(false);
                            return;
                        }
                        await FailedBeforeFirstByteAsync(request, file, flight.Failure, cancellationToken).ConfigureAwait(false);
                        return;
                    }
                }
            }
        }
        await ServeAsync(request, repo, commit, commit, file, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers a request whose transfer failed before a byte of the response was sent: a clear answer, not a cut
    /// connection to retry. A file the upstream no longer has at that commit is the upstream's 404, not a 502 to retry.
    /// </summary>
    private Task FailedBeforeFirstByteAsync(HubRequest request, RemoteFile file, Exception? failure, CancellationToken cancellationToken) =>
        FetchRegistry.IsGoneUpstream(failure)
            ? UpstreamErrorAsync(request, (HubException)failure!, cancellationToken)
            : request.WriteErrorAsync(502, FailedBeforeFirstByte(file, failure), null, json: false, cancellationToken);

    /// <summary>
    /// What a client is told of a transfer that failed before its first byte: the upstream's reason as it is; a
    /// problem of the mirror's own store (a full or read-only disk, a link planted in it) without the operator's paths
    /// and advice meant for a command line, which the mirror's log has (<c>transfer_failed</c>); without a reason, the
    /// upstream's copy that failed its hash check.
    /// </summary>
    private string FailedBeforeFirstByte(RemoteFile file, Exception? failure) => failure switch
    {
        IOException or UnauthorizedAccessException or Core.Transfer.DiskFullException or Core.Storage.LinkInTargetException or Core.Storage.LockUnavailableException =>
            $"The mirror could not store '{file.Path}': a problem with its own store, not with the upstream (its log says which). Its operator can fix it; try again later.",
        null => $"The mirror could not fetch '{file.Path}' from its upstream ({_upstream}): the upstream's copy did not match its size or hash, so nothing was stored. Try again later.",
        _ => $"The mirror could not fetch '{file.Path}' from its upstream ({_upstream}): {failure.Message}",
    };

    /// <summary>
    /// The upstream's copy of the file failed verification within the last <see cref="FetchRegistry.VerificationFailureHold"/>:
    /// 502 with the reason and when the mirror will fetch it again (<c>Retry-After</c>), without another transfer.
    /// </summary>
    private Task CopyRejectedAsync(HubRequest request, UpstreamCopyRejectedException rejected, CancellationToken cancellationToken)
    {
        var wait = Math.Max(1, (long)Math.Ceiling(rejected.RetryIn.TotalSeconds));
        request.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return request.WriteErrorAsync(
            502,
            $"The mirror could not fetch '{rejected.File.Path}' from its upstream ({_upstream}): the upstream's copy did not match its size or hash, so nothing was stored. The mirror fetches it again after {wait} s; try again then.",
            null,
            json: false,
            cancellationToken);
    }

    /// <summary>
    /// A client waiting for the first byte of a transfer the upstream holds up: while the upstream cannot be reached,
    /// 503 saying so; while it answers an error status, 503 (its 429 as it is) with <c>Retry-After</c>, saying what it
    /// answered. Either way the transfer goes on, and the client's next request joins it.
    /// </summary>
    private Task UpstreamRetryingAsync(HubRequest request, RemoteFile file, FileRetrying retry, CancellationToken cancellationToken)
    {
        if (retry.ServerStatus is not { } status)
        {
            return UnavailableAsync(request, $"The mirror has not stored '{file.Path}' and cannot reach its upstream ({_upstream}): {retry.Reason} Try again later.", json: false, cancellationToken);
        }
        var wait = Math.Max(1, (long)Math.Ceiling(retry.Delay.TotalSeconds));
        request.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return request.WriteErrorAsync(
            status == 429 ? 429 : 503,
            $"The mirror's upstream ({_upstream}) answered {status} for '{file.Path}'; the mirror keeps trying to fetch it. Try again in {wait} s.",
            null,
            json: false,
            cancellationToken);
    }

    /// <summary>
    /// Waits, up to <see cref="FirstByteWait"/>, until the transfer wrote its first bytes, ended, or retried for a reason
    /// of the upstream's; false when it ended in failure or so retries. A transfer that fails at once (the upstream
    /// refuses the file, the store cannot be written) then gets an error answer. Past the wait the response goes on:
    /// its headers are sent with its first byte, and a transfer that fails before that byte still answers 502
    /// (<see cref="MirrorTransferCutException"/> caught before the response started).
    /// </summary>
    private async Task<bool> FirstBytesOrEndAsync(InFlightFile flight, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waited = Task.Delay(FirstByteWait, options.Download.Time, stop.Token);
        try
        {
            while (true)
            {
                var changed = flight.WhenChanged();
                if (flight.Completion.IsCompleted)
                {
                    return flight.Completion.Result;
                }
                if (flight.Current().Job is { BytesWritten: > 0 })
                {
                    return true;
                }
                if (flight.UpstreamRetry is not null)
                {
                    return false;
                }
                if (await Task.WhenAny(changed, waited).ConfigureAwait(false) == waited)
                {
                    return true;
                }
            }
        }
        finally
        {
            stop.Cancel(); // the wait's timer goes with the answer
        }
    }

    private static readonly TimeSpan FirstByteWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether the request's answer starts with the file's first byte: no Range (or one the handler ignores, an
    /// <c>If-Range</c> that does not hold included), or a range from byte 0.
    /// </summary>
    private static bool ReadsFirstByte(HubRequest request, RemoteFile file) =>
        !ContentSender.IfRangeHolds(request, HubRequest.Quote(file.Etag))
        || ByteRange.Parse(request.Http.Request.Headers.Range.ToString(), file.Size) is not { } range
        || (!range.Unsatisfiable && range.Start == 0);

    /// <summary>
    /// Whether the request asks only the first byte of a bigger file (<c>Range: bytes=0-0</c>): what @huggingface/hub
    /// sends to read a file's size and ETag (its fileDownloadInfo) before it downloads the file with another GET.
    /// </summary>
    private static bool IsHeadersProbe(HubRequest request, RemoteFile file) =>
        file.Size > 1
        && ContentSender.IfRangeHolds(request, HubRequest.Quote(file.Etag))
        && ByteRange.Parse(request.Http.Request.Headers.Range.ToString(), file.Size) is { Unsatisfiable: false, Start: 0, Length: 1 };

    /// <summary>True for GET and HEAD, the only methods on file bytes; any other gets the Hub's 405 here.</summary>
    private static async Task<bool> IsReadAsync(HubRequest request, CancellationToken cancellationToken)
    {
        if (HttpMethods.IsGet(request.Http.Request.Method) || request.IsHead)
        {
            return true;
        }
        await request.WriteErrorAsync(405, "Method not allowed", null, json: false, cancellationToken).ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// The commit and the file a request means, and whether this caller may have it. Without the upstream when the
    /// revision's commit is known (a commit id, or a branch within its time-to-live), the file is known (the store's
    /// records, or what the upstream said before) and the caller may read it (a public repo, or a token the upstream
    /// accepted lately). Otherwise the upstream is asked with the caller's token, by the HEAD a client would send: its
    /// answer decides, and its refusals reach the client as the upstream gave them. Null when the request is answered.
    /// </summary>
    private async Task<(string Commit, RemoteFile File)?> LocateAsync(HubRequest request, MirrorRepo repo, string revision, string path, Outcome outcome, CancellationToken cancellationToken)
    {
        if (request.HasInvalidToken)
        {
            // An Authorization header that is not "Bearer <token>" (Basic, a bare token, an empty Bearer): the upstream
            // refuses it on every route, so it is refused here too rather than answered as if no token were sent.
            await request.WriteErrorAsync(401, "Invalid credentials in Authorization header", null, json: IsApi(request), cancellationToken).ConfigureAwait(false);
            return null;
        }
        var tokenHash = access.HashOf(request.Token);
        if (access.FreshCommit(repo, revision) is { } commit && Known(repo, commit, path) is { } known && access.MayServeStored(repo, tokenHash))
        {
            return (commit, known);
        }
        if (options.Offline)
        {
            return await WithoutUpstreamAsync(request, repo, revision, path, null, cancellationToken).ConfigureAwait(false);
        }
        FileMetadata metadata;
        try
        {
            metadata = await Client(request).GetFileMetadataAsync(repo.Type, repo.Id, revision, path, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HubUnreachableException || (ex is HubException { StatusCode: { } status } && (int)status >= 500))
        {
            metrics.UpstreamUnreachable();
            outcome.Cache = "stored";
            return await WithoutUpstreamAsync(request, repo, revision, path, ex as HubException, cancellationToken).ConfigureAwait(false);
        }
        catch (HubException refused)
        {
            if (refused is RepositoryNotFoundException or GatedRepoException or DisabledRepoException or InvalidTokenException)
            {
                access.Refused(repo, tokenHash);
            }
            await UpstreamErrorAsync(request, refused, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (HubProtocolException odd)
        {
            await request.WriteErrorAsync(502, $"The mirror's upstream ({_upstream}) gave an answer the mirror cannot use: {odd.Message}", null, json: false, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (InvalidOptionException)
        {
            // A token with characters no Hub token has: the Hub's answer to an invalid token.
            await request.WriteErrorAsync(401, "Invalid credentials in Authorization header", null, json: IsApi(request), cancellationToken).ConfigureAwait(false);
            return null;
        }
        access.Accepted(repo, tokenHash);
        if (tokenHash is not null && access.RestrictUnclassified(repo))
        {
            transfers.Classify(repo, metadata.Commit, path, access, clients.Anonymous);
        }
        if (!ContentHash.TryFromEtag(metadata.Etag, out var hash))
        {
            await request.WriteErrorAsync(502, $"The mirror's upstream ({_upstream}) described '{path}' with an ETag that is not a content hash, so the mirror could not verify it.", null, json: false, cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (access.Resolved(repo, revision, metadata.Commit))
        {
            transfers.RecordRevision(repo, revision, metadata.Commit);
        }
        var file = new RemoteFile(path, metadata.Size, hash, hash.Kind == HashKind.Sha256);
        if (_learned.Count > 100_000)
        {
            _learned.Clear();
        }
        _learned[(repo, metadata.Commit, path)] = file;
        return (metadata.Commit, file);
    }

    /// <summary>
    /// The upstream cannot be asked: the store answers what it holds for callers it may serve; the rest gets a 503 that
    /// says why, or, when the upstream did answer (with a server error, <paramref name="upstreamError"/>), that answer.
    /// </summary>
    private async Task<(string Commit, RemoteFile File)?> WithoutUpstreamAsync(HubRequest request, MirrorRepo repo, string revision, string path, HubException? upstreamError, CancellationToken cancellationToken)
    {
        var commit = access.LastCommit(repo, revision);
        var file = commit is null ? null : Known(repo, commit, path);
        if (file is not null && await store.CheckAsync(repo, file, cancellationToken).ConfigureAwait(false))
        {
            if (access.MayServeWithoutUpstream(repo, access.HashOf(request.Token), options.Offline))
            {
                return (commit!, file);
            }
            // Answered as if it were not stored: the Hub does not tell a caller that a private repo exists.
        }
        if (upstreamError is not null)
        {
            // The upstream was reached and failed: its answer, as it gave it, not "could not reach".
            await UpstreamErrorAsync(request, upstreamError, cancellationToken).ConfigureAwait(false);
            return null;
        }
        await UnavailableAsync(request, NotStored(repo, revision, path), json: false, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>Whether the request is on an <c>/api/</c> route (the Hub's refusal of an invalid token has a JSON body there).</summary>
    private static bool IsApi(HubRequest request) => request.Segments is ["api", ..];

    private RemoteFile? Known(MirrorRepo repo, string commit, string path) =>
        store.FindFile(repo, commit, path) ?? _learned.GetValueOrDefault((repo, commit, path));

    private HubClient Client(HubRequest request) => clients.For(request.Token, access.HashOf(request.Token));

    /// <summary>Answers with the hub's handler, over a repo made of what the mirror knows: the one file at its commit.</summary>
    private Task ServeAsync(HubRequest request, MirrorRepo repo, string revision, string commit, RemoteFile file, CancellationToken cancellationToken)
    {
        var content = new MirrorContent(file, store.BlobPath(repo, file.Etag), transfers, ClientVerifiesWholeFile(request));
        var snapshot = new RepoSnapshot([new RepoFile(file.Path, content, file.IsLfs, ResolveMode.Cache)], commit, DateTimeOffset.UnixEpoch) { KnownCommitId = commit };
        var revisions = new List<HostedRevision> { new(commit, RevisionKind.Detached, snapshot) };
        if (revision != commit)
        {
            revisions.Add(new HostedRevision(revision, RepoBuilder.KindOf(revision), snapshot));
        }
        request.Store = new SingleRepoStore(new HostedRepo(repo.Type, repo.Id.Value, ViewSettings, revisions));
        return state.Hub.ServeAsync(request, cancellationToken);
    }

    /// <summary>
    /// Whether the client is hfdl (by its User-Agent), which never keeps a file it did not verify: it assembles the
    /// whole file from its ranges and checks its hash before the file takes its name. A range of a transfer the mirror
    /// has not verified yet may then end as soon as its bytes landed (one held back per range would hold up every
    /// range of hfdl's parallel download until the whole file is in); any other client may keep what a range gave it,
    /// so its ranges wait for the mirror's verdict. A client that claims to be hfdl and is not only loses that
    /// protection for itself.
    /// </summary>
    internal static bool ClientVerifiesWholeFile(HubRequest request) =>
        Core.Hub.HubClientOptions.IsHfdlUserAgent(request.Http.Request.Headers.UserAgent.ToString());

    // ---------------------------------------------------------------- errors in the Hub's shapes

    /// <summary>What the upstream refused, as the upstream said it: status, <c>X-Error-Code</c>, <c>X-Error-Message</c>.</summary>
    private static Task UpstreamErrorAsync(HubRequest request, HubException refused, CancellationToken cancellationToken)
    {
        var code = refused switch
        {
            RevisionNotFoundException => "RevisionNotFound",
            EntryNotFoundException => "EntryNotFound",
            GatedRepoException => "GatedRepo",
            // The Hub's anonymous 401 for a missing or private repo carries no code today (hub-api.md §5.1).
            RepositoryNotFoundException when refused.StatusCode != HttpStatusCode.Unauthorized => "RepoNotFound",
            _ => null,
        };
        if (refused is EntryNotFoundException { Commit: { } commit })
        {
            request.Response.Headers["X-Repo-Commit"] = commit;
        }
        if (refused.StatusCode == HttpStatusCode.Unauthorized && request.Token is null)
        {
            request.Response.Headers.WWWAuthenticate = "Bearer realm=\"Authentication required\", charset=\"UTF-8\"";
        }
        if (refused.RetryAfter is { } wait)
        {
            request.Response.Headers.RetryAfter = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        // The Hub refuses an invalid token before it routes, with a JSON body on /api/ routes; the file routes' other
        // refusals are plain text.
        return request.WriteErrorAsync((int?)refused.StatusCode ?? 502, refused.ServerMessage ?? refused.Message, code, json: refused is InvalidTokenException && IsApi(request), cancellationToken);
    }

    private static Task UnavailableAsync(HubRequest request, string message, bool json, CancellationToken cancellationToken) =>
        request.WriteErrorAsync(503, message, null, json, cancellationToken);

    private string Unreachable() =>
        $"The mirror could not reach its upstream ({_upstream}), and this request is not one it can answer from its store. Try again later.";

    /// <summary>
    /// What a caller hears about anything the mirror cannot give without its upstream: the same words whether the
    /// mirror has not stored it or has stored it for a private or gated repo whose access it cannot check now, so the
    /// answer does not tell who asks that a private repo exists.
    /// </summary>
    private string NotStored(MirrorRepo repo, string revision, string? path) =>
        (options.Offline ? "This mirror is offline (it answers only from its store), and it has not stored " : $"The mirror could not reach its upstream ({_upstream}) and has not stored ")
        + (path is null ? $"{repo} at '{revision}'" : $"'{path}' of {repo} at '{revision}'")
        + " for this caller (a private or gated repo is given only to a token its upstream accepted lately)."
        + (options.Offline ? "" : " Try again later.");
}
