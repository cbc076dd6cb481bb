using System.Net;
using System.Net.Security;
using System.Text;
using System.Text.RegularExpressions;
using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Replay;

/// <summary>What HubClient refuses to do, whatever a server (or a man in the middle) answers.</summary>
public sealed partial class HubClientSafetyTests
{
    private const string Secret = "hf_SECRETSECRET";
    private static readonly RepoId Repo = RepoId.Parse("org/name");
    private static readonly AccessToken Token = new(Secret, TokenOrigin.HfTokenVariable);
    private const string InfoPath = "/api/models/org/name";
    private const string Info = """{"_id":"621ffdc036468d709f174338","id":"org/name","sha":"86b5e0934494bd15c9632b12f734a8a67f723594","siblings":[]}""";

    // One attempt per call: these tests are about what a single answer does (retries are MetadataRetryTests' subject).
    private static HubClient Client(ReplayServer server, TimeSpan? apiTimeout = null) =>
        new(new HubClientOptions { Endpoint = server.BaseUri, Token = Token, ApiTimeout = apiTimeout ?? TimeSpan.FromSeconds(30), MaxRetries = 0 });

    private static void AssertNoSecret(Exception ex) =>
        Assert.DoesNotContain("SECRET", ex.ToString(), StringComparison.Ordinal);

    [GeneratedRegex(@"[.!?]\)?\s+[A-Z]")]
    private static partial Regex SentenceBoundary();

    private static void AssertOneSentence(string message)
    {
        Assert.DoesNotContain('\n', message);
        Assert.EndsWith(".", message, StringComparison.Ordinal);
        Assert.DoesNotMatch(SentenceBoundary(), message);
    }

    [Fact]
    public async Task A_whoami_answer_that_echoes_the_token_back_has_it_masked_everywhere()
    {
        // Login printed "Logged in as evil...hf_LEAK..." and saved the token as a stored_tokens section name (QA: helper-45).
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Json(
            """{"type":"user","name":"evil@TOKEN@","fullname":"@TOKEN@","email":"@TOKEN@@x","orgs":[{"name":"@TOKEN@","fullname":"o @TOKEN@"}],"auth":{"type":"access_token","accessToken":{"displayName":"@TOKEN@","role":"@TOKEN@"}}}""".Replace("@TOKEN@", Secret, StringComparison.Ordinal)));
        using var client = Client(server);

        var info = await client.WhoAmIAsync();

