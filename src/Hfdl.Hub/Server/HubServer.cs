using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Hfdl.Hub.Server;

/// <summary>
/// A Hugging Face Hub look-alike on loopback: a hub listener (<see cref="Endpoint"/>) for the API and
/// <c>/resolve/</c>, and a second listener under another host name (<see cref="CdnEndpoint"/>) that plays the CDN
/// signed redirects point to.
/// <code>
/// await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
/// var url = new Uri(server.Endpoint, "acme/tiny/resolve/main/config.json");
/// </code>
/// </summary>
public sealed class HubServer : IAsyncDisposable
{
    private readonly WebApplication _hub;
    private readonly WebApplication _cdn;

    private HubServer(HubServerOptions options, WebApplication hub, WebApplication cdn, Uri endpoint, Uri cdnEndpoint, HubRequestLog log)
    {
        Options = options;
        _hub = hub;
        _cdn = cdn;
        Endpoint = endpoint;
        CdnEndpoint = cdnEndpoint;
        Requests = log;
    }

    /// <summary>The hub, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Endpoint { get; }

    /// <summary>The CDN listener under another host name, e.g. <c>http://localhost:41235/</c>.</summary>
    public Uri CdnEndpoint { get; }

    /// <summary>Every request both listeners received.</summary>
    public HubRequestLog Requests { get; }

    public HubServerOptions Options { get; }

    /// <summary>Starts both listeners; returns when they accept connections.</summary>
    public static async Task<HubServer> StartAsync(HubServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var log = new HubRequestLog();
        var address = IPAddress.Parse(options.BindAddress);
        var state = new HubState(options, log);

        var cdn = Build(address, options.CdnPort, state.Cdn.HandleAsync);
        await cdn.StartAsync(cancellationToken).ConfigureAwait(false);
        var cdnPort = PortOf(cdn);
        state.CdnBase = new Uri($"http://{options.CdnHostName}:{cdnPort}");

        var hub = Build(address, options.Port, state.Hub.HandleAsync);
        try
        {
            await hub.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await cdn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var hubHost = address.Equals(IPAddress.Any) ? "127.0.0.1"
            : address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]"
            : address.ToString();
        var endpoint = new Uri($"http://{hubHost}:{PortOf(hub)}");
        return new HubServer(options, hub, cdn, endpoint, state.CdnBase, log);
    }

    public async ValueTask DisposeAsync()
    {
        // Stop quickly: clients in a stalled download must not hold the test up.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await Task.WhenAll(
            _hub.StopAsync(timeout.Token),
            _cdn.StopAsync(timeout.Token)).ConfigureAwait(false);
        await _hub.DisposeAsync().ConfigureAwait(false);
        await _cdn.DisposeAsync().ConfigureAwait(false);
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
        options.Faults.Validate();
    }

    private static WebApplication Build(IPAddress address, int port, RequestDelegate handler)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Throttling and stall faults send slowly on purpose; Kestrel must not cut them off.
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.MaxConcurrentConnections = null;
            kestrel.Listen(address, port, listen => listen.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        app.Run(handler);
        return app;
    }

    private static int PortOf(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First()).Port;
    }
}
