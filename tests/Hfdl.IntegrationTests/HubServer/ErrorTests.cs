using System.Net;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

public sealed class ErrorTests
{
    private static InMemoryRepoStore Store() => new InMemoryRepoStore()
        .AddRepo(RepoType.Model, "acme/public", r => r.File("config.json", "{}"))
        .AddRepo(RepoType.Model, "acme/private", r => r.File("config.json", "{}").Settings(s => s with { Private = true, AllowedTokens = [HubTestKit.OtherToken] }))
        .AddRepo(RepoType.Model, "alice/own-private", r => r.File("config.json", "{}").Settings(s => s with { Private = true }))
        .AddRepo(RepoType.Model, "acme/gated", r => r.File("config.json", "{}").Settings(s => s with { Gated = GatedMode.Manual, ApprovedTokens = [HubTestKit.OtherToken], PendingTokens = [HubTestKit.ValidToken] }))
        .AddRepo(RepoType.Model, "acme/gated-auto", r => r.File("config.json", "{}").Settings(s => s with { Gated = GatedMode.Auto }))
        .AddRepo(RepoType.Model, "acme/disabled", r => r.File("config.json", "{}").Settings(s => s with { Disabled = true }))
        .AddRename(RepoType.Model, "acme/old-name", "acme/public");

