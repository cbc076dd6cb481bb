using System.Diagnostics;
using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>
/// Drives the official JavaScript client (@huggingface/hub, tests/npm-fidelity) against the server. When it fails, the
/// server is what is wrong.
/// </summary>
public sealed class NpmFidelityTests
{
    private static readonly (string Path, FileContent Content)[] Files =
    [
        ("config.json", "{\"architectures\":[\"Tiny\"]}"),
        ("README.md", "# A tiny model\n"),
        ("tokenizer/vocab.txt", "a\nb\nc\n"),
        ("dir with spaces/file name.txt", "spaces everywhere"),
        ("nested/deeper/still/leaf.json", "{}"),
        ("empty.txt", Array.Empty<byte>()),
        ("model.safetensors", SyntheticContent.Create(size: 2_500_000, seed: 42)),
        ("shards/part-1.bin", SyntheticContent.Create(size: 300_001, seed: 43)),
    ];

    [Fact]
    public async Task Official_js_client_downloads_every_file_bit_exact_through_pagination_and_cdn_redirects()
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/fidelity", repo =>
        {
            foreach (var (path, content) in Files)
            {
                repo.File(path, content);
            }
        });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store, TreePageSize = 2, TreePageSizeExpanded = 2 });

        await RunAndVerifyAsync(server, "acme/fidelity", "model", token: null);

        var requests = server.Requests.Snapshot();
        Assert.Contains(requests, r => r.Listener == "cdn" && r.StatusCode is 200 or 206);
        Assert.Contains(requests, r => r.PathAndQuery.Contains("cursor=", StringComparison.Ordinal));
        Assert.Contains(requests, r => r.PathAndQuery.StartsWith("/api/resolve-cache/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Official_js_client_downloads_a_private_dataset_with_a_token_that_never_reaches_the_cdn()
    {
        const string token = "hf_fidelity_token";
        var store = new InMemoryRepoStore().AddRepo(RepoType.Dataset, "acme/secret-data", repo =>
        {
            foreach (var (path, content) in Files)
            {
                repo.File(path, content);
            }
            repo.Settings(s => s with { Private = true, AllowedTokens = [token] });
        });
        await using var server = await HubServer.StartAsync(new HubServerOptions
        {
            Store = store,
            TreePageSize = 3,
            Users = [new HubUser(token, "reader", [])],
        });

        await RunAndVerifyAsync(server, "acme/secret-data", "dataset", token);

        var requests = server.Requests.Snapshot();
        Assert.All(requests.Where(r => r.Listener == "cdn"), r => Assert.Null(r.Authorization));
        Assert.Contains(requests, r => r.Listener == "cdn" && r.StatusCode is 200 or 206);
    }

    [Fact]
    public async Task Official_js_client_reads_metadata_existence_and_errors_as_from_the_real_hub()
    {
        const string token = "hf_probe_token";
        var weights = SyntheticContent.Create(size: 1_500_000, seed: 5);
        var store = new InMemoryRepoStore()
            .AddRepo(RepoType.Model, "acme/probe", repo => repo
                .File("config.json", "{}")
                .File("model.safetensors", weights)
                .File("sub/a.txt", "a")
                .File("sub/b.txt", "b")
                .Revision("v1.0", RevisionKind.Tag, r => r.File("config.json", "{\"old\":true}"))
                .Alias("refs/pr/1", "main"))
            .AddRepo(RepoType.Model, "acme/gated", repo => repo.File("config.json", "{}").Settings(s => s with { Gated = GatedMode.Manual }))
            .AddRepo(RepoType.Model, "acme/private", repo => repo.File("config.json", "{}").Settings(s => s with { Private = true }));
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store, Users = [new HubUser(token, "prober", [])] });
        var probe = store.GetRepo(RepoType.Model, "acme/probe");
        var main = probe.Revisions[0].Snapshot.CommitId;
        var tag = probe.Revisions.Single(r => r.Name == "v1.0").Snapshot.CommitId;

        var fidelityDir = FidelityDirectory();
        var (exitCode, stdout, stderr) = await RunNodeAsync(fidelityDir, [Path.Combine(fidelityDir, "probe.mjs"), "--endpoint", server.Endpoint.ToString(), "--token", token]);
        Assert.True(exitCode == 0, $"node exited with {exitCode}.\nstderr: {stderr}\nrequests:\n{Describe(server)}");
        using var document = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        var results = document.RootElement;
        JsonElement Ok(string name) => results.GetProperty(name).TryGetProperty("ok", out var value)
            ? value
            : throw new Xunit.Sdk.XunitException($"{name} failed: {results.GetProperty(name)}\nrequests:\n{Describe(server)}");
        (int Status, string Message) Error(string name) => results.GetProperty(name).TryGetProperty("error", out var error)
            ? (error.GetProperty("status").GetInt32(), error.GetProperty("message").GetString() + " | " + error.GetProperty("body"))
            : throw new Xunit.Sdk.XunitException($"{name} did not fail: {results.GetProperty(name)}");

        Assert.Equal("prober", Ok("whoAmI").GetString());
        Assert.Equal(main, Ok("infoHead").GetString());
        Assert.Equal(main, Ok("infoPr").GetString());
        Assert.Equal(tag, Ok("infoTag").GetString());
        var paths = Ok("pathsInfo").EnumerateArray().ToList();
        Assert.Equal(["config.json", "model.safetensors"], paths.Select(p => p.GetProperty("path").GetString()));
        Assert.Equal(weights.Sha256, paths[1].GetProperty("lfsOid").GetString());
        Assert.Equal(main, paths[0].GetProperty("commit").GetString());
        Assert.True(Ok("fileExists").GetBoolean());
        Assert.False(Ok("fileMissing").GetBoolean());
        var pointer = $"version https://git-lfs.github.com/spec/v1\noid sha256:{weights.Sha256}\nsize 1500000\n";
        Assert.Equal(pointer.Length, Ok("rawInfo").GetProperty("size").GetInt64());
        Assert.Equal($"\"{Hfdl.Core.Integrity.GitBlobHasher.Compute(System.Text.Encoding.ASCII.GetBytes(pointer))}\"", Ok("rawInfo").GetProperty("etag").GetString());
        Assert.Equal(1_500_000, Ok("resolveInfo").GetProperty("size").GetInt64());
        // fetch follows the 302 to the CDN, which has its own ETag and no X-Linked-ETag: the JS client then reports
        // the CDN's ETag, as it did against the real Hub (the fixture's etag_history), never the sha256.
        Assert.NotEqual($"\"{weights.Sha256}\"", Ok("resolveInfo").GetProperty("etag").GetString());
        Assert.Equal(JsonValueKind.Null, Ok("missingInfo").ValueKind);
        Assert.True(Ok("repoExists").GetBoolean());
        Assert.False(Ok("repoMissing").GetBoolean());
        Assert.Equal(["sub/a.txt", "sub/b.txt"], Ok("listSub").EnumerateArray().Select(e => e.GetString()));
        var (anonymousStatus, anonymousMessage) = Error("gatedAnonymous");
        Assert.Equal(401, anonymousStatus);
        Assert.Contains("Access to model acme/gated is restricted", anonymousMessage);
        var (deniedStatus, deniedMessage) = Error("gatedNotApproved");
        Assert.Equal(403, deniedStatus);
        Assert.Contains("not in the authorized list", deniedMessage);
        Assert.Equal(401, Error("privateAnonymous").Status);
    }

    private static string FidelityDirectory()
    {
        var fidelityDir = Path.Combine(RepoRoot(), "tests", "npm-fidelity");
        if (!Directory.Exists(Path.Combine(fidelityDir, "node_modules", "@huggingface", "hub")))
        {
            Assert.Fail("tests/npm-fidelity/node_modules is missing: run `npm ci --prefix tests/npm-fidelity` from the repository root, then run the tests again.");
        }
        return fidelityDir;
    }

    internal static Task RunAndVerifyAsync(HubServer server, string repoId, string repoType, string? token, IReadOnlyList<(string Path, FileContent Content)>? files = null) =>
        RunAndVerifyAsync(server.Endpoint, () => Describe(server), repoId, repoType, token, files);

    /// <summary>The same against any endpoint (a mirror in front of a hub, say); <paramref name="describe"/> tells what it was asked when it fails.</summary>
    internal static async Task RunAndVerifyAsync(Uri endpoint, Func<string> describe, string repoId, string repoType, string? token, IReadOnlyList<(string Path, FileContent Content)>? files = null)
    {
        files ??= Files;
        var fidelityDir = FidelityDirectory();
        var outDir = Directory.CreateTempSubdirectory("hfdl-npm-fidelity-").FullName;
        try
        {
            var arguments = new List<string>
            {
                Path.Combine(fidelityDir, "download-all.mjs"),
                "--endpoint", endpoint.ToString().TrimEnd('/'),
                "--repo", repoId,
                "--repo-type", repoType,
                "--out", outDir,
            };
            if (token is not null)
            {
                arguments.AddRange(["--token", token]);
            }
            var (exitCode, stdout, stderr) = await RunNodeAsync(fidelityDir, arguments);
            Assert.True(exitCode == 0, $"node exited with {exitCode}.\nstdout: {stdout}\nstderr: {stderr}\nrequests:\n{describe()}");

            using var summary = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
            var listed = summary.RootElement.GetProperty("files").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(files.Select(f => f.Path).Order(StringComparer.Ordinal).ToList(), listed);
            var snapshotDir = summary.RootElement.GetProperty("snapshot").GetString()!;
            foreach (var (path, content) in files)
            {
                var expected = content.ToArray();
                var viaDownloadFile = await File.ReadAllBytesAsync(Path.Combine(outDir, "files", path));
                var viaSnapshot = await File.ReadAllBytesAsync(Path.Combine(snapshotDir, path));
                Assert.True(expected.SequenceEqual(viaDownloadFile), $"downloadFile: {path} differs");
                Assert.True(expected.SequenceEqual(viaSnapshot), $"snapshotDownload: {path} differs");
            }
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    private static string Describe(HubServer server) =>
        string.Join('\n', server.Requests.Snapshot().Select(r => $"{r.Listener} {r.Method} {r.PathAndQuery} range={r.Range} -> {r.StatusCode} ({r.BodyBytesSent} B)"));

    internal static async Task<(int ExitCode, string Stdout, string Stderr)> RunNodeAsync(string workingDirectory, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("node download-all.mjs did not finish within 2 minutes.\n" + await stderr);
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hfdl.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Could not find Hfdl.slnx above " + AppContext.BaseDirectory);
    }
}
