using System.Net;
using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

public sealed class HostileTests
{
    private static readonly SyntheticContent Weights = SyntheticContent.Create(50_000, seed: 3);

    private static InMemoryRepoStore Store(HostileFaults hostile, ResolveMode mode = ResolveMode.Direct) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, "evil/repo", r => r
            .File("config.json", "{}")
            .File("model.safetensors", Weights)
            .File("a.txt", "a").File("b.txt", "b").File("c.txt", "c")
            .Settings(s => s with { ResolveMode = mode, Faults = HubFaults.None with { Hostile = hostile } }));

    private static async Task<List<JsonElement>> TreeAsync(HttpClient client) =>
        [.. (await (await client.SendAsync(HttpMethod.Get, "/api/models/evil/repo/tree/main?recursive=true")).JsonAsync()).EnumerateArray()];

    [Fact]
    public async Task Hostile_file_names_are_listed_and_served_verbatim()
    {
        string[] names = ["../escape.txt", "/abs.txt", "C:\\drive.txt", "\\\\server\\share\\x.txt", "back\\slash.txt", "nul\0byte.txt", "ctrl\u0007.txt", "Case.txt", "case.txt", "dir/../../up.txt"];
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "evil/names", r =>
        {
            foreach (var name in names)
            {
                r.File(name, "pwned: " + name);
            }
            r.Settings(s => s with { ResolveMode = ResolveMode.Direct });
        });
        await using var server = await HubTestKit.StartAsync(store);
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, "/api/models/evil/names/tree/main?recursive=true");
        var files = (await response.JsonAsync()).EnumerateArray().Where(e => e.GetProperty("type").GetString() == "file").Select(e => e.GetProperty("path").GetString()!).ToHashSet();
        using var backslash = await client.SendAsync(HttpMethod.Get, "/evil/names/resolve/main/C%3A%5Cdrive.txt");

        Assert.Equal(names.ToHashSet(), files);
        Assert.Equal("pwned: C:\\drive.txt", await backslash.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Listed_sizes_can_be_absurd_or_disagree_with_resolve()
    {
        await using var negative = await HubTestKit.StartAsync(Store(new HostileFaults { ListedSize = -1 }));
        await using var shifted = await HubTestKit.StartAsync(Store(new HostileFaults { ListedSizeDelta = 1000 }));
        using var negativeClient = HubTestKit.Client(negative);
        using var shiftedClient = HubTestKit.Client(shifted);

        var negativeTree = await TreeAsync(negativeClient);
        var shiftedTree = await TreeAsync(shiftedClient);
        using var resolve = await shiftedClient.SendAsync(HttpMethod.Head, "/evil/repo/resolve/main/model.safetensors");

        Assert.All(negativeTree, e => Assert.Equal(-1, e.GetProperty("size").GetInt64()));
        var weights = shiftedTree.Single(e => e.GetProperty("path").GetString() == "model.safetensors");
        Assert.Equal(51_000, weights.GetProperty("size").GetInt64());
        Assert.Equal(51_000, weights.GetProperty("lfs").GetProperty("size").GetInt64());
        Assert.Equal(50_000, resolve.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Wrong_hashes_are_advertised_everywhere_while_the_bytes_stay_true()
    {
        await using var server = await HubTestKit.StartAsync(Store(new HostileFaults { WrongHashes = true }, ResolveMode.Cdn));
        using var client = HubTestKit.Client(server);

        var weights = (await TreeAsync(client)).Single(e => e.GetProperty("path").GetString() == "model.safetensors");
        using var redirect = await client.SendAsync(HttpMethod.Get, "/evil/repo/resolve/main/model.safetensors");
        using var cdn = await client.SendAsync(HttpMethod.Get, redirect.Headers.Location!.AbsoluteUri);

        var advertised = weights.GetProperty("lfs").GetProperty("oid").GetString();
        Assert.NotEqual(Weights.Sha256, advertised);
        Assert.Equal($"\"{advertised}\"", redirect.Header("X-Linked-Etag"));
        Assert.Equal(Weights.Sha256, HubTestKit.Sha256Hex(await cdn.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task Malformed_json_is_cut_in_half()
    {
        await using var server = await HubTestKit.StartAsync(Store(new HostileFaults { MalformedJson = true }));
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, "/api/models/evil/repo/tree/main");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text));
    }

    [Fact]
    public async Task Gigantic_json_is_streamed_and_valid()
    {
        await using var server = await HubTestKit.StartAsync(Store(new HostileFaults { GiganticJsonBytes = 5_000_000 }));
        using var client = HubTestKit.Client(server);

        using var response = await client.SendAsync(HttpMethod.Get, "/api/models/evil/repo/tree/main");
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(5_000_000, bytes.Length);
        using var document = JsonDocument.Parse(bytes);
        Assert.Equal(JsonValueKind.Array, document.RootElement.ValueKind);
    }

    [Fact]
    public async Task Pagination_loop_points_a_page_at_itself()
    {
        await using var server = await HubTestKit.StartAsync(Store(new HostileFaults { PaginationLoop = true }), o => o with { TreePageSize = 2 });
        using var client = HubTestKit.Client(server);

        using var first = await client.SendAsync(HttpMethod.Get, "/api/models/evil/repo/tree/main");
        var second = first.Header("Link")![1..first.Header("Link")!.IndexOf('>')];
        using var secondPage = await client.SendAsync(HttpMethod.Get, second);

        Assert.Equal($"<{second}>; rel=\"next\"", secondPage.Header("Link"));
    }

    [Fact]
    public async Task Redirect_hops_come_before_the_real_answer_and_a_loop_never_ends()
    {
        await using var hops = await HubTestKit.StartAsync(Store(new HostileFaults { RedirectHops = 12 }));
        await using var loop = await HubTestKit.StartAsync(Store(new HostileFaults { RedirectLoop = true }));
        using var hopsClient = HubTestKit.Client(hops);
        using var loopClient = HubTestKit.Client(loop);

        var url = "/evil/repo/resolve/main/config.json";
        var count = 0;
        HttpResponseMessage response;
        while ((response = await hopsClient.SendAsync(HttpMethod.Get, url)).StatusCode == HttpStatusCode.Found)
        {
            url = response.Headers.Location!.OriginalString;
            response.Dispose();
            count++;
        }
        using var looped = await loopClient.SendAsync(HttpMethod.Get, "/evil/repo/resolve/main/config.json");
        using var loopedAgain = await loopClient.SendAsync(HttpMethod.Get, looped.Headers.Location!.OriginalString);

        Assert.Equal(12, count);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{}", await response.Content.ReadAsStringAsync());
        response.Dispose();
        Assert.Equal(looped.Headers.Location, loopedAgain.Headers.Location);
    }
}
