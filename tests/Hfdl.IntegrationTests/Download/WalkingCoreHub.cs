using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Download;

/// <summary>One Hfdl.Hub for the walking-core tests, with every repo shape they need. Tree pages hold 2 entries.</summary>
public sealed class WalkingCoreHub : IAsyncLifetime
{
    public const string AliceToken = "hf_alice_token_1234567890";
    public const string BobToken = "hf_bob_token_0987654321";
    public const string CarolToken = "hf_carol_token_5555555555";

    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public static void StandardFiles(SnapshotBuilder repo) => repo
        .File("config.json", "{\"model_type\":\"tiny\"}\n")
        .File("README.md", "# tiny\n")
        .File("weights/model.safetensors", SyntheticContent.Create(size: 3_000_000, seed: 7))
        .File("empty.txt", Array.Empty<byte>())
        .File("dir one/file two.txt", "spaces in names\n")
        .File("odd/a#b+c d.txt", "hash, plus and space\n")
        .File("ünïcødé/naïve €.txt", "unicode\n")
        .File("nested/a/b/c.json", "[1,2,3]\n");

    public async Task InitializeAsync()
    {
        foreach (var (name, mode) in new[] { ("direct", ResolveMode.Direct), ("cache", ResolveMode.Cache), ("cdn", ResolveMode.Cdn), ("real", ResolveMode.Realistic) })
        {
            Store.AddRepo(RepoType.Model, $"acme/{name}", repo =>
            {
                StandardFiles(repo);
                repo.Settings(s => s with { ResolveMode = mode });
            });
        }
        Store.AddRepo(RepoType.Model, "acme/seven", repo =>
        {
            for (var i = 1; i <= 7; i++)
            {
                repo.File($"file{i}.txt", $"content {i}\n");
            }
        });
        Store.AddRepo(RepoType.Dataset, "acme/data", repo => repo.File("train.csv", "a,b\n1,2\n").File("data/part-0.parquet", SyntheticContent.Create(70_000, 3)));
        Store.AddRepo(RepoType.Space, "acme/app", repo => repo.File("app.py", "print('hi')\n"));
        Store.AddRepo(RepoType.Model, "gpt2", repo => repo.File("config.json", "{\"legacy\":true}\n"));
        Store.AddRepo(RepoType.Model, "acme/revs", repo => repo
            .File("version.txt", "main\n")
            .Revision("dev", RevisionKind.Branch, r => r.File("version.txt", "dev\n"))
            .Revision("v1.0", RevisionKind.Tag, r => r.File("version.txt", "v1.0\n").File("extra.txt", "only in v1.0\n"))
            .Revision("refs/pr/1", RevisionKind.PullRequest, r => r.File("version.txt", "pr 1\n")));
        Store.AddRepo(RepoType.Model, "acme/secret", repo => repo
            .File("secret.txt", "private bytes\n")
            .Settings(s => s with { Private = true, AllowedTokens = [AliceToken] }));
        Store.AddRepo(RepoType.Model, "acme/gated", repo => repo
            .File("weights.bin", SyntheticContent.Create(5000, 1))
            .Settings(s => s with { Gated = GatedMode.Manual, ApprovedTokens = [AliceToken], PendingTokens = [BobToken] }));
        Store.AddRepo(RepoType.Model, "acme/disabled", repo => repo
            .File("x.txt", "x\n")
            .Settings(s => s with { Disabled = true }));
        Store.AddRepo(RepoType.Model, "acme/new-name", repo => repo.File("renamed.txt", "I moved\n").File("model.bin", SyntheticContent.Create(4096, 5)));
        Store.AddRename(RepoType.Model, "acme/old-name", "acme/new-name");

        Server = await HubServer.StartAsync(new HubServerOptions
        {
            Store = Store,
            TreePageSize = 2,
            Users = [new HubUser(AliceToken, "alice", ["acme"]), new HubUser(BobToken, "bob", []), new HubUser(CarolToken, "carol", [])],
        });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
