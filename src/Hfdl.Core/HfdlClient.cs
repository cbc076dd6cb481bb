using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl;

/// <summary>How an <see cref="HfdlClient"/> reaches the Hub and downloads. Immutable; change with <c>with</c>.</summary>
public sealed record HfdlClientOptions
{
    /// <summary>The Hub's base URL (<c>HF_ENDPOINT</c> in <see cref="HfdlClient.FromEnvironment"/>). Default https://huggingface.co.</summary>
    public Uri Endpoint { get; init; } = new(HubEnvironment.DefaultEndpoint);

    /// <summary>
    /// The Hub token, or null for none (public repos only). It is sent to <see cref="Endpoint"/>'s origin and nowhere
    /// else, and never appears in a message or a file hfdl writes.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>How files are transferred (connections, big-file threshold, caps, retries, the clock).</summary>
    public DownloadOptions Download { get; init; } = new();

    /// <summary>Time allowed for a metadata request such as a file's HEAD (<c>HF_HUB_ETAG_TIMEOUT</c>). Default 10 s.</summary>
    public TimeSpan? MetadataTimeout { get; init; }

    /// <summary>How long a transfer may deliver no bytes before it is retried (<c>HF_HUB_DOWNLOAD_TIMEOUT</c>). Default 30 s.</summary>
    public TimeSpan? ReadTimeout { get; init; }

    /// <summary>
    /// The Hugging Face cache folder (<c>HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>
    /// in <see cref="HfdlClient.FromEnvironment"/>), for requests with <see cref="Core.Storage.LayoutKind.HfCache"/>.
    /// </summary>
    public string? CacheFolder { get; init; }

    /// <summary>
    /// No network call at all, whatever a request says: every call runs as if its <see cref="DownloadRequest.Offline"/>
    /// were true, from what earlier downloads recorded locally. <see cref="HfdlClient.FromEnvironment"/> sets it when
    /// <c>HF_HUB_OFFLINE</c> (or <c>TRANSFORMERS_OFFLINE</c>) is true, as huggingface_hub reads them. Default false.
    /// </summary>
    public bool Offline { get; init; }
}

/// <summary>
/// Downloads Hugging Face Hub repos from .NET: plan a request, carry it out (verified, resumable, at line rate),
/// verify a local copy, list a revision. Every method runs the same planning step as the <c>hfdl</c> command, so
/// <see cref="PlanAsync(DownloadRequest, CancellationToken)"/> says what <see cref="DownloadAsync"/> then does. Thread-safe; dispose it to close its
/// connections. A call whose cancellation token is cancelled throws an <see cref="OperationCanceledException"/> whose
/// <see cref="OperationCanceledException.CancellationToken"/> is that token.
/// </summary>
/// <example>
/// <code>
/// using var hfdl = HfdlClient.FromEnvironment();
/// var request = new DownloadRequest { RepoType = RepoType.Model, RepoId = RepoId.Parse("openai-community/gpt2"), TargetFolder = "gpt2" };
/// var summary = await hfdl.DownloadAsync(request);
/// </code>
/// </example>
public sealed class HfdlClient : IDisposable, IAsyncDisposable
{
    private readonly HubClientOptions _hub;
    private readonly HttpClient _http;
    private readonly Func<AccessToken?>? _reloadToken;
    // What chose the cache folder, for a message when a file is in its way (null: the default place).
    private readonly PathSetting? _cacheSetting;
    // Cancelled by Dispose: every call in flight stops, and none starts after it.
    private readonly CancellationTokenSource _disposed = new();

    // The calls running now, so that DisposeAsync can wait for them; guarded by _calls.
    private readonly Lock _calls = new();
    private int _callsInFlight;
    private TaskCompletionSource? _noCalls;

