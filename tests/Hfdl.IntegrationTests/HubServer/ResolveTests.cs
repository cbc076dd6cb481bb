using System.Net;
using System.Text;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.Core.Integrity;

namespace Hfdl.IntegrationTests.Hub;

public sealed class ResolveTests
{
    [Fact]
    public async Task Regular_file_answers_a_relative_307_to_resolve_cache_which_serves_the_bytes()
    {
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var commit = store.GetRepo(RepoType.Model, "acme/tiny").Revisions[0].Snapshot.CommitId;
        var sha1 = GitBlobHasher.Compute(Encoding.UTF8.GetBytes("{\"a\":1}"));

        using var head = await client.SendAsync(HttpMethod.Head, "/acme/tiny/resolve/main/config.json");

        Assert.Equal(HttpStatusCode.TemporaryRedirect, head.StatusCode);
        var location = head.Headers.Location!.OriginalString;
        Assert.StartsWith($"/api/resolve-cache/models/acme/tiny/{commit}/config.json?", location);
        Assert.Contains("%2Facme%2Ftiny%2Fresolve%2Fmain%2Fconfig.json=", location);
        Assert.EndsWith($"&etag=%22{sha1}%22", location);
        Assert.Equal(commit, head.Header("X-Repo-Commit"));
        Assert.Equal($"\"{sha1}\"", head.Header("X-Linked-Etag"));
        Assert.Null(head.Header("X-Linked-Size")); // the real 307 has none (hub-api.md §4.1 B)
        Assert.Equal("bytes", head.Header("Accept-Ranges"));
        Assert.Contains("filename=\"config.json\"", head.Header("Content-Disposition"));
        Assert.StartsWith("\"resolvers\";r=", head.Header("RateLimit"));
        Assert.NotNull(head.Header("X-Request-Id"));

        using var get = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/config.json");
        Assert.StartsWith("text/plain", get.Content.Headers.ContentType!.ToString());
        Assert.Equal("Temporary Redirect. Redirecting to " + location, await get.Content.ReadAsStringAsync());

        using var target = await client.SendAsync(HttpMethod.Get, location);
        Assert.Equal(HttpStatusCode.OK, target.StatusCode);
        Assert.Equal("{\"a\":1}", await target.Content.ReadAsStringAsync());
        Assert.Equal($"\"{sha1}\"", target.Headers.ETag!.ToString());
        Assert.Equal(commit, target.Header("X-Repo-Commit"));
        Assert.Equal(7, target.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Lfs_file_answers_an_absolute_302_to_the_cdn_host_with_linked_etag_and_size()
    {
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var content = SyntheticContent.Create(size: 3_000_000, seed: 7);

        using var head = await client.SendAsync(HttpMethod.Head, "/acme/tiny/resolve/main/weights/model.safetensors");

        Assert.Equal(HttpStatusCode.Found, head.StatusCode);
        var location = head.Headers.Location!;
        Assert.True(location.IsAbsoluteUri);
        Assert.Equal("localhost", location.Host);
        Assert.Equal(server.CdnEndpoint.Port, location.Port);
        Assert.Contains("Expires=", location.Query);
        Assert.Contains("Signature=", location.Query);
        Assert.Equal($"\"{content.Sha256}\"", head.Header("X-Linked-Etag"));
        Assert.Equal("3000000", head.Header("X-Linked-Size"));

        using var cdn = await client.SendAsync(HttpMethod.Get, location.AbsoluteUri);
        Assert.Equal(HttpStatusCode.OK, cdn.StatusCode);
        var bytes = await cdn.Content.ReadAsByteArrayAsync();
        Assert.Equal(content.ToArray(), bytes);
        Assert.NotEqual($"\"{content.Sha256}\"", cdn.Headers.ETag!.ToString());
        Assert.Equal("bytes", cdn.Header("Accept-Ranges"));
    }

    [Fact]
    public async Task Direct_mode_answers_200_with_etag_commit_and_exact_length()
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var content = SyntheticContent.Create(size: 3_000_000, seed: 7);

        using var response = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/weights/model.safetensors");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"\"{content.Sha256}\"", response.Headers.ETag!.ToString());
        Assert.Equal(3_000_000, response.Content.Headers.ContentLength);
        Assert.Equal(HubTestKit.Sha256Hex(await response.Content.ReadAsByteArrayAsync()), content.Sha256);
        Assert.NotNull(response.Header("X-Repo-Commit"));
    }

