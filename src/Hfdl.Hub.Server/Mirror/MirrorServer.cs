using System.Net;
using System.Net.Sockets;
using Hfdl.Hub.Server;
using Microsoft.AspNetCore.Builder;

namespace Hfdl.Hub.Mirror;

/// <summary>
/// <c>hfdl serve</c>: one machine as a site's Hub. Clients point <c>HF_ENDPOINT</c> at <see cref="Endpoint"/>; each file
/// crosses from the upstream once, however many clients ask, and is served from the store after that.
/// <code>
/// await using var mirror = await MirrorServer.StartAsync(new MirrorOptions { Upstream = new("https://huggingface.co"), Store = cacheDir });
/// </code>
/// </summary>
public sealed class MirrorServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HubState _state;
    private readonly FetchRegistry _transfers;
    private readonly UpstreamClients _clients;
    private readonly MirrorLog _log;
    private int _disposed;

    private MirrorServer(WebApplication app, HubState state, FetchRegistry transfers, UpstreamClients clients, MirrorLog log, MirrorMetrics metrics, Uri endpoint, MirrorOptions options)
    {
        _app = app;
        _state = state;
        _transfers = transfers;
        _clients = clients;
        _log = log;
        Metrics = metrics;
        Endpoint = endpoint;
        Options = options;
    }

    /// <summary>Where clients reach the mirror, e.g. <c>http://127.0.0.1:8080/</c>.</summary>
    public Uri Endpoint { get; }

    public MirrorOptions Options { get; }

    /// <summary>The latest requests the mirror answered (up to 10,000), for tests and diagnostics.</summary>
    public HubRequestLog Requests => _state.Log;

    internal MirrorMetrics Metrics { get; }

    /// <summary>Upstream transfers running now.</summary>
    public int TransfersInFlight => _transfers.Count;

    /// <summary>Store updates (listings, refs, access checks) running now: none once the mirror is idle.</summary>
    internal int StoreUpdatesRunning => _transfers.UpdatesRunning;

    public static async Task<MirrorServer> StartAsync(MirrorOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var log = new MirrorLog(options.Log, options.Time);
        var store = new MirrorStore(options.Store, log);
        Directory.CreateDirectory(store.Root);
        var metrics = new MirrorMetrics();
        var lru = new BlobLru(options.MaxSize, log, metrics);
        lru.Scan(store);
        var sessions = new RepoSessions(store, options.Download, log);
        lru.UnderRepoLock = async (repo, work) =>
        {
            var session = await sessions.AcquireAsync(repo, CancellationToken.None).ConfigureAwait(false);
            try
            {
                await work().ConfigureAwait(false);
            }
            finally
            {
                await sessions.ReleaseAsync(session).ConfigureAwait(false);
            }
        };
        var access = new MirrorAccess(store, options.Time, options.AccessTtl, options.RevisionTtl);
        var clients = new UpstreamClients(options.Upstream, options.UpstreamClient);
        var transfers = new FetchRegistry(store, sessions, options, log, metrics, lru);
        var storedRepos = new StoredRepoStore(store, transfers);
        var state = new HubState(new HubServerOptions { Store = storedRepos, TokensCheckedUpstream = true, BindAddress = options.BindAddress, ClientStallTimeout = options.ClientStallTimeout }, new HubRequestLog(capacity: 10_000, redact: true));
        var proxy = new UpstreamProxy(options.Upstream, clients.Http, clients.Options.ApiTimeout);
        var handler = new MirrorHandler(options, state, store, access, clients, proxy, transfers, storedRepos, lru, metrics, log);
        metrics.UpstreamBytesInFlight = () => transfers.BytesInFlight;
        metrics.TransfersInFlight = () => transfers.Count;
        metrics.StoredBytes = () => lru.TotalBytes;

        var address = IPAddress.Parse(options.BindAddress);
        var app = HubServer.Build(address, options.Port, handler.HandleAsync, certificate: null, facesClients: true);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            clients.Dispose();
            throw;
        }
        var host = address.Equals(IPAddress.Any) ? "127.0.0.1"
            : address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]"
            : address.ToString();
        var endpoint = new Uri($"http://{host}:{HubServer.PortOf(app)}/");
        log.Write("started", ("endpoint", endpoint.ToString()), ("upstream", Core.Hub.HubUrls.Display(options.Upstream)), ("store", store.Root),
            ("offline", options.Offline), ("maxSize", options.MaxSize), ("storedBytes", lru.TotalBytes));
        // A store over the bound (started with a smaller one than before) shrinks now, not only when a file arrives.
        lru.EvictWhileOver();
        if (!options.Offline)
        {
            transfers.ResumeInterrupted(access, clients.Anonymous);
        }
        return new MirrorServer(app, state, transfers, clients, log, metrics, endpoint, options);
    }

    private static void Validate(MirrorOptions options)
    {
        if (options.Upstream.Scheme is not ("http" or "https"))
        {
            throw new InvalidOptionException(nameof(MirrorOptions.Upstream), $"must be an http(s) URL (got '{Core.Hub.HubUrls.DisplayText(options.Upstream.ToString())}').");
        }
        if (string.IsNullOrWhiteSpace(options.Store))
        {
            throw new InvalidOptionException(nameof(MirrorOptions.Store), "must name a folder.");
        }
        if (!IPAddress.TryParse(options.BindAddress, out _))
        {
            throw new InvalidOptionException(nameof(MirrorOptions.BindAddress), $"must be an IP address to listen on (got '{options.BindAddress}').");
        }
        if (options.MaxSize is <= 0)
        {
            throw new InvalidOptionException(nameof(MirrorOptions.MaxSize), "must be more than 0 bytes.");
        }
        if (options.RevisionTtl < TimeSpan.Zero || options.AccessTtl < TimeSpan.Zero)
        {
            throw new InvalidOptionException(options.RevisionTtl < TimeSpan.Zero ? nameof(MirrorOptions.RevisionTtl) : nameof(MirrorOptions.AccessTtl), "must not be negative.");
        }
        options.Download.Validate();
    }

    /// <summary>
    /// Stops gracefully: the upstream transfers in flight stop and journal what they wrote (the next start resumes
    /// them, from the journal), the clients following them are cut, then the listener stops.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _transfers.StopAsync().ConfigureAwait(false);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Connections still open after the grace period are dropped.
            }
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        _clients.Dispose();
        _state.Xet.Dispose();
        _log.Write("stopped");
    }
}