    /// <summary>A client with exactly these settings (no environment variable is read).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="InvalidOptionException">An option no run can use, named in <see cref="InvalidOptionException.Option"/>.</exception>
    public HfdlClient(HfdlClientOptions options)
        : this(options ?? throw new ArgumentNullException(nameof(options)), token: ExplicitToken(options.Token), reloadToken: null,
            cacheSetting: options.CacheFolder is { } cache ? new PathSetting(nameof(HfdlClientOptions.CacheFolder), cache) : null)
    {
        if (options.CacheFolder is { } folder)
        {
            if (folder.Length == 0 || folder.Contains('\0', StringComparison.Ordinal))
            {
                throw new InvalidOptionException(nameof(HfdlClientOptions.CacheFolder), "must name a folder, or be null for none.");
            }
            // A file where the cache must be is refused now, not with the file system's words after the listing.
            PathSetting.RefuseFileInTheWay(folder, _cacheSetting, "the Hugging Face cache");
        }
    }

    /// <summary>The token of the options; an empty one is refused by its property's name, not as an internal argument.</summary>
    private static AccessToken? ExplicitToken(string? token) =>
        token is null ? null
        : AccessToken.Clean(token) is null ? throw new InvalidOptionException(nameof(HfdlClientOptions.Token), "is empty; give a Hub token, or null for none (public repos only).")
        : new AccessToken(token, TokenOrigin.Explicit);