    [Theory]
    [InlineData("bytes=0-0", 206, 0L, 1L, "bytes 0-0/3000000")]
    [InlineData("bytes=100-199", 206, 100L, 100L, "bytes 100-199/3000000")]
    [InlineData("bytes=2999990-", 206, 2999990L, 10L, "bytes 2999990-2999999/3000000")]
    [InlineData("bytes=-5", 206, 2999995L, 5L, "bytes 2999995-2999999/3000000")]
    [InlineData("bytes=2999999-5000000", 206, 2999999L, 1L, "bytes 2999999-2999999/3000000")]
    [InlineData("bytes=3000000-", 416, 0L, 0L, "bytes */3000000")]
    // Positions past what a long holds are valid syntax, larger than any file (RFC 9110): clamped, or unsatisfiable.
    [InlineData("bytes=2999999-99999999999999999999", 206, 2999999L, 1L, "bytes 2999999-2999999/3000000")]
    [InlineData("bytes=-99999999999999999999", 206, 0L, 3000000L, "bytes 0-2999999/3000000")]
    [InlineData("bytes=99999999999999999999-", 416, 0L, 0L, "bytes */3000000")]
    public async Task Range_requests_give_206_with_content_range_or_416(string range, int status, long start, long length, string contentRange)
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var content = SyntheticContent.Create(size: 3_000_000, seed: 7);

