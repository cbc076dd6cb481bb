using Hfdl.Core.Hub;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Facade;

/// <summary>HF_HUB_OFFLINE means no network call at all, for a client made from the environment as for the command.</summary>
public sealed class HfdlClientOfflineTests : IAsyncLifetime, IDisposable
{
    private const string Repo = "acme/offline";
    private readonly TempFolder _temp = new();
    private HubServer _server = null!;

    public async Task InitializeAsync() => _server = await HubServer.StartAsync(new HubServerOptions
    {
        Store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, repo => repo.File("config.json", "{}\n")),
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    private HfdlClient FromEnvironment(bool offline) => HfdlClient.FromEnvironment(new Dictionary<string, string?>
    {
        ["HF_ENDPOINT"] = _server.Endpoint.ToString(),
        ["HF_HOME"] = _temp.Combine("home"),
        ["HF_HUB_OFFLINE"] = offline ? "1" : null,
    }, Engine.FastOptions with { Threads = 2 });

    private DownloadRequest Request(string folder) =>
        new() { RepoType = RepoType.Model, RepoId = RepoId.Parse(Repo), TargetFolder = _temp.Combine(folder) };

    [Fact]
    public async Task A_client_made_from_an_environment_with_HF_HUB_OFFLINE_makes_no_network_call()
    {
        using (var online = FromEnvironment(offline: false))
        {
            await online.DownloadAsync(Request("had"));
        }
        using var hfdl = FromEnvironment(offline: true);
        Assert.True(hfdl.Options.Offline);
        await _server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = _server.Requests.Count;

        await Assert.ThrowsAsync<OfflineIncompleteException>(() => hfdl.DownloadAsync(Request("never")));
        await Assert.ThrowsAsync<OfflineIncompleteException>(() => hfdl.ListAsync(Request("never")));
        var summary = await hfdl.DownloadAsync(Request("had"));
        var listing = await hfdl.ListAsync(Request("had"));
        var plan = await hfdl.PlanAsync(Request("had"));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(["config.json"], listing.Files.Select(f => f.Path));
        Assert.True(plan.Offline);
        Assert.Equal(before, _server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("never")), "nothing was written");
    }
}
