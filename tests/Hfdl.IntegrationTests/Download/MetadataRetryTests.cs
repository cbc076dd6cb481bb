using System.Net;
using Hfdl.Cli;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Download;

/// <summary>
/// Metadata calls (repo info, every page of a listing, the resolve HEAD) are retried like huggingface_hub's
/// <c>http_backoff</c>, on a fake clock: a page is retried on its own, the server's wait is honoured, and an answer
/// that retrying cannot change (404, 401) is not retried.
/// </summary>
public sealed class MetadataRetryTests
{
    private static readonly RepoId Repo = RepoId.Parse("acme/paged");
    private static readonly string[] Files = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"];

    private static InMemoryRepoStore Store(HubFaults faults) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, Repo.Value, repo =>
        {
            foreach (var file in Files)
            {
                repo.File(file, file + "\n");
            }
            repo.Settings(s => s with { Faults = faults });
        });

    /// <summary>A hub with two entries per listing page, so five files take three pages.</summary>
    private static Task<HubServer> StartAsync(HubFaults faults) =>
        HubServer.StartAsync(new HubServerOptions { Store = Store(faults), TreePageSize = 2 });

    private static HubClient Client(HubServer server, RetryClock clock, int maxRetries = 5, string? token = null) => new(new HubClientOptions
    {
        Endpoint = server.Endpoint,
        Token = token is null ? null : new AccessToken(token, TokenOrigin.CommandLine),
        Time = clock,
        Retries = clock,
        MaxRetries = maxRetries,
    });

    private static List<RecordedRequest> TreeRequests(HubServer server) =>
        server.Requests.Snapshot().Where(r => r.Listener == "hub" && r.PathAndQuery.Contains("/tree/", StringComparison.Ordinal)).ToList();

    private static async Task<string> CommitAsync(HubClient client) =>
        (await client.GetRepoInfoAsync(RepoType.Model, Repo, null)).Sha!;

    [Fact]
    public async Task A_503_on_page_2_of_a_listing_fetches_page_2_again_and_never_restarts_from_page_1()
    {
        await using var server = await StartAsync(HubFaults.None with
        {
            ServerErrors = new StatusFault(503) { PathContains = "/tree/", SkipRequests = 1, FirstRequests = 2, Targets = FaultTargets.Api },
        });
        var clock = new RetryClock();
        using var client = Client(server, clock);
        var commit = await CommitAsync(client);

        var entries = await clock.RunAsync(client.ListTreeAsync(RepoType.Model, Repo, commit).ToListAsync().AsTask());

        Assert.Equal(Files, entries.Select(e => e.Path).Order(StringComparer.Ordinal));
        var pages = TreeRequests(server);
        Assert.Equal([200, 503, 503, 200, 200], pages.Select(p => p.StatusCode));
        Assert.DoesNotContain("cursor=", pages[0].PathAndQuery, StringComparison.Ordinal);
        Assert.Equal(3, pages.Count(p => p.PathAndQuery == pages[1].PathAndQuery));
        Assert.Single(pages, p => !p.PathAndQuery.Contains("cursor=", StringComparison.Ordinal));
        Assert.Equal(3, pages.Select(p => p.PathAndQuery).Distinct().Count());
        Assert.Equal(2, clock.Reported.Count);
        Assert.All(clock.Reported, r => Assert.Equal("page 2 of the file listing of model 'acme/paged'", r.Request));
        Assert.All(clock.Reported, r => Assert.Contains("503", r.Reason, StringComparison.Ordinal));
        Assert.Equal([1, 2], clock.Reported.Select(r => r.Attempt));
    }

    [Fact]
    public async Task A_429_on_a_listing_page_waits_what_the_RateLimit_header_asks()
    {
        await using var server = await StartAsync(HubFaults.None with
        {
            TooManyRequests = new RateLimitFault { PathContains = "/tree/", SkipRequests = 2, FirstRequests = 1, RetryAfterSeconds = 40, Targets = FaultTargets.Api },
        });
        var clock = new RetryClock();
        using var client = Client(server, clock);
        var commit = await CommitAsync(client);
        var started = clock.GetUtcNow();

        var entries = await clock.RunAsync(client.ListTreeAsync(RepoType.Model, Repo, commit).ToListAsync().AsTask());

        Assert.Equal(Files.Length, entries.Count);
        var retry = Assert.Single(clock.Reported);
        // RateLimit "api";r=0;t=40 means 40 s until the window resets; huggingface_hub sleeps t + 1.
        Assert.Equal(TimeSpan.FromSeconds(41), retry.Delay);
        Assert.Equal("page 3 of the file listing of model 'acme/paged'", retry.Request);
        Assert.Equal(TimeSpan.FromSeconds(41), clock.GetUtcNow() - started);
        Assert.Equal([200, 200, 429, 200], TreeRequests(server).Select(p => p.StatusCode));
    }

    [Fact]
    public async Task A_retry_after_longer_than_the_backoff_cap_is_obeyed_on_a_503()
    {
        await using var server = await StartAsync(HubFaults.None with
        {
            ServerErrors = new StatusFault(503) { FirstRequests = 1, RetryAfterSeconds = 30, Targets = FaultTargets.Api },
        });
        var clock = new RetryClock();
        using var client = Client(server, clock);

        var info = await clock.RunAsync(client.GetRepoInfoAsync(RepoType.Model, Repo, null));

        Assert.NotNull(info.Sha);
        var retry = Assert.Single(clock.Reported);
        Assert.Equal(TimeSpan.FromSeconds(31), retry.Delay);
        Assert.Equal("the repo info of model 'acme/paged'", retry.Request);
    }

    [Fact]
    public async Task Repo_info_and_the_resolve_HEAD_are_retried_until_the_budget_is_spent()
    {
        // Three 502s spend the repo info's budget of two retries; the fourth strikes the HEAD, whose retry succeeds.
        await using var server = await StartAsync(HubFaults.None with { ServerErrors = new StatusFault(502) { FirstRequests = 4 } });
        var clock = new RetryClock();
        using var client = Client(server, clock, maxRetries: 2);

        var error = await Assert.ThrowsAsync<HubException>(() => clock.RunAsync(client.GetRepoInfoAsync(RepoType.Model, Repo, null)));
        var metadata = await clock.RunAsync(client.GetFileMetadataAsync(RepoType.Model, Repo, "main", "a.txt"));

        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
        Assert.Equal(3, server.Requests.Snapshot().Count(r => r.PathAndQuery == "/api/models/acme/paged"));
        Assert.Equal(6, metadata.Size);
        Assert.Equal([true, false], server.Requests.Snapshot().Where(r => r.Method == "HEAD" && r.PathAndQuery.StartsWith("/acme/paged/resolve/", StringComparison.Ordinal)).Select(r => r.StatusCode >= 500));
        Assert.Equal(["the repo info of model 'acme/paged'", "the repo info of model 'acme/paged'", "the metadata of 'a.txt'"], clock.Reported.Select(r => r.Request));
    }

    [Fact]
    public async Task A_404_is_not_retried()
    {
        await using var server = await StartAsync(HubFaults.None);
        var clock = new RetryClock();
        using var client = Client(server, clock);

        await Assert.ThrowsAsync<RepositoryNotFoundException>(() => clock.RunAsync(client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("acme/missing"), null)));
        await Assert.ThrowsAsync<EntryNotFoundException>(() => clock.RunAsync(client.GetFileMetadataAsync(RepoType.Model, Repo, "main", "missing.txt")));

        Assert.Equal(2, server.Requests.Count);
        Assert.Empty(clock.Reported);
    }

    [Fact]
    public async Task A_401_for_a_rejected_token_is_not_retried()
    {
        await using var server = await StartAsync(HubFaults.None);
        var clock = new RetryClock();
        using var client = Client(server, clock, token: "hf_not_a_known_token_at_all");

        await Assert.ThrowsAsync<InvalidTokenException>(() => clock.RunAsync(client.WhoAmIAsync()));

        Assert.Equal(1, server.Requests.Count);
        Assert.Empty(clock.Reported);
    }

    [Fact]
    public async Task The_resolve_HEAD_is_bounded_by_HF_HUB_ETAG_TIMEOUT_and_a_timeout_is_retried()
    {
        // The server holds every HEAD for ten minutes; only the client's etag timeout (3 s on its fake clock) ends it.
        await using var server = await StartAsync(HubFaults.None with { Latency = TimeSpan.FromMinutes(10), LatencyMethod = "HEAD", LatencyTargets = FaultTargets.Resolve });
        var clock = new RetryClock();
        var environment = HubEnvironment.FromDictionary(new Dictionary<string, string?> { ["HF_HUB_ETAG_TIMEOUT"] = "3" });
        using var client = new HubClient(environment.Apply(new HubClientOptions { Endpoint = server.Endpoint, Time = clock, Retries = clock, MaxRetries = 1 }));
        var started = clock.GetUtcNow();

        var head = Task.Run(() => client.GetFileMetadataAsync(RepoType.Model, Repo, "main", "a.txt"));
        clock.Advance(await clock.WaitForTimerAsync(TimeSpan.FromSeconds(3)));
        var retry = await clock.NextRetryAsync();
        var backoff = await clock.WaitForTimerAsync(retry.Delay);
        clock.Advance(backoff);
        clock.Advance(await clock.WaitForTimerAsync(TimeSpan.FromSeconds(3)));
        var error = await Assert.ThrowsAsync<HubUnreachableException>(() => head.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("did not answer in time (limit 3 s)", error.Message, StringComparison.Ordinal);
        Assert.Contains("did not answer in time (limit 3 s)", retry.Reason, StringComparison.Ordinal);
        Assert.Single(clock.Reported);
        Assert.Equal(TimeSpan.FromSeconds(6) + backoff, clock.GetUtcNow() - started);
    }

    [Fact]
    public void The_cli_applies_HF_HUB_ETAG_TIMEOUT_and_HF_HUB_DOWNLOAD_TIMEOUT()
    {
        var connection = new HubConnectionOptions();
        var command = new System.CommandLine.Command("probe");
        connection.AddTo(command);
        var environment = HubEnvironment.FromDictionary(new Dictionary<string, string?> { ["HF_HUB_ETAG_TIMEOUT"] = "4", ["HF_HUB_DOWNLOAD_TIMEOUT"] = "7" });

        var options = connection.Resolve(command.Parse([]), environment, retries: null);

        Assert.Equal((TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(7)), (options.EtagTimeout, options.ReadTimeout));
    }

    [Fact]
    public async Task The_cli_reports_each_metadata_retry_on_stderr_and_as_a_json_event()
    {
        await using var server = await StartAsync(HubFaults.None with
        {
            ServerErrors = new StatusFault(503) { PathContains = "/tree/", FirstRequests = 1, Targets = FaultTargets.Api },
        });
        using var temp = new TempFolder();

        var result = await new CliRunner(server, temp).RunAsync("download", Repo.Value, "--local-dir", temp.Combine("out"), "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"retry    page 1 of the file listing of model 'acme/paged' \(attempt 1, in [0-9.]+ s\): The Hub answered 503", result.Error);
        var events = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        var retry = Assert.Single(events, e => e.GetProperty("event").GetString() == "request_retry");
        Assert.Equal("page 1 of the file listing of model 'acme/paged'", retry.GetProperty("request").GetString());
        Assert.Equal(1, retry.GetProperty("attempt").GetInt32());
        Assert.All(Files, f => Assert.True(File.Exists(temp.Combine("out", f))));
    }
}