        using var response = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/weights/model.safetensors", range: range);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(contentRange, response.Header("Content-Range"));
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(length, body.Length);
        if (length > 0)
        {
            var expected = new byte[length];
            content.ReadAt(start, expected);
            Assert.Equal(expected, body);
        }
    }

    [Fact]
    public async Task Cdn_serves_ranges_too()
    {
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        using var redirect = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/weights/model.safetensors");

        using var response = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri, range: "bytes=1000-1999");

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("bytes 1000-1999/3000000", response.Header("Content-Range"));
        var expected = new byte[1000];
        SyntheticContent.Create(3_000_000, 7).ReadAt(1000, expected);
        Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Zero_byte_file_ignores_range_and_answers_200_with_length_0_and_the_total_size()
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/empty.txt", range: "bytes=0-");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
        Assert.Equal("bytes */0", response.Header("Content-Range"));
        Assert.Equal($"\"{GitBlobHasher.Compute([])}\"", response.Headers.ETag!.ToString());
    }

    [Fact]
    public async Task Cdn_rejects_requests_that_carry_authorization()
    {
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        using var redirect = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/weights/model.safetensors", HubTestKit.ValidToken);

        using var response = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri, HubTestKit.ValidToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("<Code>InvalidArgument</Code>", await response.Content.ReadAsStringAsync());
        var cdnRequest = server.Requests.Snapshot().Last(r => r.Listener == "cdn");
        Assert.Equal("Bearer " + HubTestKit.ValidToken, cdnRequest.Authorization);
    }

    [Fact]
    public async Task Cdn_answers_403_once_the_signed_url_expired_or_the_signature_is_wrong()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store, o => o with { TimeProvider = clock, SignedUrlLifetime = TimeSpan.FromMinutes(10) });
        using var client = HubTestKit.Client(server);
        using var redirect = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/weights/model.safetensors");
        var url = redirect.Headers.Location!.AbsoluteUri;

        using (var fresh = await client.SendAsync(HttpMethod.Head, url))
        {
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        }
        using (var tampered = await client.SendAsync(HttpMethod.Get, url.Replace("Signature=", "Signature=x", StringComparison.Ordinal)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);
        }
        clock.Advance(TimeSpan.FromMinutes(11));
        using var expired = await client.SendAsync(HttpMethod.Get, url);
        Assert.Equal(HttpStatusCode.Forbidden, expired.StatusCode);
        Assert.Contains("expired", await expired.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Missing_file_is_404_entry_not_found_with_the_commit()
    {
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Head, "/acme/tiny/resolve/main/nope.bin");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("EntryNotFound", response.Header("X-Error-Code"));
        Assert.Equal(store.GetRepo(RepoType.Model, "acme/tiny").Revisions[0].Snapshot.CommitId, response.Header("X-Repo-Commit"));
    }

    [Theory]
    [InlineData("main")]
    [InlineData("refs%2Fpr%2F1")]
    [InlineData("refs/pr/1")]
    [InlineData("COMMIT")]
    [InlineData("SHORT")]
    [InlineData("HEAD")]
    public async Task Revision_can_be_a_branch_a_pr_ref_escaped_or_literal_a_full_or_short_commit(string revision)
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var commit = store.GetRepo(RepoType.Model, "acme/tiny").Revisions[0].Snapshot.CommitId;
        revision = revision.Replace("COMMIT", commit).Replace("SHORT", commit[..7]);

        using var response = await client.SendAsync(HttpMethod.Get, $"/acme/tiny/resolve/{revision}/config.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(commit, response.Header("X-Repo-Commit"));
        Assert.Equal("{\"a\":1}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Tag_has_its_own_snapshot_and_commit()
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var repo = store.GetRepo(RepoType.Model, "acme/tiny");

        using var response = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/v1.0/config.json");

        Assert.Equal("{\"a\":0}", await response.Content.ReadAsStringAsync());
        Assert.Equal(repo.Revisions.Single(r => r.Name == "v1.0").Snapshot.CommitId, response.Header("X-Repo-Commit"));
        Assert.NotEqual(repo.Revisions[0].Snapshot.CommitId, response.Header("X-Repo-Commit"));
    }

    [Fact]
    public async Task File_names_with_spaces_and_escaped_slashes_resolve()
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/dir%20one/file%20two.txt");
        using var viaHelper = await client.GetAsync(server.ResolveUrl(RepoType.Model, "acme/tiny", "dir one/file two.txt", "refs/pr/1"));

        Assert.Equal("spaces in names", await response.Content.ReadAsStringAsync());
        Assert.Equal("spaces in names", await viaHelper.Content.ReadAsStringAsync());
        Assert.Equal(store.GetRepo(RepoType.Model, "acme/tiny").CommitOf("refs/pr/1"), viaHelper.Header("X-Repo-Commit"));
    }

    [Fact]
    public async Task Raw_route_returns_the_lfs_pointer_with_the_tree_oid_as_etag()
    {
        var store = HubTestKit.StandardStore();
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        var content = SyntheticContent.Create(size: 3_000_000, seed: 7);
        var pointer = $"version https://git-lfs.github.com/spec/v1\noid sha256:{content.Sha256}\nsize 3000000\n";

        using var response = await client.SendAsync(HttpMethod.Get, "/acme/tiny/raw/main/weights/model.safetensors");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(pointer, await response.Content.ReadAsStringAsync());
        Assert.Equal($"\"{GitBlobHasher.Compute(Encoding.ASCII.GetBytes(pointer))}\"", response.Headers.ETag!.ToString());
    }

    [Fact]
    public async Task Dataset_files_live_under_the_datasets_prefix()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Dataset, "acme/data", r => r.File("train.csv", "a,b\n1,2\n").Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var ok = await client.SendAsync(HttpMethod.Get, "/datasets/acme/data/resolve/main/train.csv");
        using var wrongType = await client.SendAsync(HttpMethod.Get, "/acme/data/resolve/main/train.csv");

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongType.StatusCode);
    }

    [Fact]
    public async Task Matching_if_none_match_gets_304_without_a_body()
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = ResolveMode.Direct }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        using var first = await client.SendAsync(HttpMethod.Head, "/acme/tiny/resolve/main/config.json");
        using var request = HubTestKit.Request(HttpMethod.Get, "/acme/tiny/resolve/main/config.json");
        request.Headers.TryAddWithoutValidation("If-None-Match", first.Headers.ETag!.ToString());

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(first.Header("X-Repo-Commit"), response.Header("X-Repo-Commit"));
    }

    [Theory]
    [InlineData(ResolveMode.Direct, "config.json")]
    [InlineData(ResolveMode.Realistic, "config.json")]
    [InlineData(ResolveMode.Realistic, "weights/model.safetensors")]
    [InlineData(ResolveMode.Cache, "weights/model.safetensors")]
    public async Task Head_and_get_give_the_same_status_and_metadata_headers(ResolveMode mode, string path)
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { ResolveMode = mode }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var head = await client.SendAsync(HttpMethod.Head, "/acme/tiny/resolve/main/" + path);
        using var get = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/" + path);

        Assert.Equal(get.StatusCode, head.StatusCode);
        foreach (var name in new[] { "X-Repo-Commit", "ETag", "X-Linked-Etag", "X-Linked-Size", "Accept-Ranges", "Content-Length", "Content-Type", "Content-Disposition" })
        {
            Assert.Equal(get.Header(name), head.Header(name));
        }
        Assert.Equal(get.Headers.Location is null, head.Headers.Location is null);
    }

    [Fact]
    public async Task Resolve_cache_of_a_private_repo_needs_the_token_too()
    {
        var store = HubTestKit.StandardStore(r => r.Settings(s => s with { Private = true, AllowedTokens = [HubTestKit.ValidToken] }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);
        using var redirect = await client.SendAsync(HttpMethod.Get, "/acme/tiny/resolve/main/config.json", HubTestKit.ValidToken);
        var location = redirect.Headers.Location!.OriginalString;

        using var withToken = await client.SendAsync(HttpMethod.Get, location, HubTestKit.ValidToken);
        using var without = await client.SendAsync(HttpMethod.Get, location);

        Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
    }

    [Fact]
    public async Task Request_id_echoes_the_client_trace_id()
    {
        await using var server = await HubTestKit.StartAsync(HubTestKit.StandardStore());
        using var client = HubTestKit.Client(server);
        using var request = HubTestKit.Request(HttpMethod.Get, "/api/models/acme/tiny");
        request.Headers.TryAddWithoutValidation("X-Amzn-Trace-Id", "trace-123");

        using var response = await client.SendAsync(request);

        Assert.Matches("^Root=1-[0-9a-f]{8}-[0-9a-f]{24};trace-123$", response.Header("X-Request-Id"));
    }
}
