using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Hfdl.Hub.Server;

/// <summary>
/// A Hugging Face Hub look-alike on loopback: a hub listener (<see cref="Endpoint"/>) for the API and
/// <c>/resolve/</c>, a second listener under another host name (<see cref="CdnEndpoint"/>) that plays the CDN
/// signed redirects and xorb URLs point to, and a third (<see cref="CasEndpoint"/>) for Xet reconstructions.
/// <code>
/// await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
/// var url = new Uri(server.Endpoint, "acme/tiny/resolve/main/config.json");
/// </code>
/// </summary>
public sealed class HubServer : IAsyncDisposable
{
    private readonly WebApplication _hub;
    private readonly WebApplication _cdn;
    private readonly WebApplication _cas;
    private readonly HubState _state;

    private HubServer(HubServerOptions options, HubState state, WebApplication hub, WebApplication cdn, WebApplication cas, Uri endpoint, X509Certificate2? certificate)
    {
        Certificate = certificate;
        Options = options;
        _state = state;
        _hub = hub;
        _cdn = cdn;
        _cas = cas;
        Endpoint = endpoint;
        CdnEndpoint = state.CdnBase;
        CasEndpoint = state.CasBase;
        Requests = state.Log;
    }

    /// <summary>The hub, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Endpoint { get; }

    /// <summary>The CDN listener under another host name, e.g. <c>http://localhost:41235/</c>.</summary>
    public Uri CdnEndpoint { get; }

    /// <summary>
    /// The Xet CAS listener (reconstructions) under the CDN's host name, e.g. <c>http://localhost:41236/</c>: the
    /// <c>casUrl</c> of Xet tokens.
    /// </summary>
    public Uri CasEndpoint { get; }

    /// <summary>Every request the listeners received (<see cref="RecordedRequest.Listener"/>: hub, cdn or cas).</summary>
    public HubRequestLog Requests { get; }

    public HubServerOptions Options { get; }

    /// <summary>The server's Xet store, for tests that look at the xorbs it made.</summary>
    internal XetCas Xet => _state.Xet;

    /// <summary>With <see cref="HubServerOptions.UseHttps"/>, the self-signed certificate both listeners present.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>The <c>/resolve/</c> URL of a file, escaped as huggingface_hub does (revision as one segment).</summary>
    public Uri ResolveUrl(RepoType type, string repoId, string path, string revision = HostedRepo.DefaultBranch) =>
        new(Endpoint, $"{type.FilePrefix()}{repoId}/resolve/{Uri.EscapeDataString(revision)}/{HubRequest.EscapePath(path)}");

