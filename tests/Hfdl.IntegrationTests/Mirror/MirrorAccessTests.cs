using Hfdl.Core.Hub;
using Hfdl.Hub.Mirror;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;
using Microsoft.Extensions.Time.Testing;
using static Hfdl.IntegrationTests.Mirror.MirrorKit;

namespace Hfdl.IntegrationTests.Mirror;

/// <summary>
/// <c>hfdl serve</c> (issue 14) and access: gated repos, <c>--offline</c> with private and gated repos in the store, and
/// the time-to-lives of a branch's commit and of the upstream's yes to a token, on a fake clock.
/// </summary>
[Collection(nameof(MirrorCollection))]
public sealed class MirrorAccessTests : IDisposable
{
    private const string PublicRepo = "acme/site-model";
    private const string PrivateRepo = "acme/private-model";
    private const string GatedRepo = "acme/gated-model";
    private const string PendingToken = "hf_pending_user_token";

    private static readonly HubUser Carol = new(PendingToken, "carol", []);

    private static readonly (string Path, FileContent Content)[] Files =
    [
        ("config.json", "{\"architectures\":[\"Tiny\"]}"),
        ("model.safetensors", SyntheticContent.Create(size: 3_000_000, seed: 91)),
    ];

    private readonly TempFolder _temp = new("hfdl-mirror-access");

    private string Store => _temp.Combine("store");

    public void Dispose() => _temp.Dispose();

    /// <summary>A public, a private (open to <see cref="HubTestKit.ValidToken"/>) and a gated repo (approved for it, pending for Carol).</summary>
    private static InMemoryRepoStore Repos()
    {
        var store = new InMemoryRepoStore();
        foreach (var (repo, settings) in new (string, Func<RepoSettings, RepoSettings>)[]
        {
            (PublicRepo, s => s),
            (PrivateRepo, s => s with { Private = true, AllowedTokens = [HubTestKit.ValidToken] }),
            (GatedRepo, s => s with { Gated = GatedMode.Manual, ApprovedTokens = [HubTestKit.ValidToken], PendingTokens = [PendingToken] }),
        })
        {
            store.AddRepo(RepoType.Model, repo, r =>
            {
                foreach (var (path, content) in Files)
                {
                    r.File(path, content);
                }
                r.Settings(settings);
            });
        }
        return store;
    }

    private static Task<HubServer> UpstreamAsync(InMemoryRepoStore? store = null) =>
        HubServer.StartAsync(new HubServerOptions { Store = store ?? Repos(), Users = [HubTestKit.Alice, HubTestKit.Bob, Carol] });

    /// <summary>Asks the upstream and the mirror the same thing; the mirror must refuse exactly as the upstream does.</summary>
    private static async Task AssertRefusedAsUpstreamRefusesAsync(HttpClient http, HubServer upstream, MirrorServer mirror, string pathAndQuery, string? token)
    {
        using var direct = await GetAsync(http, new Uri(upstream.Endpoint, pathAndQuery), token);
        using var viaMirror = await GetAsync(http, new Uri(mirror.Endpoint, pathAndQuery), token);
        var who = token ?? "no token";
        Assert.True((int)direct.StatusCode is 401 or 403, $"{pathAndQuery} with {who}: the upstream answered {(int)direct.StatusCode}");
        Assert.Equal(((int)direct.StatusCode, direct.Header("X-Error-Code")), ((int)viaMirror.StatusCode, viaMirror.Header("X-Error-Code")));
        Assert.Equal(direct.Header("X-Error-Message"), viaMirror.Header("X-Error-Message"));
        Assert.NotNull(viaMirror.Header("X-Error-Message"));
    }

    public static TheoryData<string> MalformedAuthorizations() =>
        ["Basic eDpoZl9hbGljZQ==", HubTestKit.ValidToken, "Token " + HubTestKit.ValidToken, "Bearer", "Bearer  "];

