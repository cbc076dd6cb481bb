using Hfdl.Cli;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Spectre.Console;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>One Hfdl.Hub for the experience tests: a plain repo, and repos whose first file request answers 503.</summary>
public sealed class ExperienceHub : IAsyncLifetime
{
    public InMemoryRepoStore Store { get; } = new();

    public HubServer Server { get; private set; } = null!;

    public static void Files(SnapshotBuilder repo) => repo
        .File("config.json", "{\"model_type\":\"tiny\"}\n")
        .File("README.md", "# tiny\n")
        .File("tokenizer/vocab.json", "{\"a\":1}\n")
        .File("tokenizer/merges.txt", "a b\n")
        .File("onnx/model.onnx", SyntheticContent.Create(200_000, seed: 3))
        .File("model.safetensors", SyntheticContent.Create(2_500_000, seed: 4));

    public async Task InitializeAsync()
    {
        Store.AddRepo(RepoType.Model, "acme/plain", Files);
        // The first file request of each of these answers 503 (once per repo, so one per test).
        foreach (var name in new[] { "acme/flaky-json", "acme/flaky-plain" })
        {
            Store.AddRepo(RepoType.Model, name, repo =>
            {
                Files(repo);
                repo.Settings(s => s with { Faults = HubFaults.None with { ServerErrors = new StatusFault(503) { FirstRequests = 1, Targets = FaultTargets.Files } } });
            });
        }
        // Names with fnmatch's special characters, each beside a name a pattern of it would match too.
        Store.AddRepo(RepoType.Model, "acme/glob", repo =>
        {
            foreach (var name in new[] { "q?.txt", "qa.txt", "[br].txt", "b.txt", "st*r.txt", "stXr.txt", "dir[1]/f.txt", "dir1/g.txt", "o*/s.txt", "onnx/o.txt" })
            {
                repo.File(name, name + "\n");
            }
        });
        // A dataset whose listing takes several pages of the tree API (1000 entries each).
        Store.AddRepo(RepoType.Dataset, "acme/many", repo =>
        {
            for (var i = 0; i < 2100; i++)
            {
                repo.File($"part-{i / 100:D2}/row-{i:D4}.txt", $"{i}\n");
            }
        });
        Server = await HubServer.StartAsync(new HubServerOptions { Store = Store });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Runs the real command in-process like <see cref="CliRunner"/>, with a chosen terminal setup.</summary>
public sealed class ExperienceRunner(HubServer server, TempFolder home)
{
    public Dictionary<string, string?> Environment { get; } = new()
    {
        ["HF_ENDPOINT"] = server.Endpoint.ToString().TrimEnd('/'),
        ["HF_HOME"] = home.Combine("hf-home"),
        ["HOME"] = home.Combine("home"),
    };

    public bool IsTerminal { get; init; }

    public bool OutIsTerminal { get; init; }

    public IAnsiConsole? ErrorConsole { get; init; }

    public IAnsiConsole? OutConsole { get; init; }

    /// <summary>The encoding stdout reports, as the locale sets it (Latin-1 under <c>LANG=en_US.ISO-8859-1</c>).</summary>
    public System.Text.Encoding? OutEncoding { get; init; }

    public async Task<CliResult> RunAsync(params string[] args)
    {
        var output = OutEncoding is { } encoding ? new EncodedStringWriter(encoding) : new StringWriter();
        var error = new StringWriter();
        var context = new CliContext
        {
            Environment = HubEnvironment.FromDictionary(Environment),
            Out = TextWriter.Synchronized(output),
            Error = TextWriter.Synchronized(error),
            IsTerminal = IsTerminal,
            OutIsTerminal = OutIsTerminal,
            ErrorConsole = ErrorConsole,
            OutConsole = OutConsole,
        };
        var code = await HfdlCommand.RunAsync(args, context, CancellationToken.None);
        return new CliResult(code, output.ToString(), error.ToString());
    }
}

internal sealed class EncodedStringWriter(System.Text.Encoding encoding) : StringWriter
{
    public override System.Text.Encoding Encoding => encoding;
}