    /// <summary>Starts the listeners; returns when they accept connections.</summary>
    public static async Task<HubServer> StartAsync(HubServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var log = new HubRequestLog(options.RequestLogCapacity);
        var address = IPAddress.Parse(options.BindAddress);
        var state = new HubState(options, log);

        var certificate = options.UseHttps ? CreateCertificate(options.CdnHostName) : null;
        var scheme = options.UseHttps ? "https" : "http";
        var cdn = Build(address, options.CdnPort, state.Cdn.HandleAsync, certificate);
        await cdn.StartAsync(cancellationToken).ConfigureAwait(false);
        var cdnPort = PortOf(cdn);
        state.CdnBase = new Uri($"{scheme}://{options.CdnHostName}:{cdnPort}");

        var cas = Build(address, options.CasPort, state.Cas.HandleAsync, certificate);
        var hub = Build(address, options.Port, state.Hub.HandleAsync, certificate);
        try
        {
            await cas.StartAsync(cancellationToken).ConfigureAwait(false);
            state.CasBase = new Uri($"{scheme}://{options.CdnHostName}:{PortOf(cas)}");
            await hub.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await cdn.DisposeAsync().ConfigureAwait(false);
            await cas.DisposeAsync().ConfigureAwait(false);
            await hub.DisposeAsync().ConfigureAwait(false);
            state.Xet.Dispose();
            throw;
        }
        var hubHost = address.Equals(IPAddress.Any) ? "127.0.0.1"
            : address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]"
            : address.ToString();
        var endpoint = new Uri($"{scheme}://{hubHost}:{PortOf(hub)}");
        return new HubServer(options, state, hub, cdn, cas, endpoint, certificate);
    }

    public async ValueTask DisposeAsync()
    {
        // Stop quickly: clients in a stalled download must not hold the test up.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await Task.WhenAll(
            _hub.StopAsync(timeout.Token),
            _cdn.StopAsync(timeout.Token),
            _cas.StopAsync(timeout.Token)).ConfigureAwait(false);
        await _hub.DisposeAsync().ConfigureAwait(false);
        await _cdn.DisposeAsync().ConfigureAwait(false);
        await _cas.DisposeAsync().ConfigureAwait(false);
        _state.Xet.Dispose();
    }

    private static void Validate(HubServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.Store);
        if (options.TreePageSize < 1 || options.TreePageSizeExpanded < 1)
        {
            throw new ArgumentException("Tree page sizes must be at least 1.", nameof(options));
        }
        if (!IPAddress.TryParse(options.BindAddress, out _))
        {
            throw new ArgumentException($"BindAddress '{options.BindAddress}' is not an IP address.", nameof(options));
        }
        if (options.SignedUrlLifetime <= TimeSpan.Zero)
        {
            throw new ArgumentException("SignedUrlLifetime must be positive.", nameof(options));
        }
        if (options.Xet.MaxXorbChunks < 1 || options.Xet.MaxXorbBytes is < 1 or > Hfdl.Core.Xet.XorbBuilder.MaxSerializedBytes)
        {
            throw new ArgumentException("Xet.MaxXorbChunks must be at least 1 and Xet.MaxXorbBytes from 1 to 64 MiB.", nameof(options));
        }
        if (options.Xet.TokenLifetime <= TimeSpan.Zero)
        {
            throw new ArgumentException("Xet.TokenLifetime must be positive.", nameof(options));
        }
        options.Faults.Validate();
    }

    /// <summary>A self-signed certificate for the loopback addresses and the CDN host name, valid for a day.</summary>
    private static X509Certificate2 CreateCertificate(string cdnHostName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Hfdl.Hub test server", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        names.AddDnsName("localhost");
        if (cdnHostName != "localhost")
        {
            names.AddDnsName(cdnHostName);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        // Kestrel needs a certificate whose private key it can use for TLS; a PKCS#12 round trip gives one.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>
    /// The most connections a server facing real clients (<c>hfdl serve</c>) keeps open at once: a site's nodes with
    /// many connections each fit, and one client that opens thousands and never reads cannot exhaust its file
    /// descriptors and memory (QA: 10,500 such connections took 20,000 descriptors and 5 GB, and the listener never
    /// accepted again). Past it, new connections wait in the listen backlog.
    /// </summary>
    internal const long MaxClientConnections = 4096;

    /// <param name="facesClients">
    /// Serves real clients (<c>hfdl serve</c>), not tests: at most <see cref="MaxClientConnections"/> connections, and
    /// Kestrel's minimum response data rate kept. That rate alone does not cut a client that stops reading (each large
    /// write is allowed its size / 240 B/s); <see cref="HubServerOptions.ClientStallTimeout"/> does. The test hub sends
    /// slowly on purpose (throttling, stalls) and is left unbounded.
    /// </param>
    internal static WebApplication Build(IPAddress address, int port, RequestDelegate handler, X509Certificate2? certificate, bool facesClients = false)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (facesClients)
            {
                kestrel.Limits.MaxConcurrentConnections = MaxClientConnections;
            }
            else
            {
                // Throttling and stall faults send slowly on purpose; Kestrel must not cut them off.
                kestrel.Limits.MinResponseDataRate = null;
                kestrel.Limits.MaxConcurrentConnections = null;
            }
            kestrel.Listen(address, port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        app.Run(handler);
        return app;
    }

    internal static int PortOf(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First()).Port;
    }
}