    [Theory]
    [MemberData(nameof(MalformedAuthorizations))]
    public async Task An_authorization_header_that_is_not_a_bearer_token_is_refused_as_the_upstream_refuses_it_not_taken_for_no_token(string authorization)
    {
        await using var upstream = await UpstreamAsync();
        await using var mirror = await StartAsync(upstream, Store);
        using var http = Http();
        foreach (var repo in new[] { PrivateRepo, GatedRepo, PublicRepo })
        {
            var commit = await CommitOfMainAsync(http, upstream, repo);
            foreach (var path in new[] { $"{repo}/resolve/main/config.json", $"api/resolve-cache/models/{repo}/{commit}/config.json" })
            {
                using var direct = await GetAsync(http, new Uri(upstream.Endpoint, path), authorization: authorization);
                using var viaMirror = await GetAsync(http, new Uri(mirror.Endpoint, path), authorization: authorization);
                Assert.Equal(401, (int)direct.StatusCode); // the premise: the upstream refuses the header itself
                Assert.Equal(((int)direct.StatusCode, direct.Header("X-Error-Code"), direct.Header("X-Error-Message")),
                    ((int)viaMirror.StatusCode, viaMirror.Header("X-Error-Code"), viaMirror.Header("X-Error-Message")));
                Assert.Equal(direct.Content.Headers.ContentType?.MediaType, viaMirror.Content.Headers.ContentType?.MediaType);
                Assert.Equal(await direct.Content.ReadAsStringAsync(), await viaMirror.Content.ReadAsStringAsync());
            }
        }
    }

    [Fact]
    public async Task Refusals_on_the_api_file_route_have_the_upstreams_json_body_and_an_upstream_server_error_is_not_called_unreachable()
    {
        await using var upstream = await UpstreamAsync();
        await using var mirror = await StartAsync(upstream, Store);
        using var http = Http();
        var commit = await CommitOfMainAsync(http, upstream, PrivateRepo);
        var cachePath = $"api/resolve-cache/models/{PrivateRepo}/{commit}/config.json";
        foreach (var token in new[] { "hf_not_a_known_token", HubTestKit.OtherToken, null })
        {
            using var direct = await GetAsync(http, new Uri(upstream.Endpoint, cachePath), token);
            using var viaMirror = await GetAsync(http, new Uri(mirror.Endpoint, cachePath), token);
            Assert.Equal(((int)direct.StatusCode, direct.Header("X-Error-Code")), ((int)viaMirror.StatusCode, viaMirror.Header("X-Error-Code")));
            Assert.Equal(direct.Content.Headers.ContentType?.MediaType, viaMirror.Content.Headers.ContentType?.MediaType);
            Assert.Equal(await direct.Content.ReadAsStringAsync(), await viaMirror.Content.ReadAsStringAsync());
        }

        // An upstream that answers, with a 500, is not "unreachable": the client gets the upstream's answer.
        await using var failing = await HubServer.StartAsync(new HubServerOptions { Store = Repos(), Faults = HubFaults.None with { ServerErrors = new StatusFault(500) { Probability = 1 } } });
        await using var mirrorOfFailing = await StartAsync(failing, _temp.Combine("store-2"));
        using var answer = await GetAsync(http, new Uri(mirrorOfFailing.Endpoint, $"{PublicRepo}/resolve/main/config.json"));
        using var upstreamAnswer = await GetAsync(http, new Uri(failing.Endpoint, $"{PublicRepo}/resolve/main/config.json"));
        Assert.Equal(500, (int)upstreamAnswer.StatusCode);
        Assert.Equal(500, (int)answer.StatusCode);
        Assert.Equal(upstreamAnswer.Header("X-Error-Message"), answer.Header("X-Error-Message"));
    }