    public static TheoryData<string, string?, int, string?, string?> Matrix => new()
    {
        // url, token, status, X-Error-Code, X-Error-Message
        { "/api/models/acme/missing", null, 401, null, "Invalid username or password." },
        { "/api/models/acme/missing", HubTestKit.ValidToken, 404, "RepoNotFound", "Repository not found" },
        { "/acme/missing/resolve/main/config.json", null, 401, null, "Invalid username or password." },
        { "/acme/missing/resolve/main/config.json", HubTestKit.ValidToken, 404, "RepoNotFound", "Repository not found" },
        { "/api/models/acme/private", null, 401, null, "Invalid username or password." },
        { "/api/models/acme/private", HubTestKit.ValidToken, 404, "RepoNotFound", "Repository not found" },
        { "/api/models/acme/private", HubTestKit.OtherToken, 200, null, null },
        { "/api/models/alice/own-private/tree/main", HubTestKit.ValidToken, 200, null, null },
        { "/api/models/alice/own-private/tree/main", HubTestKit.OtherToken, 404, "RepoNotFound", "Repository not found" },
        { "/api/models/acme/public", "hf_not_a_known_token", 401, null, "Invalid credentials in Authorization header" },
        { "/acme/public/resolve/main/config.json", "hf_not_a_known_token", 401, null, "Invalid credentials in Authorization header" },
        { "/api/models/acme/gated", null, 200, null, null },
        { "/api/models/acme/gated/tree/main", null, 200, null, null },
        { "/acme/gated/resolve/main/config.json", null, 401, "GatedRepo", "Access to model acme/gated is restricted. You must have access to it and be authenticated to access it. Please log in." },
        { "/acme/gated/resolve/main/config.json", HubTestKit.ValidToken, 403, "GatedRepo", "Your request to access model acme/gated is awaiting a review from the repo authors." },
        { "/acme/gated/resolve/main/config.json", HubTestKit.OtherToken, 307, null, null },
        { "/acme/gated-auto/resolve/main/config.json", HubTestKit.OtherToken, 403, "GatedRepo", null },
        { "/api/models/acme/disabled", null, 403, null, "Access to this resource is disabled." },
        { "/acme/disabled/resolve/main/config.json", HubTestKit.ValidToken, 403, null, "Access to this resource is disabled." },
        { "/api/models/acme/public/revision/nope", null, 404, "RevisionNotFound", "Invalid rev id: nope" },
        { "/api/models/acme/public/tree/nope", null, 404, "RevisionNotFound", "Invalid rev id: nope" },
        { "/acme/public/resolve/nope/config.json", null, 404, "RevisionNotFound", "Invalid rev id: nope" },
        { "/acme/public/resolve/main/missing.txt", null, 404, "EntryNotFound", "Entry not found" },
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Errors_follow_the_hub_matrix(string url, string? token, int status, string? code, string? message)
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, url, token);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(code, response.Header("X-Error-Code"));
        if (message is not null)
        {
            Assert.Equal(message, response.Header("X-Error-Message"));
        }
        Assert.NotNull(response.Header("X-Request-Id"));
        if (status >= 400)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (url.StartsWith("/api/", StringComparison.Ordinal))
            {
                Assert.StartsWith("application/json", response.Content.Headers.ContentType!.ToString());
                Assert.Equal(message ?? response.Header("X-Error-Message"), (await response.JsonAsync()).GetProperty("error").GetString());
            }
            else
            {
                Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString());
                Assert.Equal(response.Header("X-Error-Message"), body);
            }
        }
        if (status == 401 && message == "Invalid username or password.")
        {
            Assert.Equal("Bearer realm=\"Authentication required\", charset=\"UTF-8\"", response.Header("WWW-Authenticate"));
        }
    }

    [Fact]
    public async Task Gated_repo_tells_a_token_without_a_request_to_ask_for_access()
    {
        var store = Store().AddRepo(RepoType.Dataset, "acme/gated-data", r => r.File("a.csv", "x").Settings(s => s with { Gated = GatedMode.Manual }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, "/datasets/acme/gated-data/resolve/main/a.csv", HubTestKit.ValidToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal($"Access to dataset acme/gated-data is restricted and you are not in the authorized list. Visit {server.Endpoint.ToString().TrimEnd('/')}/datasets/acme/gated-data to ask for access.", response.Header("X-Error-Message"));
    }

    [Fact]
    public async Task Entry_not_found_on_resolve_carries_the_commit_even_for_head()
    {
        var store = Store();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Head, "/acme/public/resolve/main/nope");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(store.GetRepo(RepoType.Model, "acme/public").Revisions[0].Snapshot.CommitId, response.Header("X-Repo-Commit"));
    }

    [Theory]
    [InlineData("/api/models/acme/old-name", "/api/models/acme/public")]
    [InlineData("/api/models/acme/old-name/tree/main?recursive=true", "/api/models/acme/public/tree/main?recursive=true")]
    [InlineData("/acme/old-name/resolve/main/config.json", "/acme/public/resolve/main/config.json")]
    public async Task Renamed_repo_answers_a_relative_307_with_a_text_body(string url, string location)
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, url);

        Assert.Equal(HttpStatusCode.TemporaryRedirect, response.StatusCode);
        Assert.Equal(location, response.Headers.Location!.OriginalString);
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal("Temporary Redirect. Redirecting to " + location, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Recorded_rename_replays_like_the_real_cassette()
    {
        // huggingface_hub cassette: GET /api/models/bert-base-uncased -> 307 to /api/models/google-bert/bert-base-uncased.
        var store = new InMemoryRepoStore()
            .AddRename(RepoType.Model, "bert-base-uncased", "google-bert/bert-base-uncased")
            .AddRepo(RepoType.Model, "google-bert/bert-base-uncased", r => r.File("config.json", "{}"));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var cassette = await File.ReadAllTextAsync(ApiTests.FixturePath("huggingface_hub-cassettes", "InferenceApiTest.test_inference_overriding_invalid_task.yaml"));

        using var redirect = await client.SendAsync(HttpMethod.Get, "/api/models/bert-base-uncased");
        var body = await redirect.Content.ReadAsStringAsync();
        using var target = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.OriginalString);

        Assert.Contains("string: " + body, cassette);
        Assert.Contains("- " + redirect.Headers.Location.OriginalString, cassette);
        Assert.Equal("google-bert/bert-base-uncased", (await target.JsonAsync()).GetProperty("id").GetString());
    }
}
