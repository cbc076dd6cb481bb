using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hfdl.Core.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// The token policy of <see cref="HubClient"/> over every redirect shape, with https endpoints and hosts that are not
/// loopback. The hosts are answered by a scripted handler inside the process, so nothing leaves the machine; only the
/// TLS test opens a real (loopback) socket.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class RedirectPolicyTests
{
    private const string Token = "hf_RedirectPolicyToken0000000000000";

    /// <summary>Answers each request from a script and records what was sent, Authorization included.</summary>
    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<(Uri Url, string? Authorization)> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Seen.Add((request.RequestUri!, request.Headers.Authorization?.ToString()));
            var response = answer(request);
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }

    private static HttpResponseMessage Redirect(HttpStatusCode status, string location)
    {
        var response = new HttpResponseMessage(status);
        response.Headers.Location = new Uri(location, UriKind.RelativeOrAbsolute);
        return response;
    }

    private static HttpResponseMessage Ok() => new(HttpStatusCode.OK) { Content = new ByteArrayContent([1, 2, 3]) };

    private static async Task<(ScriptedHandler Handler, Exception? Error)> FollowAsync(string endpoint, Func<HttpRequestMessage, HttpResponseMessage> answer)
    {
        var handler = new ScriptedHandler(answer);
        var options = new HubClientOptions { Endpoint = new Uri(endpoint), Token = new AccessToken(Token, TokenOrigin.HfTokenVariable) };
        using var client = new HubClient(options, new HttpClient(handler), ownsHttp: true);
        var url = HubUrls.Resolve(options.Endpoint, RepoType.Model, RepoId.Parse("acme/x"), "main", "a.bin");
        try
        {
            using var response = await client.SendFileRequestAsync(url, 0, null, client.Context(RepoType.Model, RepoId.Parse("acme/x"), "main", "a.bin"), CancellationToken.None);
            return (handler, null);
        }
        catch (HfdlException ex)
        {
            return (handler, ex);
        }
    }

    private static void OnlyTo(ScriptedHandler handler, string origin)
    {
        foreach (var (url, authorization) in handler.Seen)
        {
            var isOrigin = url.GetLeftPart(UriPartial.Authority) == origin;
            Assert.True(isOrigin == (authorization is not null), $"{url}: {(authorization is null ? "no token" : "token")}");
        }
    }

    [Theory]
    [InlineData("https://cdn.example/blob?sig=1")]            // another host
    [InlineData("//cdn.example/blob")]                         // scheme-relative: another host
    [InlineData("https://hub.example:8443/blob")]              // same host, another port
    [InlineData("https://hub.example.evil.example/blob")]      // a host that merely starts like the hub
    [InlineData("https://evil.example/hub.example/blob")]
    [InlineData("https://hub.example@evil.example/blob")]      // userinfo trick
    public async Task A_redirect_to_another_origin_is_followed_without_the_token(string location)
    {
        var (handler, error) = await FollowAsync("https://hub.example", r =>
            r.RequestUri!.Host == "hub.example" && r.RequestUri.Port == 443 ? Redirect(HttpStatusCode.Found, location) : Ok());

        Assert.Null(error);
        Assert.Equal(2, handler.Seen.Count);
        OnlyTo(handler, "https://hub.example");
        Assert.NotNull(handler.Seen[0].Authorization);
        Assert.Null(handler.Seen[1].Authorization);
    }

    [Fact]
    public async Task Relative_redirects_on_the_hub_keep_the_token()
    {
        var (handler, error) = await FollowAsync("https://hub.example", r => r.RequestUri!.AbsolutePath switch
        {
            "/acme/x/resolve/main/a.bin" => Redirect(HttpStatusCode.TemporaryRedirect, "/api/resolve-cache/models/acme/x/abc/a.bin"),
            "/api/resolve-cache/models/acme/x/abc/a.bin" => Redirect(HttpStatusCode.Found, "https://HUB.example:443/final"),
            _ => Ok(),
        });

        Assert.Null(error);
        Assert.Equal(3, handler.Seen.Count);
        Assert.All(handler.Seen, s => Assert.Equal($"Bearer {Token}", s.Authorization));
    }

    [Fact]
    public async Task A_host_that_redirects_back_to_the_hub_does_not_get_the_token_sent_there_again()
    {
        var (handler, error) = await FollowAsync("https://hub.example", r => r.RequestUri!.Host switch
        {
            "hub.example" when r.RequestUri.AbsolutePath.Contains("resolve", StringComparison.Ordinal) => Redirect(HttpStatusCode.Found, "https://cdn.example/x"),
            "cdn.example" => Redirect(HttpStatusCode.Found, "https://hub.example/api/settings/delete-everything"),
            _ => Ok(),
        });

        Assert.Null(error);
        Assert.Equal(3, handler.Seen.Count);
        Assert.NotNull(handler.Seen[0].Authorization);
        Assert.Null(handler.Seen[1].Authorization);
        Assert.Null(handler.Seen[2].Authorization);
    }

    [Theory]
    [InlineData("http://hub.example/blob")]
    [InlineData("http://cdn.example/blob")]
    public async Task An_https_hub_that_redirects_to_http_is_refused_before_anything_is_sent(string location)
    {
        var (handler, error) = await FollowAsync("https://hub.example", r =>
            r.RequestUri!.Scheme == "https" ? Redirect(HttpStatusCode.MovedPermanently, location) : Ok());

        Assert.IsType<HubProtocolException>(error);
        Assert.Contains("insecure", error.Message, StringComparison.Ordinal);
        Assert.Single(handler.Seen);
        Assert.DoesNotContain(Token, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_http_endpoint_gets_its_token_but_another_http_host_does_not()
    {
        var (handler, error) = await FollowAsync("http://mirror.internal.example", r =>
            r.RequestUri!.Host == "mirror.internal.example" ? Redirect(HttpStatusCode.Found, "http://files.internal.example/x") : Ok());

        Assert.Null(error);
        OnlyTo(handler, "http://mirror.internal.example");
    }

    [Theory]
    [InlineData("ftp://hub.example/blob")]
    [InlineData("file:///etc/passwd")]
    public async Task A_redirect_to_another_scheme_is_refused(string location)
    {
        var (handler, error) = await FollowAsync("https://hub.example", _ => Redirect(HttpStatusCode.Found, location));

        Assert.IsType<HubProtocolException>(error);
        Assert.Single(handler.Seen);
    }

    [Fact]
    public async Task A_self_signed_certificate_is_refused_with_a_message_that_says_how_to_trust_a_ca()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var exportable = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverTask = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(cts.Token);
            await using var tls = new SslStream(socket.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = exportable }, cts.Token);
                return "handshake completed";
            }
            catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
            {
                return "refused";
            }
        });
        using var temp = new TempFolder();
        var store = new Hfdl.Hub.Server.InMemoryRepoStore();
        await using var unused = await Hfdl.Hub.Server.HubServer.StartAsync(new Hfdl.Hub.Server.HubServerOptions { Store = store });
        var cli = new CliRunner(unused, temp);
        cli.Environment["HF_TOKEN"] = Token;

        var result = await cli.RunAsync("whoami", "--endpoint", $"https://127.0.0.1:{port}");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("certificate", result.Error, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, result.All, StringComparison.Ordinal);
        await serverTask; // With TLS 1.3 the server may finish its side before the client rejects the certificate.
    }

    [Fact]
    public async Task An_https_endpoint_that_speaks_plain_http_is_told_so_not_to_install_a_ca()
    {
        using var temp = new TempFolder();
        await using var plain = await Hfdl.Hub.Server.HubServer.StartAsync(new Hfdl.Hub.Server.HubServerOptions { Store = new Hfdl.Hub.Server.InMemoryRepoStore() });
        var cli = new CliRunner(plain, temp);
        var https = new UriBuilder(plain.Endpoint) { Scheme = "https" }.Uri.ToString();

        var result = await cli.RunAsync("ls", "acme/anything", "--endpoint", https);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("the TLS handshake failed", result.Error, StringComparison.Ordinal);
        Assert.Contains("starts with http://, not https://", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("SSL_CERT_FILE", result.Error, StringComparison.Ordinal);
    }
}
