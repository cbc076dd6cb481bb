using System.Text;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>The token goes to the Hub's origin and nowhere else, and is never written anywhere.</summary>
[Collection(SecurityCollection.Name)]
public sealed class TokenHygieneTests(SecurityHub hub) : IClassFixture<SecurityHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> RedirectShapes => new()
    {
        "alice/private-direct",      // 200 from the hub itself
        "alice/private-cache",       // relative 307 to /api/resolve-cache on the hub
        "alice/private-cdn",         // absolute 302 to the CDN listener (another origin)
        "alice/private-realistic",   // the real Hub's mix: LFS to the CDN, regular files through the cache
        "alice/hops",                // three same-host 302s, then the CDN
        "alice/renamed-source",      // the rename's relative 307 on every route, then the real answers
    };

    [Theory]
    [MemberData(nameof(RedirectShapes))]
    public async Task The_token_reaches_the_hub_on_every_request_and_the_cdn_never(string repo)
    {
        var cli = new CliRunner(hub.Server, _temp);
        cli.Environment["HF_TOKEN"] = SecurityHub.AliceToken;
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync("download", repo, "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        var requests = hub.Server.Requests.Snapshot().Skip(before).ToList();
        Assert.NotEmpty(requests);
        Assert.All(requests.Where(r => r.Listener == "cdn"), r => Assert.Null(r.Authorization));
        Assert.All(requests.Where(r => r.Listener == "hub"), r => Assert.Equal($"Bearer {SecurityHub.AliceToken}", r.Authorization));
        if (repo is "alice/private-cdn" or "alice/private-realistic" or "alice/hops")
        {
            Assert.Contains(requests, r => r.Listener == "cdn" && r.StatusCode is 200 or 206);
        }
    }

    [Fact]
    public async Task The_token_never_appears_in_any_output_state_or_log_file()
    {
        var cli = new CliRunner(hub.Server, _temp);
        cli.Environment["HF_TOKEN"] = SecurityHub.AliceToken;
        var target = _temp.Combine("downloads");
        var outputs = new List<CliResult>
        {
            await cli.RunAsync("download", "alice/private-realistic", "-d", target, "--file-size-threshold", "1", "--json"),
            await cli.RunAsync("download", "alice/private-realistic", "-d", target, "-v"), // nothing left to do
            await cli.RunAsync("download", "alice/private-cdn", "-d", target, "--token", SecurityHub.AliceToken),
            await cli.RunAsync("download", "alice/private-cdn", "-d", target, "--verify"),
            await cli.RunAsync("download", "alice/private-realistic", "--cache-dir", _temp.Combine("hf-cache"), "--file-size-threshold", "1"),
            await cli.RunAsync("ls", "alice/private-cdn", "--json"),
            await cli.RunAsync("whoami"),
        };
        // Failures quote the server and name the token's source: they must still not show it.
        cli.Environment["HF_TOKEN"] = SecurityHub.BobToken;
        outputs.Add(await cli.RunAsync("download", "acme/gated", "-d", target, "--json"));
        cli.Environment["HF_TOKEN"] = SecurityHub.CarolToken;
        outputs.Add(await cli.RunAsync("download", "alice/private-cache", "-d", target));
        outputs.Add(await cli.RunAsync("download", "acme/gated", "-d", target, "-v"));

        Assert.All(outputs.Take(7), r => Assert.True(r.ExitCode == 0, r.ToString()));
        Assert.Contains("\"event\"", outputs[0].Out, StringComparison.Ordinal); // --json events on stdout
        Assert.All(outputs.Skip(7), r => Assert.NotEqual(0, r.ExitCode));
        foreach (var token in new[] { SecurityHub.AliceToken, SecurityHub.BobToken, SecurityHub.CarolToken })
        {
            Assert.All(outputs, r => Assert.DoesNotContain(token, r.All, StringComparison.Ordinal));
        }
        var files = Directory.EnumerateFiles(_temp.Path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).ToList();
        Assert.Contains(files, f => Path.GetFileName(f) == ".download_state");
        Assert.Contains(files, f => f.Contains("hf-cache", StringComparison.Ordinal) && f.Contains("snapshots", StringComparison.Ordinal));
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            foreach (var token in new[] { SecurityHub.AliceToken, SecurityHub.BobToken, SecurityHub.CarolToken })
            {
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(token)) < 0, $"{file} holds a token");
            }
        }
    }

    [Fact]
    public async Task An_unknown_token_is_reported_by_its_source_and_never_by_its_value()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/x", r => r.File("a.txt", "a\n"));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        var cli = new CliRunner(server, _temp);
        cli.Environment["HF_TOKEN"] = SecurityHub.AliceToken; // unknown to this server: 401 "Invalid credentials"

        var result = await cli.RunAsync("whoami");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("HF_TOKEN", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(SecurityHub.AliceToken, result.All, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_validation_is_never_relaxed_anywhere_in_the_code()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Hfdl.slnx")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        }
        string[] forbidden = ["ServerCertificateCustomValidationCallback", "DangerousAcceptAnyServerCertificateValidator", "RemoteCertificateValidationCallback", "CheckCertificateRevocationList = false"];
        var offenders = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => forbidden.Where(word => File.ReadAllText(f).Contains(word, StringComparison.Ordinal)).Select(word => $"{f}: {word}"))
            .ToList();
        Assert.Empty(offenders);
    }
}
