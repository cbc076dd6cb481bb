using System.Net.Http.Headers;
using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>Starts servers for tests and talks to them with a plain HttpClient that follows no redirect.</summary>
internal static class HubTestKit
{
    public const string ValidToken = "hf_valid_user_token";
    public const string OtherToken = "hf_other_user_token";

    public static readonly HubUser Alice = new(ValidToken, "alice", ["alice-org"]);
    public static readonly HubUser Bob = new(OtherToken, "bob", []);

    public static HttpClient Client(HubServer server) =>
        new(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = System.Net.DecompressionMethods.None, UseCookies = false })
        {
            BaseAddress = server.Endpoint,
            Timeout = TimeSpan.FromSeconds(30),
        };

    public static Task<HubServer> StartAsync(InMemoryRepoStore store, Func<HubServerOptions, HubServerOptions>? configure = null)
    {
        var options = new HubServerOptions { Store = store, Users = [Alice, Bob] };
        return HubServer.StartAsync(configure is null ? options : configure(options));
    }

    public static HttpRequestMessage Request(HttpMethod method, string url, string? token = null, string? range = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }
        return request;
    }

    public static async Task<HttpResponseMessage> SendAsync(this HttpClient client, HttpMethod method, string url, string? token = null, string? range = null) =>
        await client.SendAsync(Request(method, url, token, range));

    public static string? Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.TryGetValues(name, out var contentValues) ? string.Join(",", contentValues)
        : null;

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    /// <summary>The repo most tests use: regular, LFS-by-extension, LFS-by-size, nested, empty, names with spaces.</summary>
    public static InMemoryRepoStore StandardStore(Action<RepoBuilder>? extra = null)
    {
        var store = new InMemoryRepoStore();
        store.AddRepo(RepoType.Model, "acme/tiny", repo =>
        {
            repo.File("config.json", "{\"a\":1}")
                .File("README.md", "# tiny\n")
                .File("weights/model.safetensors", SyntheticContent.Create(size: 3_000_000, seed: 7))
                .File("big/blob.dat", SyntheticContent.Create(size: 11L * 1024 * 1024, seed: 9))
                .File("empty.txt", Array.Empty<byte>())
                .File("dir one/file two.txt", "spaces in names")
                .File("nested/a/b/c.json", "[1,2,3]")
                .Revision("v1.0", RevisionKind.Tag, r => r.File("config.json", "{\"a\":0}"))
                .Alias("refs/pr/1", "main")
                .Alias("refs/convert/parquet", "v1.0");
            extra?.Invoke(repo);
        });
        return store;
    }
}