        var text = System.Text.Json.JsonSerializer.Serialize(info, HubJsonContext.Default.WhoAmIInfo);
        Assert.DoesNotContain("SECRETSECRET", text, StringComparison.Ordinal);
        Assert.Equal("evilhf_***", info.Name);
        Assert.Equal("hf_***", info.Auth!.AccessToken!.DisplayName);
        Assert.Equal("hf_***", Assert.Single(info.Orgs ?? [])?.Name);
    }

    [Theory]
    [InlineData("""{"type":"org","id":"5f0000000000000000000001","name":"acme","fullname":"Acme","auth":{"type":"access_token","accessToken":{"displayName":"ci","role":"read"}}}""")]
    [InlineData("""{"type":"org","name":"acme","fullname":null,"email":null,"orgs":null,"auth":null}""")]
    [InlineData("""{"type":"app","name":"acme","orgs":[null,{"fullname":"No name"},{"name":null}],"auth":{"type":null,"accessToken":null}}""")]
    public async Task A_whoami_answer_without_orgs_or_with_null_fields_gives_the_account_name_and_no_organisations(string answer)
    {
        // An organisation's token is answered without "orgs": whoami and login failed with an ArgumentNullException
        // (QA: helper-50). With a token, the answer also goes through the token masking.
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Json(answer));
        using var client = Client(server);

        var info = await client.WhoAmIAsync();

        Assert.Equal("acme", info.Name);
        Assert.Empty(info.Orgs ?? []);
    }

    [Theory]
    [InlineData("""{"type":"user","name":null,"orgs":[]}""")]
    [InlineData("""{"type":"user","name":"","orgs":[]}""")]
    public async Task A_whoami_answer_without_an_account_name_is_a_protocol_error_that_says_so(string answer)
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Json(answer));
        using var client = Client(server);

        var error = await Assert.ThrowsAsync<HubProtocolException>(() => client.WhoAmIAsync());

        Assert.Contains("without an account name", error.Message, StringComparison.Ordinal);
        AssertNoSecret(error);
    }

    [Fact]
    public async Task The_configured_user_agent_is_sent_as_is()
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Json(Info));
        using var client = Client(server);

        await client.GetRepoInfoAsync(RepoType.Model, Repo, null);

        Assert.Matches(@"^hfdl/\d+\.\d+\.\d+ dotnet/", server.Requests.Single().Headers["User-Agent"]);
    }

    [Fact]
    public async Task A_redirect_from_https_to_http_is_refused_and_the_http_server_sees_nothing()
    {
        using var certificate = ReplayServer.CreateSelfSignedCertificate();
        await using var plain = await ReplayServer.StartAsync(_ => ReplayResponse.Json(Info));
        await using var secure = await ReplayServer.StartAsync(_ => ReplayResponse.Redirect(302, plain.Url(InfoPath).AbsoluteUri), certificate);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                // Trust exactly this test certificate, nothing else.
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString(),
            },
        };
        var options = new HubClientOptions { Endpoint = secure.BaseUri, Token = Token };
        using var client = new HubClient(options, new HttpClient(handler), ownsHttp: true);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Contains("https", ex.Message, StringComparison.Ordinal);
        Assert.Equal("https", secure.BaseUri.Scheme);
        Assert.Single(secure.Requests);
        Assert.Equal($"Bearer {Secret}", secure.Requests[0].Authorization);
        Assert.Empty(plain.Requests);
        AssertNoSecret(ex);
    }

    [Fact]
    public async Task A_redirect_loop_is_refused()
    {
        await using var server = await ReplayServer.StartAsync();
        server.Handler = request => request.Path == InfoPath
            ? ReplayResponse.Redirect(307, "/api/models/org/other")
            : ReplayResponse.Redirect(307, InfoPath);
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Contains("loop", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, server.Requests.Count);
        AssertNoSecret(ex);
    }

    private static Func<ReceivedRequest, ReplayResponse> Hops(int redirects) => request =>
    {
        var hop = request.Path == InfoPath ? 0 : int.Parse(request.Path["/hop/".Length..], System.Globalization.CultureInfo.InvariantCulture);
        return hop < redirects ? ReplayResponse.Redirect(307, $"/hop/{hop + 1}") : ReplayResponse.Json(Info);
    };

    [Fact]
    public async Task Ten_redirects_are_followed()
    {
        await using var server = await ReplayServer.StartAsync(Hops(10));
        using var client = Client(server);

        var info = await client.GetRepoInfoAsync(RepoType.Model, Repo, null);

        Assert.Equal("org/name", info.Id);
        Assert.Equal(11, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal($"Bearer {Secret}", r.Authorization));
    }

    [Fact]
    public async Task More_than_ten_redirects_are_refused()
    {
        await using var server = await ReplayServer.StartAsync(Hops(11));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Contains("more than 10 times", ex.Message, StringComparison.Ordinal);
        Assert.Equal(11, server.Requests.Count);
        AssertNoSecret(ex);
    }

    [Theory]
    [InlineData("ftp://127.0.0.1/x")]
    [InlineData("file:///etc/passwd")]
    public async Task A_redirect_to_a_non_http_scheme_is_refused(string location)
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Redirect(302, location));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));
        AssertNoSecret(ex);
    }

    [Fact]
    public async Task A_303_is_followed_with_GET()
    {
        await using var server = await ReplayServer.StartAsync(request =>
            request.Path == InfoPath ? ReplayResponse.Redirect(303, "/elsewhere") : ReplayResponse.Json(Info));
        using var client = Client(server);

        await client.GetRepoInfoAsync(RepoType.Model, Repo, null);

        Assert.All(server.Requests, r => Assert.Equal("GET", r.Method));
    }

    [Fact]
    public async Task A_redirect_without_Location_is_reported_not_followed()
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Text(307, "Temporary Redirect."));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));
        Assert.Equal((HttpStatusCode)307, ex.StatusCode);
        Assert.Single(server.Requests);
    }

    [Theory]
    [InlineData("<html><body>Bad gateway</body></html>")]
    [InlineData("{\"_id\":\"x\",\"id\":")]
    [InlineData("{\"id\":42}")]
    [InlineData("[1,2,3]")]
    [InlineData("{\"_id\":\"x\",\"sha\":\"abc\"}")]
    public async Task Malformed_JSON_is_a_protocol_error_with_a_one_sentence_message(string body)
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Json(body));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        AssertOneSentence(ex.Message);
        Assert.Contains("malformed JSON", ex.Message, StringComparison.Ordinal);
        Assert.Contains(InfoPath, ex.Message, StringComparison.Ordinal);
        Assert.NotNull(ex.InnerException);
        AssertNoSecret(ex);
    }

    [Fact]
    public async Task A_null_JSON_body_is_a_protocol_error()
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Json("null"));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));
        AssertOneSentence(ex.Message);
    }

    private const long MiB = 1024 * 1024;

    private static readonly byte[] TreeChunk = Encoding.ASCII.GetBytes("[" + string.Concat(Enumerable.Repeat(
        """{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":313,"path":"config.json"},""", 600)));

    private static HubClient Client(RawHttpServer server) =>
        new(new HubClientOptions { Endpoint = server.BaseUri, Token = Token, ApiTimeout = TimeSpan.FromSeconds(60), MaxRetries = 0 });

    [Fact]
    public async Task A_JSON_body_over_64_MiB_is_refused_while_streaming_and_the_connection_released()
    {
        // No Content-Length: the body ends when the server closes, so only counting while reading can stop it.
        await using var server = RawHttpServer.Start("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close", TreeChunk, cap: 256 * MiB);
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() =>
            client.ListTreeAsync(RepoType.Model, Repo, "main").ToListAsync().AsTask());

        Assert.Contains("larger than 64 MiB", ex.Message, StringComparison.Ordinal);
        AssertNoSecret(ex);
        // The server stops as soon as the client hangs up: 64 MiB read, plus what the socket buffers held. The server
        // counts whole writes: the one the hang-up cut short is not counted, though the client may have read part of it.
        var sent = await server.BodyBytesSent.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.InRange(sent, (64 * MiB) - TreeChunk.Length, 80 * MiB);
    }

    [Fact]
    public async Task A_JSON_body_announced_over_64_MiB_is_refused_before_reading_it()
    {
        await using var server = RawHttpServer.Start($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {80 * MiB + 1}", TreeChunk, cap: 80 * MiB);
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Contains("larger than 64 MiB", ex.Message, StringComparison.Ordinal);
        var sent = await server.BodyBytesSent.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(sent < 16 * MiB, $"the server could send {sent / MiB} MiB before the client hung up");
    }

    [Fact]
    public async Task A_huge_error_body_is_read_only_in_part()
    {
        await using var server = RawHttpServer.Start("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close", TreeChunk, cap: 256 * MiB);
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<HubException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Equal(HttpStatusCode.InternalServerError, ex.StatusCode);
        Assert.True(ex.Message.Length < 1000, "the quoted server message is cut");
        var sent = await server.BodyBytesSent.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(sent < 32 * MiB, $"the server could send {sent / MiB} MiB of error body");
    }

    [Fact]
    public async Task A_server_that_never_answers_is_unreachable_after_the_api_timeout()
    {
        await using var server = await ReplayServer.StartAsync(_ => new ReplayResponse
        {
            Writer = (_, ct) => Task.Delay(Timeout.Infinite, ct),
        });
        using var client = Client(server, apiTimeout: TimeSpan.FromMilliseconds(300));

        var ex = await Record.ExceptionAsync(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null).WaitAsync(TimeSpan.FromSeconds(30)));

        var unreachable = Assert.IsType<HubUnreachableException>(ex);
        Assert.Contains("did not answer in time", unreachable.Message, StringComparison.Ordinal);
        AssertNoSecret(unreachable);
    }

    [Fact]
    public async Task A_server_that_stalls_inside_the_body_is_unreachable_after_the_api_timeout()
    {
        await using var server = await ReplayServer.StartAsync(_ => new ReplayResponse
        {
            Writer = async (response, ct) =>
            {
                response.ContentLength = 1000;
                await response.Body.WriteAsync("{\"id\":"u8.ToArray(), ct);
                await response.Body.FlushAsync(ct);
                await Task.Delay(Timeout.Infinite, ct);
            },
        });
        using var client = Client(server, apiTimeout: TimeSpan.FromMilliseconds(300));

        var ex = await Record.ExceptionAsync(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.IsType<HubUnreachableException>(ex);
        AssertNoSecret(ex);
    }

    [Fact]
    public async Task The_callers_own_cancellation_stays_a_cancellation()
    {
        await using var server = await ReplayServer.StartAsync(_ => new ReplayResponse
        {
            Writer = (_, ct) => Task.Delay(Timeout.Infinite, ct),
        });
        using var client = Client(server);
        using var cancel = new CancellationTokenSource();
        var call = client.GetRepoInfoAsync(RepoType.Model, Repo, null, cancellationToken: cancel.Token);
        while (server.Requests.Count == 0)
        {
            await Task.Yield();
        }

        await cancel.CancelAsync();

        var ex = await Record.ExceptionAsync(() => call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.IsAssignableFrom<OperationCanceledException>(ex);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked")]
    public async Task A_body_cut_short_is_an_hfdl_error_not_a_raw_IOException(string head)
    {
        // The server sends part of the body and closes the connection cleanly.
        var part = head.Contains("chunked", StringComparison.Ordinal) ? "14\r\n{\"id\":\"org/name\",\"sha\r\n"u8.ToArray() : "{\"id\":\"org/name\",\"sha"u8.ToArray();
        await using var server = RawHttpServer.Start(head, part, cap: part.Length);
        using var client = Client(server);

        var ex = await Record.ExceptionAsync(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.IsAssignableFrom<HfdlException>(ex);
        AssertNoSecret(ex!);
    }

    [Fact]
    public async Task A_refused_connection_is_unreachable_and_names_the_host_not_the_token()
    {
        int port;
        await using (var gone = await ReplayServer.StartAsync())
        {
            port = gone.Port;
        }
        using var client = new HubClient(new HubClientOptions { Endpoint = new Uri($"http://127.0.0.1:{port}"), Token = Token });

        var ex = await Assert.ThrowsAsync<HubUnreachableException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("the endpoint", ex.Message, StringComparison.Ordinal);
        AssertNoSecret(ex);
    }

    public static TheoryData<int, string, string, Type> WireErrors => new()
    {
        { 401, "GatedRepo", "Access to model org/name is restricted. You must have access to it and be authenticated to access it. Please log in.", typeof(GatedRepoException) },
        { 403, "GatedRepo", "Access to model org/name is restricted and you are not in the authorized list. Visit https://huggingface.co/org/name to ask for access.", typeof(GatedRepoException) },
        { 404, "RepoNotFound", "Repository not found", typeof(RepositoryNotFoundException) },
        { 404, "RevisionNotFound", "Invalid rev id: v9", typeof(RevisionNotFoundException) },
        { 401, "", "Invalid credentials in Authorization header", typeof(InvalidTokenException) },
        { 403, "", "Access to this resource is disabled.", typeof(DisabledRepoException) },
    };

    [Theory]
    [MemberData(nameof(WireErrors))]
    public async Task Hub_errors_on_the_wire_become_typed_exceptions_without_the_token(int status, string code, string message, Type expected)
    {
        await using var server = await ReplayServer.StartAsync(_ =>
        {
            var headers = new List<(string, string)> { ("X-Error-Message", message), ("X-Request-Id", "Root=1-abc") };
            if (code.Length > 0)
            {
                headers.Add(("X-Error-Code", code));
            }
            var response = ReplayResponse.Json($"{{\"error\":\"{message}\"}}", [.. headers]);
            return new ReplayResponse { Status = status, Headers = response.Headers, Body = response.Body };
        });
        using var client = Client(server);

        var ex = await Assert.ThrowsAnyAsync<HubException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, "v9"));

        Assert.Equal(expected, ex.GetType());
        Assert.EndsWith("(Request ID: Root=1-abc)", ex.Message, StringComparison.Ordinal);
        AssertNoSecret(ex);
    }

    [Fact]
    public async Task A_rate_limit_on_the_wire_carries_the_delay_to_wait()
    {
        await using var server = await ReplayServer.StartAsync(_ => ReplayResponse.Text(429, "Too Many Requests",
            ("RateLimit", "\"api\";r=0;t=55"), ("RateLimit-Policy", "\"fixed window\";\"api\";q=500;w=300")));
        using var client = Client(server);

        var ex = await Assert.ThrowsAsync<RateLimitedException>(() => client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.Equal(TimeSpan.FromSeconds(56), ex.RetryAfter);
    }
}
