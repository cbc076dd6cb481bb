using System.Security.Cryptography;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Ecosystem;

/// <summary>One Hfdl.Hub for the tests of what a user coming from <c>hf</c> types: download options, cache rm/prune.</summary>
public sealed class HfCompatHub : IAsyncLifetime
{
    /// <summary>Alice owns <c>alice/private</c>.</summary>
    public const string AliceToken = "hf_CompatAliceToken0123456789abcdef";

    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public static void TinyFiles(SnapshotBuilder repo)
    {
        repo.File("config.json", "{\"model_type\":\"tiny\"}\n")
            .File("README.md", "# tiny\n")
            .File("tokenizer/vocab.json", "{\"a\":1}\n")
            .File("tokenizer/merges.txt", "a b\n")
            .File("model.safetensors", SyntheticContent.Create(1_200_000, seed: 5));
        for (var i = 0; i < 10; i++)
        {
            repo.File($"notes/{i}.txt", $"note {i}\n");
        }
    }

    public async Task InitializeAsync()
    {
        Store.AddRepo(RepoType.Model, "acme/tiny", repo =>
        {
            TinyFiles(repo);
            repo.Revision("v1", RevisionKind.Tag, r => r.File("config.json", "{\"model_type\":\"tiny\",\"v\":1}\n"), inheritMain: true);
        });
        // Every file answer waits a little, so requests that may overlap do (a client's concurrency shows).
        Store.AddRepo(RepoType.Model, "acme/slow", repo =>
        {
            TinyFiles(repo);
            repo.Settings(s => s with { Faults = HubFaults.None with { Latency = TimeSpan.FromMilliseconds(100), LatencyTargets = FaultTargets.Files } });
        });
        Store.AddRepo(RepoType.Dataset, "acme/table", repo => repo.File("data/train.csv", "x,y\n1,2\n").File("README.md", "# table\n"));
        Store.AddRepo(RepoType.Model, "alice/private", repo => repo.File("secret.txt", "only for alice\n").Settings(s => s with { Private = true }));
        Server = await HubServer.StartAsync(new HubServerOptions { Store = Store, Users = [new HubUser(AliceToken, "alice", [])] });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>
    /// Everything under <paramref name="folder"/> as text: each link with its target, each file with its sha256 (for
    /// hfdl's journal and huggingface_hub's per-file metadata, which hold times, only the name), so two downloads that
    /// put the same files in the same places compare equal.
    /// </summary>
    public static List<string> Layout(string folder) =>
        [.. Directory.EnumerateFileSystemEntries(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.None })
            .Select(path =>
            {
                var relative = Path.GetRelativePath(folder, path).Replace(Path.DirectorySeparatorChar, '/');
                var info = new FileInfo(path);
                if (info.LinkTarget is { } target)
                {
                    return $"{relative} -> {target}";
                }
                if (!info.Exists)
                {
                    return relative + "/";
                }
                var name = Path.GetFileName(path);
                if (name.StartsWith(".download_state", StringComparison.Ordinal) || name.StartsWith(".hfdl.lock", StringComparison.Ordinal) || name.EndsWith(".metadata", StringComparison.Ordinal))
                {
                    return relative;
                }
                return $"{relative} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))}";
            })
            .Order(StringComparer.Ordinal)];
}