    /// <summary>The commit id of the upstream's main (asked with the token that may see every repo here).</summary>
    private static async Task<string> CommitOfMainAsync(HttpClient http, HubServer upstream, string repo)
    {
        using var info = await GetAsync(http, new Uri(upstream.Endpoint, $"api/models/{repo}"), HubTestKit.ValidToken);
        var commit = (await info.JsonAsync()).GetProperty("sha").GetString()!;
        Assert.Matches("^[0-9a-f]{40}$", commit);
        return commit;
    }

    [Fact]
    public async Task The_mirror_keeps_no_token_and_no_huge_header_in_its_memory_of_requests()
    {
        await using var upstream = await UpstreamAsync();
        await using var mirror = await StartAsync(upstream, Store);
        using var http = Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(mirror.Endpoint, $"{PrivateRepo}/resolve/main/config.json"));
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {HubTestKit.ValidToken}");
        request.Headers.TryAddWithoutValidation("X-Padding", new string('p', 20_000));

        using var response = await http.SendAsync(request);

        Assert.True((int)response.StatusCode < 400, response.StatusCode.ToString()); // accepted (a redirect to the stored file)
        await mirror.Requests.WaitUntilIdleAsync(Patience);
        var recorded = mirror.Requests.Snapshot().Single(r => r.PathAndQuery.Contains("config.json", StringComparison.Ordinal));
        Assert.Equal("(redacted)", recorded.Authorization);
        Assert.DoesNotContain(recorded.Headers, h => h.Value.Contains(HubTestKit.ValidToken, StringComparison.Ordinal));
        Assert.All(recorded.Headers, h => Assert.True(h.Value.Length <= HubRequestLog.RedactedHeaderLength, h.Key));
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_cut_so_that_it_cannot_hold_the_mirror_s_connections_for_ever()
    {
        var big = SyntheticContent.Create(size: 64L * 1024 * 1024, seed: 92); // more than the sockets' buffers hold
        await using var upstream = await UpstreamAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, PublicRepo, r => r.File("big.bin", big)));
        await using var mirror = await StartAsync(upstream, Store, o => o with { ClientStallTimeout = TimeSpan.FromSeconds(2) });
        using var http = Http();
        using (var first = await GetAsync(http, ResolveUrl(mirror.Endpoint, PublicRepo, "big.bin")))
        {
            Assert.True(SameBytes(big, await first.Content.ReadAsByteArrayAsync()));
        }
        using var redirect = await http.GetAsync(ResolveUrl(mirror.Endpoint, PublicRepo, "big.bin"));
        var stored = redirect.Headers.Location is { } location ? new Uri(mirror.Endpoint, location) : ResolveUrl(mirror.Endpoint, PublicRepo, "big.bin");

        // A client that sends its request and never reads a byte of the answer (QA: 10,500 of them exhausted the mirror).
        using var client = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(mirror.Endpoint.Host, mirror.Endpoint.Port);
        await client.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes($"GET {stored.PathAndQuery} HTTP/1.1\r\nHost: {mirror.Endpoint.Authority}\r\n\r\n"));

        await WaitUntilAsync(() => mirror.Requests.Snapshot().Any(r => r.PathAndQuery == stored.PathAndQuery && r.Aborted), "the mirror to cut the client that does not read");
        var cut = mirror.Requests.Snapshot().Last(r => r.PathAndQuery == stored.PathAndQuery && r.Aborted);
        Assert.True(cut.BodyBytesSent < big.Length, $"{cut.BodyBytesSent} bytes sent");
    }

    [Theory]
    [InlineData("GET http://evil.example/api/models/acme/site-model HTTP/1.1", "evil.example")]
    [InlineData("GET http://evil.example/acme/site-model/resolve/main/config.json HTTP/1.1", "evil.example")]
    [InlineData("OPTIONS * HTTP/1.1", "x")]
    public async Task An_absolute_form_target_or_options_star_is_the_hubs_404_not_an_upstream_that_cannot_be_reached(string requestLine, string host)
    {
        // It was a 503 "could not reach its upstream", counted in hfdl_serve_upstream_unreachable_total (QA: helper-57 #3).
        await using var upstream = await UpstreamAsync();
        await using var mirror = await StartAsync(upstream, Store);

        var direct = await StatusLineAsync(upstream.Endpoint, requestLine, host);
        upstream.Requests.Clear();
        var viaMirror = await StatusLineAsync(mirror.Endpoint, requestLine, host);

        Assert.StartsWith("HTTP/1.1 404", direct, StringComparison.Ordinal);
        Assert.Equal(direct, viaMirror);
        using var http = Http();
        var metrics = ParseMetrics(await http.GetStringAsync(new Uri(mirror.Endpoint, "metrics")));
        Assert.Equal(0, metrics["hfdl_serve_upstream_unreachable_total"]);
        Assert.Empty(upstream.Requests.Snapshot());
    }

    /// <summary>Sends one request line as it is, on its own connection, and returns the answer's status line.</summary>
    private static async Task<string> StatusLineAsync(Uri endpoint, string requestLine, string host)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(endpoint.Host, endpoint.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"{requestLine}\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
        return await reader.ReadLineAsync() ?? "";
    }

    [Theory]
    [InlineData("acme/site-model/resolve/%C3%A9/config.json")]
    [InlineData("api/models/acme/site-model/revision/%C3%A9")]
    [InlineData("api/models/acme/site-model/tree/main/%E2%80%AE")]
    [InlineData("acme/site-model/resolve/main/%0D%0Ax.txt")]
    public async Task A_name_with_a_non_ascii_or_control_character_is_a_404_not_a_server_error(string path)
    {
        // Kestrel refuses such characters in a header; the error message quotes the name in X-Error-Message.
        await using var upstream = await UpstreamAsync();
        await using var mirror = await StartAsync(upstream, Store);
        using var http = Http();

        using var direct = await GetAsync(http, new Uri(upstream.Endpoint, path));
        using var viaMirror = await GetAsync(http, new Uri(mirror.Endpoint, path));

        Assert.Equal(System.Net.HttpStatusCode.NotFound, direct.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, viaMirror.StatusCode);
        Assert.DoesNotContain("Internal Error", direct.Header("X-Error-Message") ?? "", StringComparison.Ordinal);
        Assert.Matches("^[ -~]*$", direct.Header("X-Error-Message") ?? "");
    }

    [Theory]
    [InlineData("api/models/acme/site-model/revision/main/%2e%2e/%2e%2e/%2e%2e/%2e%2e/acme/private-model/revision/main", true)]
    [InlineData("api/models/%2e%2e/%2e%2e", true)]
    [InlineData("api/models/acme/site-model/tree/main/%2E", true)]
    [InlineData("acme/site-model/resolve/main/%2e%2e/%2e%2e/%2e%2e/%2e%2e/acme/private-model/resolve/main/config.json", false)]
    public async Task An_escaped_dot_segment_is_a_404_and_no_other_path_is_asked_upstream(string path, bool json)
    {
        // A URL made of the client's raw path drops "%2e%2e" and the segment before it: the upstream would have answered
        // for another repo than the one the mirror routes (and records the commit of).
        await using var upstream = await UpstreamAsync();
        await using var mirror = await StartAsync(upstream, Store);
        using var http = Http();
        var raw = new Uri(mirror.Endpoint + path, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        Assert.Contains("%2", raw.PathAndQuery, StringComparison.OrdinalIgnoreCase);

        using var answer = await http.GetAsync(raw);

        Assert.Equal(System.Net.HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Equal(json ? "application/json" : "text/plain", answer.Content.Headers.ContentType?.MediaType);
        Assert.Empty(upstream.Requests.Snapshot());
    }

    [Fact]
    public async Task A_gated_repo_is_served_to_an_approved_token_and_others_get_exactly_the_upstreams_refusal_even_once_it_is_stored()
    {
        await using var upstream = await UpstreamAsync();
        var log = new StringWriter();
        await using var mirror = await StartAsync(upstream, Store, o => o with { Log = TextWriter.Synchronized(log) });
        using var http = Http();
        var refusedTokens = new[] { null, HubTestKit.OtherToken, PendingToken, "hf_not_a_known_token" };
        var weights = $"{GatedRepo}/resolve/main/model.safetensors";

        // Before anything is stored: the gate's 401 and 403s (not approved, awaiting review) and an invalid token's 401.
        foreach (var token in refusedTokens)
        {
            await AssertRefusedAsUpstreamRefusesAsync(http, upstream, mirror, weights, token);
        }
        using (var direct = await GetAsync(http, new Uri(upstream.Endpoint, weights), HubTestKit.OtherToken))
        {
            Assert.Equal("GatedRepo", direct.Header("X-Error-Code")); // the test's premise: a gate, not a missing repo
        }

        // An approved token: the whole repo, with hfdl as the client.
        var environment = ClientEnvironment(mirror.Endpoint, _temp, "approved");
        environment["HF_TOKEN"] = HubTestKit.ValidToken;
        using (var client = HfdlProcess.Start(environment, "download", GatedRepo, "--local-dir", _temp.Combine("approved")))
        {
            Assert.True(await client.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, client.Error);
        }
        AssertFiles(_temp.Combine("approved"), Files);
        var blob = Path.Combine(Store, "models--acme--gated-model", "blobs", Files[1].Content.Sha256);
        Assert.True(File.Exists(blob), "the gated repo's weights are stored");

        // Stored now: the refusals are still the upstream's, by the branch and by the commit's own URL, which the
        // mirror could answer from its store without asking anyone.
        var commit = await CommitOfMainAsync(http, upstream, GatedRepo);
        foreach (var token in refusedTokens)
        {
            await AssertRefusedAsUpstreamRefusesAsync(http, upstream, mirror, weights, token);
            await AssertRefusedAsUpstreamRefusesAsync(http, upstream, mirror, $"api/resolve-cache/models/{GatedRepo}/{commit}/model.safetensors", token);
        }
        // Metadata of a gated repo is public upstream, and so through the mirror.
        using (var info = await http.GetAsync(new Uri(mirror.Endpoint, $"api/models/{GatedRepo}")))
        {
            Assert.Equal(200, (int)info.StatusCode);
            Assert.Equal("manual", (await info.JsonAsync()).GetProperty("gated").GetString());
        }

        await upstream.Requests.WaitUntilIdleAsync(Patience);
        foreach (var (path, content) in Files)
        {
            Assert.Equal(content.Length, UpstreamBytesOf(upstream, path, content));
        }
        Assert.All(upstream.Requests.Snapshot().Where(r => r.Listener == "cdn"), r => Assert.Null(r.Authorization));
        Assert.DoesNotContain(HubTestKit.ValidToken, log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(PendingToken, log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offline_serves_stored_public_commits_refuses_private_and_gated_ones_and_never_asks_the_upstream()
    {
        await using var upstream = await UpstreamAsync();
        // Filled online, every repo only ever by a client with a token the upstream accepts (as a logged-in
        // huggingface_hub sends it): the mirror asks the upstream without it which repos are public.
        await using (var online = await StartAsync(upstream, Store))
        {
            var environment = ClientEnvironment(online.Endpoint, _temp, "public");
            environment["HF_TOKEN"] = HubTestKit.ValidToken;
            using (var client = HfdlProcess.Start(environment, "download", PublicRepo, "--local-dir", _temp.Combine("online")))
            {
                Assert.True(await client.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, client.Error);
            }
            using var http = Http();
            foreach (var repo in new[] { PrivateRepo, GatedRepo })
            {
                foreach (var (path, content) in Files)
                {
                    using var response = await GetAsync(http, ResolveUrl(online.Endpoint, repo, path), HubTestKit.ValidToken);
                    Assert.True(SameBytes(content, await ReadAllOrCutAsync(response)), $"{repo}/{path} through the online mirror");
                }
            }
        }
        await upstream.Requests.WaitUntilIdleAsync(Patience);
        upstream.Requests.Clear();

        await using var offline = await StartAsync(upstream, Store, o => o with { Offline = true });
        using (var client = HfdlProcess.Start(ClientEnvironment(offline.Endpoint, _temp, "offline"), "download", PublicRepo, "--local-dir", _temp.Combine("offline")))
        {
            Assert.True(await client.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, client.Error);
        }
        AssertFiles(_temp.Combine("offline"), Files);

        using (var http = Http())
        {
            using var neverInfo = await GetAsync(http, new Uri(offline.Endpoint, "api/models/acme/never-stored"));
            Assert.Equal(503, (int)neverInfo.StatusCode);
            var neverInfoError = (await neverInfo.JsonAsync()).GetProperty("error").GetString()!;
            Assert.Contains("This mirror is offline", neverInfoError, StringComparison.Ordinal);
            foreach (var repo in new[] { PrivateRepo, GatedRepo })
            {
                foreach (var token in new[] { null, HubTestKit.ValidToken })
                {
                    using var file = await GetAsync(http, ResolveUrl(offline.Endpoint, repo, "model.safetensors"), token);
                    Assert.Equal(503, (int)file.StatusCode);
                    // The words a repo the mirror never stored gets: the answer does not say that a private repo exists.
                    Assert.Equal($"This mirror is offline (it answers only from its store), and it has not stored 'model.safetensors' of model {repo} at 'main' for this caller (a private or gated repo is given only to a token its upstream accepted lately).", file.Header("X-Error-Message"));
                    using var info = await GetAsync(http, new Uri(offline.Endpoint, $"api/models/{repo}"), token);
                    Assert.Equal(503, (int)info.StatusCode);
                    Assert.Equal(neverInfoError.Replace("acme/never-stored", repo, StringComparison.Ordinal), (await info.JsonAsync()).GetProperty("error").GetString());
                    // Repo ids are case-insensitive, and the store finds the folder whatever the case: the answer is the same.
                    foreach (var route in new[] { "", "/tree/main", "/refs", "/revision/main" })
                    {
                        using var shouted = await GetAsync(http, new Uri(offline.Endpoint, $"api/models/{repo.ToUpperInvariant()}{route}"), token);
                        Assert.True(503 == (int)shouted.StatusCode, $"{repo.ToUpperInvariant()}{route}: {(int)shouted.StatusCode}");
                    }
                }
            }
            using var never = await GetAsync(http, ResolveUrl(offline.Endpoint, "acme/never-stored", "model.safetensors"));
            Assert.Equal(503, (int)never.StatusCode);
            Assert.Equal("This mirror is offline (it answers only from its store), and it has not stored 'model.safetensors' of model acme/never-stored at 'main' for this caller (a private or gated repo is given only to a token its upstream accepted lately).", never.Header("X-Error-Message"));
        }
        await upstream.Requests.WaitUntilIdleAsync(Patience);
        Assert.Empty(upstream.Requests.Snapshot());
    }

    [Fact]
    public async Task A_branch_is_resolved_upstream_once_per_revision_ttl_and_a_new_commit_shows_only_after_it()
    {
        var repos = new InMemoryRepoStore().AddRepo(RepoType.Model, PublicRepo, r => r.File("config.json", "{\"version\":1}"));
        await using var upstream = await UpstreamAsync(repos);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var mirror = await StartAsync(upstream, Store, o => o with { Time = clock, RevisionTtl = TimeSpan.FromSeconds(30) });
        using var http = Http();
        int ResolutionsOfMain() => upstream.Requests.Snapshot().Count(r => r.PathAndQuery.StartsWith($"/{PublicRepo}/resolve/main/", StringComparison.Ordinal));
        async Task<(string Body, string Commit)> ReadAsync()
        {
            using var response = await GetAsync(http, ResolveUrl(mirror.Endpoint, PublicRepo, "config.json"));
            Assert.Equal(200, (int)response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            await upstream.Requests.WaitUntilIdleAsync(Patience);
            return (body, response.Header("X-Repo-Commit")!);
        }

        var (first, firstCommit) = await ReadAsync();
        Assert.Equal("{\"version\":1}", first);
        Assert.Equal(1, ResolutionsOfMain());

        // A new commit on main upstream.
        repos.AddRepo(RepoType.Model, PublicRepo, r => r.File("config.json", "{\"version\":2}"));
        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(("{\"version\":1}", firstCommit), await ReadAsync());
        Assert.Equal(1, ResolutionsOfMain());

        clock.Advance(TimeSpan.FromSeconds(2));
        var (second, secondCommit) = await ReadAsync();
        Assert.Equal("{\"version\":2}", second);
        Assert.NotEqual(firstCommit, secondCommit);
        Assert.Equal(2, ResolutionsOfMain());
        Assert.Equal(("{\"version\":2}", secondCommit), await ReadAsync());
        Assert.Equal(2, ResolutionsOfMain());
    }

    /// <summary>
    /// The upstream's yes (to a token for a private repo, or that a repo is public, to anyone) holds for the access
    /// time-to-live: within it the mirror answers from memory, past it the upstream is asked again and its no stands.
    /// </summary>
    [Theory]
    [InlineData(PrivateRepo, true, 404)] // the token's access is taken away
    [InlineData(PublicRepo, false, 401)] // the repo is made private: anyone without a token is refused
    public async Task The_upstreams_yes_is_remembered_for_the_access_ttl_then_asked_again(string repo, bool withToken, int refusal)
    {
        var repos = Repos();
        await using var upstream = await UpstreamAsync(repos);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var mirror = await StartAsync(upstream, Store, o => o with { Time = clock, AccessTtl = TimeSpan.FromSeconds(60) });
        using var http = Http();
        var weights = Files[1].Content;
        var token = withToken ? HubTestKit.ValidToken : null;
        var commit = await CommitOfMainAsync(http, upstream, repo);
        // By the commit: no branch to resolve, so only the access check can send the mirror upstream.
        var url = ResolveUrl(mirror.Endpoint, repo, "model.safetensors", commit);
        // This caller's checks (for a token, the mirror's one HEAD without it, asking whether the repo is public, is not one).
        int ChecksUpstream() => upstream.Requests.Snapshot().Count(r =>
            r.Method == "HEAD" && (r.Authorization is not null) == withToken && r.PathAndQuery.StartsWith($"/{repo}/resolve/{commit}/", StringComparison.Ordinal));
        async Task<int> StatusAsync()
        {
            using var response = await GetAsync(http, url, token);
            var body = await ReadAllOrCutAsync(response);
            if (response.IsSuccessStatusCode)
            {
                Assert.True(SameBytes(weights, body));
            }
            await upstream.Requests.WaitUntilIdleAsync(Patience);
            return (int)response.StatusCode;
        }

        Assert.Equal(200, await StatusAsync());
        upstream.Requests.Clear();

        // The upstream says no from now on: within the time-to-live the mirror still says yes from memory.
        repos.AddRepo(RepoType.Model, repo, r =>
        {
            foreach (var (path, content) in Files)
            {
                r.File(path, content);
            }
            r.Settings(s => s with { Private = true, AllowedTokens = withToken ? [] : [HubTestKit.ValidToken] });
        });
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(200, await StatusAsync());
        Assert.Equal(0, ChecksUpstream());

        // Past it, the upstream is asked again, and its no is the answer.
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(refusal, await StatusAsync());
        Assert.Equal(1, ChecksUpstream());
        Assert.Equal(refusal, await StatusAsync());
    }
}
