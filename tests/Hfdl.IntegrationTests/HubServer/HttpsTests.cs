using System.Net;
using System.Net.Security;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

public sealed class HttpsTests
{
    private static InMemoryRepoStore Store(HostileFaults? hostile = null) => new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/tls", r => r
        .File("config.json", "{}")
        .File("model.safetensors", SyntheticContent.Create(10_000, 1))
        .Settings(s => s with { Faults = hostile is null ? null : HubFaults.None with { Hostile = hostile } }));

    private static HttpClient TrustingClient(HubServer server) =>
        new(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is not null && certificate.GetCertHashString() == server.Certificate!.GetCertHashString(),
            },
        })
        {
            BaseAddress = server.Endpoint,
        };

    [Fact]
    public async Task Https_server_presents_its_certificate_on_hub_and_cdn()
    {
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = Store(), UseHttps = true });
        using var client = TrustingClient(server);

        using var redirect = await client.SendAsync(HttpMethod.Get, "/acme/tls/resolve/main/model.safetensors");
        using var cdn = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri);

        Assert.Equal("https", server.Endpoint.Scheme);
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        Assert.Equal("https", redirect.Headers.Location.Scheme);
        Assert.Equal(HttpStatusCode.OK, cdn.StatusCode);
        Assert.Equal(10_000, (await cdn.Content.ReadAsByteArrayAsync()).Length);
    }

    [Fact]
    public async Task Downgrade_fault_redirects_from_https_to_http_and_following_it_gets_nothing()
    {
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = Store(new HostileFaults { DowngradeToHttp = true }), UseHttps = true });
        using var client = TrustingClient(server);

        using var redirect = await client.SendAsync(HttpMethod.Get, "/acme/tls/resolve/main/model.safetensors");

        Assert.Equal("http", redirect.Headers.Location!.Scheme);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(redirect.Headers.Location));
        Assert.DoesNotContain(server.Requests.Snapshot(), r => r.Listener == "cdn");
    }
}
