using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>Shapes where Hfdl.Hub once differed from huggingface.co, pinned to the real ones (hub-api.md, fixtures/real-hub).</summary>
public sealed partial class FidelityTests
{
    private const string OddName = "a+b's-grüße.txt";

    private static InMemoryRepoStore Store() => HubTestKit.StandardStore(r => r.File(OddName, "odd\n"));

    [GeneratedRegex("^<([^>]+)>; rel=\"next\"$")]
    private static partial Regex NextLink();

    [Fact]
    public async Task Api_json_carries_plus_apostrophe_and_non_ascii_as_they_are()
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var tree = await client.SendAsync(HttpMethod.Get, "/api/models/acme/tiny/tree/main");

        var raw = Encoding.UTF8.GetString(await tree.Content.ReadAsByteArrayAsync());
        Assert.Contains($"\"path\":\"{OddName}\"", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", raw, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/models/acme/tiny", null, HttpStatusCode.OK)]
    [InlineData("/api/models/acme/tiny/tree/main", null, HttpStatusCode.OK)]
    [InlineData("/api/models/acme/tiny/refs", null, HttpStatusCode.OK)]
    [InlineData("/api/whoami-v2", HubTestKit.ValidToken, HttpStatusCode.OK)]
    [InlineData("/api/models/acme/missing", HubTestKit.ValidToken, HttpStatusCode.NotFound)]
    public async Task Api_json_answers_carry_the_hubs_weak_etag_of_their_body(string url, string? token, HttpStatusCode status)
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var answer = await client.SendAsync(HttpMethod.Get, url, token);

        Assert.Equal(status, answer.StatusCode);
        var body = await answer.Content.ReadAsByteArrayAsync();
        // Express's weak ETag, as in every recorded cassette: W/"<length hex>-<27 base64 chars of the SHA-1>".
        var expected = $"W/\"{body.Length:x}-{Convert.ToBase64String(SHA1.HashData(body))[..27]}\"";
        Assert.Equal(expected, answer.Header("ETag"));
    }

    [Fact]
    public void The_weak_etag_is_the_one_recorded_for_an_empty_object()
    {
        // fixtures/real-hub TestSpaceAPIProduction.test_manage_secrets.yaml: body {} has ETag W/"2-vyGp6PvFo4RvsFtPoIWeCReyIC8".
        Assert.Equal("W/\"2-vyGp6PvFo4RvsFtPoIWeCReyIC8\"", HubRequest.WeakEtag("{}"u8));
    }

    [Fact]
    public async Task The_next_tree_page_link_names_expand_recursive_limit_and_cursor_as_the_hub_does()
    {
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { TreePageSize = 2 });
        using var client = HubTestKit.Client(server);

        using var first = await client.SendAsync(HttpMethod.Get, "/api/models/acme/tiny/tree/main?recursive=1&extra=kept-by-nobody");

        var match = NextLink().Match(first.Header("Link") ?? "");
        Assert.True(match.Success, first.Header("Link"));
        var prefix = server.Endpoint.ToString().TrimEnd('/') + "/api/models/acme/tiny/tree/main?expand=false&recursive=true&limit=2&cursor=";
        Assert.StartsWith(prefix, match.Groups[1].Value, StringComparison.Ordinal);
        Assert.Matches("^[A-Za-z0-9%._-]+$", match.Groups[1].Value[prefix.Length..]);
        using var second = await client.SendAsync(HttpMethod.Get, match.Groups[1].Value);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, (await second.JsonAsync()).GetArrayLength());
    }

    [Fact]
    public async Task Paths_info_with_expand_has_last_commit_but_no_security_status_while_the_expanded_tree_keeps_it()
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var pathsInfo = await client.PostAsync("/api/models/acme/tiny/paths-info/main",
            new StringContent("{\"paths\":[\"config.json\"],\"expand\":true}", Encoding.UTF8, "application/json"));
        using var tree = await client.SendAsync(HttpMethod.Get, "/api/models/acme/tiny/tree/main?expand=true");

        var entry = Assert.Single((await pathsInfo.JsonAsync()).EnumerateArray());
        Assert.True(entry.TryGetProperty("lastCommit", out _));
        Assert.False(entry.TryGetProperty("securityFileStatus", out _));
        var file = (await tree.JsonAsync()).EnumerateArray().First(e => e.GetProperty("type").GetString() == "file");
        Assert.True(file.TryGetProperty("securityFileStatus", out _));
    }

    [Fact]
    public async Task A_regular_json_file_is_redirected_without_linked_size_and_served_as_text_plain()
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var redirect = await client.SendAsync(HttpMethod.Head, "/acme/tiny/resolve/main/config.json");
        using var target = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.OriginalString);

        // hub-api.md §4.1 (B), gpt2 config.json: the 307 has X-Linked-Etag, no X-Linked-Size; the 200 is text/plain.
        Assert.Equal(HttpStatusCode.TemporaryRedirect, redirect.StatusCode);
        Assert.NotNull(redirect.Header("X-Linked-Etag"));
        Assert.Null(redirect.Header("X-Linked-Size"));
        Assert.Equal(HttpStatusCode.OK, target.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", target.Content.Headers.ContentType!.ToString());
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, "RepoNotFound")]
    public async Task The_anonymous_401_for_a_missing_repo_has_no_error_code_unless_asked_for_the_older_shape(bool older, string? code)
    {
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { RepoNotFoundCodeOn401 = older });
        using var client = HubTestKit.Client(server);

        using var info = await client.SendAsync(HttpMethod.Get, "/api/models/acme/missing");
        using var file = await client.SendAsync(HttpMethod.Get, "/acme/missing/resolve/main/config.json");

        foreach (var answer in new[] { info, file })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
            Assert.Equal(code, answer.Header("X-Error-Code"));
            Assert.Equal("Invalid username or password.", answer.Header("X-Error-Message"));
        }
    }
}
