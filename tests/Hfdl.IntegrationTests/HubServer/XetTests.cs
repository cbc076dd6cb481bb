using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Xet;
using Hfdl.Hub.Server;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>The Xet-backed mode of the server: resolve headers, listings, tokens, reconstructions, signed xorb ranges, faults.</summary>
public sealed class XetTests
{
    private static readonly byte[] Weights = XetContent.Mixed(2_000_000, seed: 11);
    private static readonly byte[] Shard = XetContent.Repeated("a line that repeats\n", 900_000);

    private static InMemoryRepoStore Store(Func<RepoSettings, RepoSettings>? settings = null) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", repo => repo
            .File("config.json", "{\"a\":1}")
            .File("model.safetensors", Weights)
            .File("shards/part.bin", Shard)
            .File("empty.bin", Array.Empty<byte>())
            .Settings(s => (settings ?? (x => x))(s with { Xet = true })));

    private static XetHash ExpectedHash(byte[] data)
    {
        var chunks = new List<XetChunkRef>();
        var offset = 0;
        foreach (var length in XetChunker.ChunkLengths(data))
        {
            chunks.Add(new XetChunkRef(XetHashing.ChunkHash(data.AsSpan(offset, length)), (ulong)length));
            offset += length;
        }
        return XetHashing.FileHash(chunks);
    }

    [Fact]
    public async Task Resolve_of_a_xet_file_redirects_to_the_bridge_with_the_xet_hash_and_links()
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Head, "/acme/xet/resolve/main/model.safetensors");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var hash = response.Header("X-Xet-Hash");
        Assert.Equal(ExpectedHash(Weights).ToString(), hash);
        var commit = server.Options.Store.FindRepo(RepoType.Model, "acme/xet")!.CommitOf();
        Assert.Equal(
            $"<{server.Endpoint}api/models/acme/xet/xet-read-token/{commit}>; rel=\"xet-auth\", <{server.CasEndpoint}v1/reconstructions/{hash}>; rel=\"xet-reconstruction-info\"",
            response.Header("Link"));
        Assert.Equal($"\"{HubTestKit.Sha256Hex(Weights)}\"", response.Header("X-Linked-Etag"));

        // The bridge still serves the plain bytes, whole and in ranges.
        using var cdn = new HttpClient();
        Assert.Equal(Weights, await cdn.GetByteArrayAsync(response.Headers.Location));
        using var ranged = await cdn.SendAsync(HubTestKit.Request(HttpMethod.Get, response.Headers.Location!.AbsoluteUri, range: "bytes=100-199"));
        Assert.Equal(Weights[100..200], await ranged.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Regular_files_empty_files_and_repos_without_xet_carry_no_xet_headers()
    {
        var store = Store().AddRepo(RepoType.Model, "acme/plain", repo => repo.File("model.safetensors", Weights));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        foreach (var url in new[] { "/acme/xet/resolve/main/config.json", "/acme/xet/resolve/main/empty.bin", "/acme/plain/resolve/main/model.safetensors" })
        {
            using var response = await client.SendAsync(HttpMethod.Head, url);
            Assert.Null(response.Header("X-Xet-Hash"));
            Assert.Null(response.Header("Link"));
        }
        var tree = await (await client.SendAsync(HttpMethod.Get, "/api/models/acme/plain/tree/main")).JsonAsync();
        Assert.False(tree[0].TryGetProperty("xetHash", out _));
        var info = await (await client.SendAsync(HttpMethod.Get, "/api/models/acme/plain?expand=xetEnabled")).JsonAsync();
        Assert.False(info.GetProperty("xetEnabled").GetBoolean());
    }

    [Fact]
    public async Task Resolve_asked_for_xet_file_info_answers_it_instead_of_redirecting()
    {
        await using var server = await HubTestKit.StartAsync(Store());
        using var xet = new XetTestClient(server);

        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");

        Assert.Equal(ExpectedHash(Weights).ToString(), info.Hash);
        Assert.Equal(Weights.Length, info.Size);
        Assert.Equal($"\"{HubTestKit.Sha256Hex(Weights)}\"", info.Etag);
        Assert.StartsWith($"{server.CasEndpoint}v1/reconstructions/", info.ReconstructionUrl, StringComparison.Ordinal);
        Assert.Contains("/xet-read-token/", info.RefreshUrl, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tree_and_paths_info_list_the_xet_hash_and_a_gated_tree_redacts_it()
    {
        await using var server = await HubTestKit.StartAsync(Store(s => s with { Gated = GatedMode.Manual, ApprovedTokens = [HubTestKit.ValidToken] }));
        using var client = HubTestKit.Client(server);
        var expected = ExpectedHash(Weights).ToString();

        var approved = await (await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet/tree/main", HubTestKit.ValidToken)).JsonAsync();
        var anonymous = await (await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet/tree/main")).JsonAsync();
        using var pathsInfoRequest = HubTestKit.Request(HttpMethod.Post, "/api/models/acme/xet/paths-info/main", HubTestKit.ValidToken);
        pathsInfoRequest.Content = new StringContent("{\"paths\":[\"model.safetensors\",\"config.json\"]}", System.Text.Encoding.UTF8, "application/json");
        var pathsInfo = await (await client.SendAsync(pathsInfoRequest)).JsonAsync();
        var info = await (await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet?expand=xetEnabled")).JsonAsync();

        string? XetHashOf(JsonElement listing, string path) =>
            listing.EnumerateArray().Single(e => e.GetProperty("path").GetString() == path).TryGetProperty("xetHash", out var h) ? h.GetString() : null;
        Assert.Equal(expected, XetHashOf(approved, "model.safetensors"));
        Assert.Null(XetHashOf(approved, "shards"));
        Assert.Null(XetHashOf(approved, "config.json"));
        Assert.Null(XetHashOf(approved, "empty.bin"));
        Assert.Equal(new string('*', 64), XetHashOf(anonymous, "model.safetensors"));
        Assert.Equal(expected, XetHashOf(pathsInfo, "model.safetensors"));
        Assert.Null(XetHashOf(pathsInfo, "config.json"));
        Assert.True(info.GetProperty("xetEnabled").GetBoolean());
    }

    [Fact]
    public async Task The_read_token_comes_in_body_and_headers_and_is_refused_to_whoever_may_not_read_the_files()
    {
        var store = Store(s => s with { Gated = GatedMode.Manual, ApprovedTokens = [HubTestKit.ValidToken] })
            .AddRepo(RepoType.Dataset, "acme/secret", repo => repo.File("data.parquet", Shard).Settings(s => s with { Private = true, Xet = true }));
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var granted = await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet/xet-read-token/main", HubTestKit.ValidToken);
        Assert.Equal(HttpStatusCode.OK, granted.StatusCode);
        var body = await granted.JsonAsync();
        Assert.Equal(body.GetProperty("accessToken").GetString(), granted.Header("X-Xet-Access-Token"));
        Assert.Equal(body.GetProperty("exp").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), granted.Header("X-Xet-Token-Expiration"));
        Assert.Equal(server.CasEndpoint.AbsoluteUri.TrimEnd('/'), body.GetProperty("casUrl").GetString());
        Assert.Equal(server.CasEndpoint.AbsoluteUri.TrimEnd('/'), granted.Header("X-Xet-Cas-Url"));
        Assert.InRange(body.GetProperty("exp").GetInt64() - DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 3000, 3700);

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet/xet-read-token/main")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet/xet-read-token/main", HubTestKit.OtherToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(HttpMethod.Get, "/api/datasets/acme/secret/xet-read-token/main")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(HttpMethod.Get, "/api/datasets/acme/secret/xet-read-token/main", HubTestKit.OtherToken)).StatusCode);
        using var missingRevision = await client.SendAsync(HttpMethod.Get, "/api/models/acme/xet/xet-read-token/nope", HubTestKit.ValidToken);
        Assert.Equal(HttpStatusCode.NotFound, missingRevision.StatusCode);
        Assert.Equal("RevisionNotFound", missingRevision.Header("X-Error-Code"));
    }

    [Fact]
    public async Task A_xet_file_is_rebuilt_bit_exact_from_v1_and_v2_reconstructions()
    {
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { Xet = new XetServerOptions { MaxXorbChunks = 7 } });
        using var xet = new XetTestClient(server);

        Assert.Equal(Weights, await xet.DownloadAsync("acme/xet", "model.safetensors"));
        Assert.Equal(Shard, await xet.DownloadAsync("acme/xet", "shards/part.bin"));

        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);
        var v1 = await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!, "v1");
        var v2 = await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!, "v2");
        Assert.Equal(v1.Terms, v2.Terms);
        Assert.True(v2.Terms.Select(t => t.Xorb).Distinct().Count() > 1, "small xorbs: the file spans several");
        Assert.All(v1.Fetches, f => Assert.Single(f.Ranges));
        var v1Output = new byte[Weights.Length];
        var plan = XetFilePlan.Create(v1, Weights.Length);
        foreach (var term in plan.Terms)
        {
            var bytes = (await xet.FetchAsync(plan.Fetches[term.FetchIndex]))[0];
            var range = plan.Fetches[term.FetchIndex].Ranges[0];
            term.CopyTo(XorbRangeDecoder.Decode(bytes, range.ChunkCount, plan.MaxDecodedBytes(term.FetchIndex, 0)), v1Output.AsSpan((int)term.OutputOffset));
        }
        Assert.Equal(Weights, v1Output);
    }

    [Fact]
    public async Task A_file_whose_chunks_repeat_reuses_one_xorb_range_as_the_real_hub_does()
    {
        // Like large_text.txt on the Hub (fixture xet-values.json): a repeated line is a few distinct chunks, stored
        // compressed, that several terms use again.
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { Xet = new XetServerOptions { ChunkStorage = XetChunkStorage.Smallest } });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "shards/part.bin");
        var token = await xet.TokenAsync(info.RefreshUrl!);

        var reconstruction = await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!);

        Assert.True(reconstruction.Terms.Count > 1);
        var fetch = Assert.Single(reconstruction.Fetches);
        Assert.True(fetch.ByteCount < Shard.Length / 100, $"{fetch.ByteCount} bytes fetched for a file of {Shard.Length}");
        Assert.Equal(Shard, await xet.DownloadAsync("acme/xet", "shards/part.bin"));
    }

    [Fact]
    public async Task A_range_reconstruction_starts_at_the_term_holding_the_first_byte()
    {
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { Xet = new XetServerOptions { MaxXorbChunks = 5 } });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);

        var whole = await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!);
        var part = await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!, range: "bytes=1000000-1099999");
        using var beyond = await xet.ReconstructionResponseAsync(token.CasUrl!, info.Hash!, token.AccessToken!, range: $"bytes={Weights.Length}-");

        long start = 0;
        var first = whole.Terms.TakeWhile(t => (start += t.UnpackedLength) <= 1_000_000).Count();
        Assert.Equal(whole.Terms[first], part.Terms[0]);
        Assert.Equal(1_000_000 - whole.Terms.Take(first).Sum(t => t.UnpackedLength), part.OffsetIntoFirstRange);
        Assert.True(part.Terms.Count < whole.Terms.Count);
        Assert.Equal(Weights[1_000_000..1_100_000], await xet.DownloadAsync("acme/xet", "model.safetensors", 1_000_000, 1_099_999));
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, beyond.StatusCode);
    }

    [Fact]
    public async Task Reconstructions_need_a_valid_unexpired_token_for_the_repo()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = Store().AddRepo(RepoType.Model, "acme/other", repo => repo.File("w.bin", Shard).Settings(s => s with { Xet = true }));
        await using var server = await HubTestKit.StartAsync(store, o => o with { TimeProvider = clock, Xet = new XetServerOptions { TokenLifetime = TimeSpan.FromMinutes(5) } });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);
        var other = await xet.TokenAsync(info.RefreshUrl!.Replace("acme/xet", "acme/other", StringComparison.Ordinal).Replace(info.RefreshUrl[(info.RefreshUrl.LastIndexOf('/') + 1)..], "main", StringComparison.Ordinal));
        var cas = token.CasUrl!;

        Assert.Equal(HttpStatusCode.Unauthorized, (await xet.ReconstructionResponseAsync(cas, info.Hash!, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await xet.ReconstructionResponseAsync(cas, info.Hash!, "xet_forged.token")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await xet.ReconstructionResponseAsync(cas, info.Hash!, HubTestKit.ValidToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await xet.ReconstructionResponseAsync(cas, info.Hash!, other.AccessToken)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await xet.ReconstructionResponseAsync(cas, "not-a-hash", token.AccessToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await xet.ReconstructionResponseAsync(cas, info.Hash!, token.AccessToken)).StatusCode);

        clock.Advance(TimeSpan.FromMinutes(6));

        Assert.Equal(HttpStatusCode.Unauthorized, (await xet.ReconstructionResponseAsync(cas, info.Hash!, token.AccessToken)).StatusCode);
    }

    [Fact]
    public async Task A_xorb_url_serves_exactly_its_signed_ranges_to_no_one_else_and_not_after_it_expires()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { TimeProvider = clock, SignedUrlLifetime = TimeSpan.FromMinutes(10) });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);
        var fetch = (await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!)).Fetches[0];
        var range = fetch.Ranges[0];
        using var http = new HttpClient();
        async Task<HttpStatusCode> Status(string? rangeHeader, string? bearer = null, Uri? url = null)
        {
            using var request = HubTestKit.Request(HttpMethod.Get, (url ?? fetch.Url).AbsoluteUri, bearer, rangeHeader);
            using var response = await http.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.PartialContent, await Status(range.RangeHeader));
        Assert.Equal(HttpStatusCode.Forbidden, await Status(null));
        Assert.Equal(HttpStatusCode.Forbidden, await Status($"bytes={range.ByteStart}-{range.ByteEnd + 1}"));
        Assert.Equal(HttpStatusCode.Forbidden, await Status($"bytes={range.ByteStart + 1}-{range.ByteEnd}"));
        Assert.Equal(HttpStatusCode.Forbidden, await Status("bytes=0-"));
        Assert.Equal(HttpStatusCode.BadRequest, await Status(range.RangeHeader, token.AccessToken));
        var tampered = new Uri(fetch.Url.AbsoluteUri.Replace("X-Xet-Signed-Range=bytes%3D", "X-Xet-Signed-Range=bytes%3D1", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Forbidden, await Status("bytes=1" + range.Spec, url: tampered));

        clock.Advance(TimeSpan.FromMinutes(11));

        Assert.Equal(HttpStatusCode.Forbidden, await Status(range.RangeHeader));
    }

    [Fact]
    public async Task Several_signed_ranges_come_back_as_multipart_byteranges_and_each_alone_as_a_plain_range()
    {
        // A later version of the weights reuses the earlier one's chunks around an edit: its xorb is needed in two runs.
        var (old, edited) = XetContent.WeightsAndEdit(2_000_000, seed: 5);
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/versions", repo => repo
            .File("model.safetensors", edited)
            .Revision("v1", RevisionKind.Tag, r => r.File("model.safetensors", old), date: new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero))
            .Settings(s => s with { Xet = true }));
        await using var server = await HubTestKit.StartAsync(store);
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/versions", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);

        var reconstruction = await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!);

        var multi = Assert.Single(reconstruction.Fetches, f => f.Ranges.Count > 1);
        var parts = await xet.FetchAsync(multi);
        using var http = new HttpClient();
        for (var i = 0; i < multi.Ranges.Count; i++)
        {
            using var single = await http.SendAsync(HubTestKit.Request(HttpMethod.Get, multi.Url.AbsoluteUri, range: multi.Ranges[i].RangeHeader));
            Assert.Equal(parts[i], await single.Content.ReadAsByteArrayAsync());
        }
        Assert.Equal(edited, await xet.DownloadAsync("acme/versions", "model.safetensors"));
        // A token is for its repo at its revision: the v1 token does not read main's file.
        var refresh = info.RefreshUrl!;
        var v1Token = await xet.TokenAsync(refresh[..(refresh.LastIndexOf('/') + 1)] + "v1");
        using var otherRevision = await xet.ReconstructionResponseAsync(token.CasUrl!, info.Hash!, v1Token.AccessToken);
        Assert.Equal(HttpStatusCode.NotFound, otherRevision.StatusCode);
        // The old version's file is all in xorbs the new one shares: only the edit is new.
        var newBytes = reconstruction.Fetches.Where(f => f.Ranges.Count == 1).Sum(f => f.ByteCount);
        Assert.True(newBytes < 400_000, $"{newBytes} bytes of new xorbs for a 50 KB edit");
    }

    [Fact]
    public async Task The_same_repo_gives_the_same_xorbs_and_hashes_on_every_server()
    {
        var options = new XetServerOptions { MaxXorbChunks = 6 };
        await using var first = await HubTestKit.StartAsync(Store(), o => o with { Xet = options });
        await using var second = await HubTestKit.StartAsync(Store(), o => o with { Xet = options });
        using var a = new XetTestClient(first);
        using var b = new XetTestClient(second);

        Assert.Equal((await a.FileInfoAsync("acme/xet", "model.safetensors")).Hash, (await b.FileInfoAsync("acme/xet", "model.safetensors")).Hash);
        static Dictionary<string, string> Xorbs(HubServer server) =>
            server.Xet.Xorbs.ToDictionary(x => x.Hash.ToString(), x => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(x.Path))));
        Assert.Equal(Xorbs(first).OrderBy(p => p.Key), Xorbs(second).OrderBy(p => p.Key));
        Assert.True(Xorbs(first).Count > 2);
    }

    [Fact]
    public async Task Xorbs_keep_the_specs_limits_and_their_footers_check_out()
    {
        await using var server = await HubTestKit.StartAsync(Store(), o => o with { Xet = new XetServerOptions { MaxXorbChunks = 4, MaxXorbBytes = 300_000 } });
        using var xet = new XetTestClient(server);
        await xet.FileInfoAsync("acme/xet", "model.safetensors");

        foreach (var stored in server.Xet.Xorbs)
        {
            var xorb = XorbObject.Parse(File.ReadAllBytes(stored.Path));
            Assert.Equal(stored.Hash, xorb.Hash);
            Assert.InRange(xorb.Chunks.Count, 1, 4);
            Assert.True(stored.Length <= 300_000 || xorb.Chunks.Count == 1);
            for (var i = 0; i < xorb.Chunks.Count; i++)
            {
                xorb.ReadChunk(i);
            }
        }
    }
}