    private HfdlClient(HfdlClientOptions options, AccessToken? token, Func<AccessToken?>? reloadToken, PathSetting? cacheSetting)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Endpoint is not { IsAbsoluteUri: true, Scheme: "http" or "https" })
        {
            throw new InvalidOptionException(nameof(HfdlClientOptions.Endpoint), $"must be an absolute http(s) URL (got '{HubUrls.DisplayText(options.Endpoint?.ToString() ?? "null")}').");
        }
        if (options.Download is null)
        {
            throw new InvalidOptionException(nameof(HfdlClientOptions.Download), "must be set (new DownloadOptions() for the defaults).");
        }
        foreach (var (name, timeout) in new[] { (nameof(HfdlClientOptions.MetadataTimeout), options.MetadataTimeout), (nameof(HfdlClientOptions.ReadTimeout), options.ReadTimeout) })
        {
            if (timeout is { } given && (given <= TimeSpan.Zero || given > TimeSpan.FromDays(1)))
            {
                throw new InvalidOptionException(name, "must be more than 0 seconds and at most a day (null for the default).");
            }
        }
        options.Download.Validate();
        Options = options;
        _reloadToken = reloadToken;
        _cacheSetting = cacheSetting;
        // A client built from explicit options reads no HF_TOKEN and no token file (it has nothing to reload them with).
        var hub = new HubClientOptions { Endpoint = options.Endpoint, Token = token, ReloadToken = reloadToken, TokenFromClientOptions = reloadToken is null };
        if (options.MetadataTimeout is { } metadata)
        {
            hub = hub with { EtagTimeout = metadata };
        }
        if (options.ReadTimeout is { } read)
        {
            hub = hub with { ReadTimeout = read };
        }
        _hub = hub;
        _http = HubClient.CreateHttpClient(hub);
    }

    /// <summary>The settings of this client (the token, if any, is in <see cref="HfdlClientOptions.Token"/> only when it was given there).</summary>
    public HfdlClientOptions Options { get; }

    /// <summary>
    /// A client set up the way huggingface_hub sets itself up: <c>HF_ENDPOINT</c>, the token from <c>HF_TOKEN</c> (or
    /// the token file under <c>HF_HOME</c> that <c>hf auth login</c> and <c>hfdl login</c> write), <c>HF_HUB_CACHE</c>,
    /// <c>HF_HUB_ETAG_TIMEOUT</c>, <c>HF_HUB_DOWNLOAD_TIMEOUT</c>, <c>HF_HUB_OFFLINE</c> (<see cref="HfdlClientOptions.Offline"/>), <c>HF_HUB_DISABLE_XET</c> and <c>HF_XET_CACHE</c>
    /// (the Xet chunk cache, unless <paramref name="download"/> names one). <paramref name="variables"/> replaces the
    /// process environment (for tests and hosts with their own configuration).
    /// </summary>
    public static HfdlClient FromEnvironment(IReadOnlyDictionary<string, string?>? variables = null, DownloadOptions? download = null)
    {
        var environment = variables is null ? HubEnvironment.Process : HubEnvironment.FromDictionary(variables);
        if (!Uri.TryCreate(environment.Endpoint, UriKind.Absolute, out var endpoint))
        {
            throw new InvalidOptionException("HF_ENDPOINT", $"must be an http(s) URL (got '{SafeText.Printable(HubUrls.DisplayText(environment.Endpoint))}').");
        }
        var configured = environment.Apply(new HubClientOptions { Endpoint = endpoint });
        var chosen = download ?? new DownloadOptions();
        var options = new HfdlClientOptions
        {
            Endpoint = endpoint,
            Download = chosen.XetCacheFolder is null
                ? chosen with { UseXet = chosen.UseXet && !environment.DisableXet, XetCacheFolder = environment.XetCache, XetCacheChosenBy = (environment.XetCache, environment.XetCacheSetting) }
                : chosen with { UseXet = chosen.UseXet && !environment.DisableXet },
            MetadataTimeout = configured.EtagTimeout,
            ReadTimeout = configured.ReadTimeout,
            CacheFolder = environment.HubCache,
            Offline = environment.Offline,
        };
        // A token from a variable or the token file may be renewed by a login while a long download runs.
        return new HfdlClient(options, AccessToken.Discover(null, environment), () => AccessToken.Discover(null, environment), environment.HubCacheSetting);
    }

    /// <summary>
    /// The plan of <paramref name="request"/>: the commit, the selected files, and what a download would do with each
    /// (present, resume, verify, download), plus local files of the selection that the repo does not have. Reads only.
    /// </summary>
    public Task<DownloadPlan> PlanAsync(DownloadRequest request, CancellationToken cancellationToken = default) =>
        PlanAsync(request, null, cancellationToken);

    /// <summary>
    /// As <see cref="PlanAsync(DownloadRequest, CancellationToken)"/>, with <paramref name="progress"/> told how far a
    /// long listing got (<see cref="ListingProgress"/>, every <see cref="ListingProgress.Every"/> files) and of
    /// metadata requests retried (<see cref="RequestRetrying"/>): a dataset of 100,000 files lists for minutes.
    /// </summary>
    public Task<DownloadPlan> PlanAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken = default) =>
        RunAsync(request, progress, async (client, resolved, relay, token) =>
        {
            var plan = await new RepoDownloader(client, Options.Download).PlanWithListingProgressAsync(resolved, relay, token).ConfigureAwait(false);
            // Read-only views: a caller cannot change the plan it was given.
            return plan with { Files = (plan.Files as List<PlannedFile> ?? [.. plan.Files]).AsReadOnly(), Extras = (plan.Extras as List<PlannedFile> ?? [.. plan.Extras]).AsReadOnly() };
        }, cancellationToken);

    /// <summary>
    /// Downloads what <paramref name="request"/> selects into its target, verifying every file before it gets its final
    /// name; a rerun resumes. <paramref name="progress"/> hears every event (files started, progress, retries, done).
    /// Files that fail are counted in <see cref="DownloadSummary.FilesFailed"/>; errors that stop the whole run (no
    /// access, no network, a full disk) are thrown as <see cref="HfdlException"/>s.
    /// </summary>
    /// <remarks>
    /// <paramref name="progress"/> is called from one task of the client's own, in order, never from the transfer's
    /// threads: a slow handler does not slow the download (while it is busy, a file's progress events are merged into
    /// the latest one). Every event has been delivered when the call returns; a handler that throws stops the call,
    /// which then throws the handler's exception.
    /// </remarks>
    public Task<DownloadSummary> DownloadAsync(DownloadRequest request, IProgress<DownloadEvent>? progress = null, CancellationToken cancellationToken = default) =>
        RunAsync(request, progress, (client, resolved, relay, token) => new RepoDownloader(client, Options.Download).DownloadAsync(resolved, relay, token), cancellationToken);

    /// <summary>
    /// Hashes the selected local files against the Hub's sizes and hashes (or, with <see cref="DownloadRequest.Offline"/>,
    /// against the listing the last download recorded) and reports each one, and the extra files. Downloads nothing.
    /// </summary>
    public Task<VerificationReport> VerifyAsync(DownloadRequest request, IProgress<DownloadEvent>? progress = null, CancellationToken cancellationToken = default) =>
        RunAsync(request, progress, (client, resolved, relay, token) => new RepoDownloader(client, Options.Download).VerifyAsync(resolved, relay, token), cancellationToken);

    /// <summary>
    /// The commit <paramref name="request"/>'s revision is, and the files it selects (its FILES and patterns). As a
    /// download of the request would, it throws <see cref="UnsafePathException"/> when a selected file has a name hfdl
    /// will not write (a backslash, a <c>..</c> segment...), so every path it returns is safe to write below a folder.
    /// </summary>
    public Task<RepoListing> ListAsync(DownloadRequest request, CancellationToken cancellationToken = default) =>
        ListAsync(request, null, cancellationToken);

    /// <summary>
    /// As <see cref="ListAsync(DownloadRequest, CancellationToken)"/>, with <paramref name="progress"/> told how far a
    /// long listing got (<see cref="ListingProgress"/>) and of metadata requests retried (<see cref="RequestRetrying"/>).
    /// </summary>
    public Task<RepoListing> ListAsync(DownloadRequest request, IProgress<DownloadEvent>? progress, CancellationToken cancellationToken = default) =>
        RunAsync(request, progress, async (client, resolved, relay, token) =>
        {
            var (commit, files) = await new RepoDownloader(client, Options.Download).ListAsync(resolved, token, listingProgress: relay).ConfigureAwait(false);
            return new RepoListing(resolved.RepoType, resolved.RepoId, resolved.Revision ?? "main", commit, (files as List<RemoteFile> ?? [.. files]).AsReadOnly());
        }, cancellationToken);

    /// <summary>
    /// As <see cref="Dispose"/>, and returns once every call in flight has ended (its journal saved, its temporary files
    /// closed), so that a host shutting down can wait for a clean stop: <c>await using var hfdl = ...</c>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_disposed.IsCancellationRequested)
        {
            await _disposed.CancelAsync().ConfigureAwait(false);
        }
        Task ended;
        lock (_calls)
        {
            ended = _callsInFlight == 0 ? Task.CompletedTask : (_noCalls ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        await ended.ConfigureAwait(false);
        _http.Dispose();
    }

    /// <summary>
    /// Stops every call in flight (each then throws <see cref="ObjectDisposedException"/>; what a download wrote is
    /// journaled, and a new client resumes it) and closes the connections. It does not wait for those calls to end
    /// (<see cref="DisposeAsync"/> does).
    /// </summary>
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        _disposed.Cancel();
        _http.Dispose();
    }

    /// <summary>
    /// One call: the request checked, the caller's token joined by the client's own (cancelled by <see cref="Dispose"/>),
    /// and whatever a disposal in the middle caused reported as the disposal it was.
    /// </summary>
    private async Task<T> RunAsync<T>(DownloadRequest request, IProgress<DownloadEvent>? progress, Func<HubClient, DownloadRequest, IProgress<DownloadEvent>?, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var resolved = Resolve(request);
        CheckTarget(request, resolved);
        // Cancelled already: the caller's own token, as every cancellation of a call carries.
        cancellationToken.ThrowIfCancellationRequested();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var relay = progress is null ? null : new ProgressRelay(progress, linked);
        lock (_calls)
        {
            _callsInFlight++;
        }
        try
        {
            using var client = Client(relay);
            var result = await call(client, resolved, relay, linked.Token).ConfigureAwait(false);
            if (relay is not null)
            {
                await relay.DrainAsync(deliverPending: true).ConfigureAwait(false);
                if (relay.Failure is { } lateFailure)
                {
                    // The handler threw on one of the last events: the call still throws it, as documented.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(lateFailure);
                }
            }
            return result;
        }
        catch (Exception ex) when (relay is { Failure: not null } || (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested && ex is not ObjectDisposedException { ObjectName: "Hfdl.HfdlClient" }))
        {
            if (relay is not null)
            {
                await relay.DrainAsync(deliverPending: false).ConfigureAwait(false);
                if (relay.Failure is { } handlerFailure)
                {
                    // The handler's own exception, as it threw it: it is what stopped the call.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(handlerFailure);
                }
            }
            throw new ObjectDisposedException(GetType().FullName, "The client was disposed while this call ran; what a download wrote is journaled, and a new client resumes it.");
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && CausedByCancellation(ex))
        {
            // Inside, the call ran on a token linked to the caller's (and TaskCanceledException came from the HTTP
            // stack): the caller gets one type carrying its own token, so `catch (OperationCanceledException e) when
            // (e.CancellationToken == token)` tells its cancellation apart from anything else.
            throw new OperationCanceledException("The call was cancelled; what a download wrote is journaled, and the next download of the same request resumes it.", ex, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && ex is not System.Net.Http.HttpIOException && ex.InnerException is not System.Net.Sockets.SocketException)
        {
            // The file system's own exception would reach the caller as a System.IO type with the system's words:
            // it becomes an HfdlException that says which folder and what to do.
            throw new LocalFileSystemException(Path.GetFullPath(resolved.TargetFolder), ex);
        }
        finally
        {
            if (relay is not null)
            {
                // A call that failed or was cancelled returns promptly: events still queued are dropped.
                await relay.DrainAsync(deliverPending: false).ConfigureAwait(false);
            }
            lock (_calls)
            {
                if (--_callsInFlight == 0)
                {
                    _noCalls?.TrySetResult();
                }
            }
        }
    }

    /// <summary>A Hub client over the shared connections, reporting retried metadata calls to <paramref name="progress"/>.</summary>
    private HubClient Client(IProgress<DownloadEvent>? progress) =>
        new(_hub with { Retries = progress is null ? null : new Progress(progress) }, _http, ownsHttp: false);

    /// <summary>True when <paramref name="error"/> is, or was caused by, a cancellation.</summary>
    private static bool CausedByCancellation(Exception error)
    {
        for (Exception? current = error; current is not null; current = current.InnerException)
        {
            if (current is OperationCanceledException || (current is AggregateException aggregate && aggregate.InnerExceptions.Any(CausedByCancellation)))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Refuses a target that cannot be a folder because it, or a folder on the way to it, is a file, naming the setting
    /// that chose it, before anything is asked or written (as the command does for its folders).
    /// </summary>
    private void CheckTarget(DownloadRequest given, DownloadRequest resolved)
    {
        var cache = resolved.Layout == Core.Storage.LayoutKind.HfCache;
        if (resolved.TargetFolder.Length == 0)
        {
            throw new InvalidOptionException(nameof(DownloadRequest.TargetFolder), "must name the Hugging Face cache's folder, as this client has no CacheFolder.");
        }
        var setting = given.TargetFolder.Length == 0 ? _cacheSetting : new PathSetting(nameof(DownloadRequest.TargetFolder), given.TargetFolder);
        PathSetting.RefuseFileInTheWay(resolved.TargetFolder, setting, cache ? "the Hugging Face cache" : "the downloaded files");
    }

    /// <summary>An HF-cache request without a folder goes to the client's cache folder; an offline client's requests are offline.</summary>
    private DownloadRequest Resolve(DownloadRequest request)
    {
        if (request.Layout == Core.Storage.LayoutKind.HfCache && string.IsNullOrEmpty(request.TargetFolder) && Options.CacheFolder is { } cache)
        {
            request = request with { TargetFolder = cache };
        }
        return Options.Offline && !request.Offline ? request with { Offline = true } : request;
    }

    private sealed class Progress(IProgress<DownloadEvent> inner) : IProgress<RequestRetrying>
    {
        public void Report(RequestRetrying value) => inner.Report(value);
    }
}

/// <summary>The files a request selects at one commit.</summary>
/// <param name="RepoType">Model, dataset or space.</param>
/// <param name="RepoId">The repo.</param>
/// <param name="Revision">The revision asked for.</param>
/// <param name="Commit">The commit it resolved to.</param>
/// <param name="Files">The selected files, with their sizes and the hashes they are verified against.</param>
public sealed record RepoListing(RepoType RepoType, RepoId RepoId, string Revision, string Commit, IReadOnlyList<RemoteFile> Files);

/// <summary>
/// Hands a caller's progress events to its handler from one task of its own, in order, so that the transfer never
/// waits for the handler: a handler that took a second per event slowed a 12 MiB download from 0.4 s to 55 s. While
/// the handler is busy, a file's progress events are merged (the latest one is delivered), and so are the connection
/// statistics and the listing's progress, which only ever matter as the latest: a handler that took 2 s per event kept
/// a 27 s download's call going for 122 s, delivering stale statistics. A handler that throws stops
/// the call (through <paramref name="stop"/>), and its exception is what the call throws.
/// </summary>
internal sealed class ProgressRelay(IProgress<DownloadEvent> handler, CancellationTokenSource stop) : IProgress<DownloadEvent>
{
    private readonly System.Threading.Channels.Channel<DownloadEvent> _queue = System.Threading.Channels.Channel.CreateUnbounded<DownloadEvent>(new() { SingleReader = true });
    // A file's progress event waiting for the handler; guarded by _gate with the queue's marker for it, so an event
    // is never left here without a marker queued to deliver it.
    private readonly Dictionary<string, DownloadEvent> _latest = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Task? _pump;
    private volatile bool _discard;

    /// <summary>What the handler threw, once it threw.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    // Set on the pump's task, read by the call's: published before the call is cancelled.
    private Exception? _failure;

    public void Report(DownloadEvent value)
    {
        if (Failure is not null)
        {
            return;
        }
        lock (_gate)
        {
            if (MergeKey(value) is { } key)
            {
                // Only the first of a run of such events is queued; later ones replace what it delivers.
                var queued = _latest.ContainsKey(key);
                _latest[key] = value;
                if (queued)
                {
                    return;
                }
            }
            _queue.Writer.TryWrite(value);
            _pump ??= Task.Run(PumpAsync);
        }
    }

    private async Task PumpAsync()
    {
        await foreach (var item in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (_discard)
            {
                continue;
            }
            var value = item;
            if (MergeKey(item) is { } key)
            {
                lock (_gate)
                {
                    value = _latest.Remove(key, out var latest) ? latest : item;
                }
            }
            try
            {
                handler.Report(value);
            }
            catch (Exception ex)
            {
                Volatile.Write(ref _failure, ex);
                await stop.CancelAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>What an event is merged by while the handler is busy, or null for an event delivered as it is.</summary>
    private static string? MergeKey(DownloadEvent value) => value switch
    {
        FileProgress progress => "file:" + progress.Path,
        TransferStats => "stats",
        ListingProgress => "listing",
        _ => null,
    };

    /// <summary>
    /// Ends the relay and waits for the handler: after delivering what is queued (the call's last events included), or,
    /// unless <paramref name="deliverPending"/>, after the event it is handling now (the rest are dropped).
    /// </summary>
    public async Task DrainAsync(bool deliverPending)
    {
        if (!deliverPending)
        {
            _discard = true;
        }
        _queue.Writer.TryComplete();
        Task? pump;
        lock (_gate)
        {
            pump = _pump;
        }
        if (pump is not null)
        {
            await pump.ConfigureAwait(false);
        }
    }
}
