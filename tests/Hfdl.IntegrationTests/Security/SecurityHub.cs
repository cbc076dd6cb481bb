using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Security;

/// <summary>One Hfdl.Hub with the accounts and repos the security tests need: private repos in every resolve shape, a gated, a disabled and a renamed repo.</summary>
public sealed class SecurityHub : IAsyncLifetime
{
    /// <summary>Alice owns the private repos and is approved for the gated one.</summary>
    public const string AliceToken = "hf_AliceSecretToken0123456789abcdef";

    /// <summary>Bob's access request to the gated repo is pending.</summary>
    public const string BobToken = "hf_BobSecretToken0123456789abcdefgh";

    /// <summary>Carol has no access to anything private or gated.</summary>
    public const string CarolToken = "hf_CarolSecretToken0123456789abcdef";

    /// <summary>The organisation acme's own token: whoami answers with the organisation, without "orgs".</summary>
    public const string AcmeOrgToken = "hf_AcmeOrgSecretToken0123456789abcd";

    public static readonly ResolveMode[] Modes = [ResolveMode.Direct, ResolveMode.Cache, ResolveMode.Cdn, ResolveMode.Realistic];

    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public string Endpoint => Server.Endpoint.ToString().TrimEnd('/');

    public async Task InitializeAsync()
    {
        foreach (var mode in Modes)
        {
            Store.AddRepo(RepoType.Model, $"alice/private-{mode.ToString().ToLowerInvariant()}", repo => repo
                .File("config.json", "{\"private\":true}\n")
                .File("weights.safetensors", SyntheticContent.Create(1_500_000, seed: 41))
                .File("sub/notes.txt", "notes\n")
                .Settings(s => s with { Private = true, ResolveMode = mode }));
        }
        Store.AddRepo(RepoType.Model, "alice/hops", repo => repo
            .File("a.txt", "a\n")
            .Settings(s => s with { Private = true, ResolveMode = ResolveMode.Cdn, Faults = HubFaults.None with { Hostile = new HostileFaults { RedirectHops = 3 } } }));
        Store.AddRepo(RepoType.Model, "alice/renamed-target", repo => repo
            .File("a.txt", "renamed\n")
            .File("b.bin", SyntheticContent.Create(20_000, seed: 3))
            .Settings(s => s with { Private = true, ResolveMode = ResolveMode.Realistic }));
        Store.AddRename(RepoType.Model, "alice/renamed-source", "alice/renamed-target");
        Store.AddRepo(RepoType.Model, "acme/gated", repo => repo
            .File("weights.bin", SyntheticContent.Create(5000, 1))
            .Settings(s => s with { Gated = GatedMode.Manual, ApprovedTokens = [AliceToken], PendingTokens = [BobToken] }));
        Store.AddRepo(RepoType.Model, "acme/disabled", repo => repo
            .File("x.txt", "x\n")
            .Settings(s => s with { Disabled = true }));
        Store.AddRepo(RepoType.Model, "acme/public", repo => repo.File("hello.txt", "hello\n"));
        Server = await HubServer.StartAsync(new HubServerOptions
        {
            Store = Store,
            Users = [new HubUser(AliceToken, "alice", ["acme", "acme-labs"]), new HubUser(BobToken, "bob", []), new HubUser(CarolToken, "carol", []),
                new HubUser(AcmeOrgToken, "acme", [], IsOrganization: true)],
        });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The security tests run one class at a time: they start many servers and downloads, and the other suites' timing
/// tests (stalls, speed, kill -9) must not starve beside them on a 2-core machine.
/// </summary>
[CollectionDefinition(Name)]
public sealed class SecurityCollection
{
    public const string Name = "Security";
}
