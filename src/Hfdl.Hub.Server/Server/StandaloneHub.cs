using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Hfdl.Hub.Server;

/// <summary>
/// The standalone program: serves a folder of repositories until stopped.
/// <c>Hfdl.Hub --root DIR [--urls http://127.0.0.1:PORT] [--bind ADDR] [--cdn-port N] [--cdn-host NAME]
/// [--cas-port N] [--tree-page-size N] [--conn-rate-mbps X] [--global-rate-mbps X] [--latency-ms N] [--static-repos] [--xet]</c>, or
/// <c>Hfdl.Hub --make-sample DIR</c> to write a sample folder to try it with.
/// </summary>
internal static class StandaloneHub
{
    private const string Usage =
        "usage: Hfdl.Hub --root DIR [--urls http://127.0.0.1:PORT] [--bind ADDR] [--cdn-port N] [--cas-port N] [--cdn-host NAME] [--tree-page-size N] [--conn-rate-mbps X] [--global-rate-mbps X] [--latency-ms N] [--https] [--static-repos] [--xet] | --make-sample DIR";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        StandaloneArguments parsed;
        try
        {
            parsed = StandaloneArguments.Parse(args);
        }
        catch (FormatException ex)
        {
            await error.WriteLineAsync($"Hfdl.Hub: {ex.Message} ({Usage})").ConfigureAwait(false);
            return 2;
        }

        if (parsed.MakeSample is { } sampleDir)
        {
            SampleRepos.Write(sampleDir);
            await output.WriteLineAsync($"Wrote a sample hub folder to {Path.GetFullPath(sampleDir)}; serve it with: --root {sampleDir}").ConfigureAwait(false);
            return 0;
        }

        var root = parsed.Root!;
        if (!Directory.Exists(root))
        {
            await error.WriteLineAsync($"Hfdl.Hub: the root folder '{root}' does not exist; create it or run --make-sample {root} first.").ConfigureAwait(false);
            return 2;
        }
        IReadOnlyList<HubUser> users;
        try
        {
            users = ReadUsers(Path.Combine(root, "hub.json"));
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or InvalidOperationException or KeyNotFoundException)
        {
            await error.WriteLineAsync($"Hfdl.Hub: {Path.Combine(root, "hub.json")} is not valid: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        var options = new HubServerOptions
        {
            Store = parsed.StaticRepos ? new StaticRepoStore(new FolderRepoStore(root)) : new FolderRepoStore(root),
            BindAddress = parsed.Bind,
            Port = parsed.Port,
            CdnPort = parsed.CdnPort,
            CasPort = parsed.CasPort,
            CdnHostName = parsed.CdnHost,
            XetForAllRepos = parsed.Xet,
            RepoNotFoundCodeOn401 = parsed.RepoNotFoundCode,
            TreePageSize = parsed.TreePageSize ?? 1000,
            UseHttps = parsed.Https,
            Users = users,
            RequestLogCapacity = 10_000, // runs for as long as the user likes: the log must not grow for ever
            Faults = HubFaults.None with
            {
                PerConnectionBytesPerSecond = parsed.ConnectionBytesPerSecond,
                GlobalBytesPerSecond = parsed.GlobalBytesPerSecond,
                Latency = parsed.Latency,
            },
        };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        await using var server = await HubServer.StartAsync(options, stop.Token).ConfigureAwait(false);
        await output.WriteLineAsync($"Hfdl.Hub serving {Path.GetFullPath(root)} at {server.Endpoint.ToString().TrimEnd('/')} (CDN {server.CdnEndpoint.ToString().TrimEnd('/')}, Xet CAS {server.CasEndpoint.ToString().TrimEnd('/')}{(parsed.Xet ? "; every repo's LFS files are Xet-backed" : "")}{(System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(options.BindAddress)) ? "" : $"; listening on {options.BindAddress}, beyond this machine")}); Ctrl+C stops it."
            + (server.Certificate is { } certificate ? $" Self-signed certificate SHA-1 {certificate.GetCertHashString()}." : "")).ConfigureAwait(false);
        await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return 0;
    }

    private static IReadOnlyList<HubUser> ReadUsers(string file)
    {
        if (!File.Exists(file))
        {
            return [];
        }
        using var document = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (!document.RootElement.TryGetProperty("users", out var users))
        {
            return [];
        }
        return [.. users.EnumerateArray().Select(u => new HubUser(
            u.GetProperty("token").GetString() ?? throw new InvalidDataException("a user has no token"),
            u.GetProperty("name").GetString() ?? throw new InvalidDataException("a user has no name"),
            u.TryGetProperty("orgs", out var orgs) ? [.. orgs.EnumerateArray().Select(o => o.GetString() ?? "")] : [],
            u.TryGetProperty("type", out var type) && type.GetString() == "org"))];
    }
}

internal sealed record StandaloneArguments
{
    public string? Root { get; init; }

    public string? MakeSample { get; init; }

    public string Bind { get; init; } = "127.0.0.1";

    public int Port { get; init; }

    public int CdnPort { get; init; }

    public int CasPort { get; init; }

    public string CdnHost { get; init; } = "localhost";

    public int? TreePageSize { get; init; }

    public long? ConnectionBytesPerSecond { get; init; }

    public long? GlobalBytesPerSecond { get; init; }

    public TimeSpan Latency { get; init; }

    public bool Https { get; init; }
    /// <summary>Scan each repo once and keep it (benchmarks: no per-request rescan; changes need a restart).</summary>
    public bool StaticRepos { get; init; }

    /// <summary>Serve every repo's LFS files as Xet-backed (<see cref="HubServerOptions.XetForAllRepos"/>).</summary>
    public bool Xet { get; init; }

    /// <summary>See <see cref="HubServerOptions.RepoNotFoundCodeOn401"/>.</summary>
    public bool RepoNotFoundCode { get; init; }

    /// <summary>Parses the command line; a <see cref="FormatException"/> carries the one-line reason.</summary>
    public static StandaloneArguments Parse(string[] args)
    {
        var result = new StandaloneArguments();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{name} needs a value");
            result = name switch
            {
                "--root" => result with { Root = Value() },
                "--make-sample" => result with { MakeSample = Value() },
                "--bind" => result with { Bind = Address(Value(), name) },
                "--urls" => WithUrl(result, Value()),
                "--cdn-port" => result with { CdnPort = Int(Value(), name, 0, 65535) },
                "--cas-port" => result with { CasPort = Int(Value(), name, 0, 65535) },
                "--cdn-host" => result with { CdnHost = Value() },
                "--tree-page-size" => result with { TreePageSize = Int(Value(), name, 1, 100_000) },
                "--conn-rate-mbps" => result with { ConnectionBytesPerSecond = Rate(Value(), name) },
                "--global-rate-mbps" => result with { GlobalBytesPerSecond = Rate(Value(), name) },
                "--latency-ms" => result with { Latency = TimeSpan.FromMilliseconds(Int(Value(), name, 0, 600_000)) },
                "--https" => result with { Https = true },
                "--static-repos" => result with { StaticRepos = true },
                "--xet" => result with { Xet = true },
                "--repo-not-found-code" => result with { RepoNotFoundCode = true },
                "--help" or "-h" => throw new FormatException("help requested"),
                _ => throw new FormatException($"unknown option '{name}'"),
            };
        }
        if (result.Root is null && result.MakeSample is null)
        {
            throw new FormatException("--root DIR is required");
        }
        return result;
    }

    private static StandaloneArguments WithUrl(StandaloneArguments current, string text)
    {
        var first = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        if (!Uri.TryCreate(first, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new FormatException($"--urls must be an http(s) URL such as http://127.0.0.1:8080, not '{text}'");
        }
        var host = url.Host.Trim('[', ']');
        return current with
        {
            Bind = host == "localhost" ? "127.0.0.1" : Address(host, "--urls"),
            Port = url.Port,
            Https = current.Https || url.Scheme == Uri.UriSchemeHttps,
        };
    }

    private static string Address(string text, string name) =>
        IPAddress.TryParse(text, out _) ? text : throw new FormatException($"{name} must be an IP address such as 127.0.0.1, not '{text}'");

    private static int Int(string text, string name, int min, int max) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new FormatException($"{name} must be a whole number from {min} to {max}, not '{text}'");

    /// <summary>Megabits per second (decimal, like network speeds) to bytes per second.</summary>
    private static long Rate(string text, string name) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var mbps) && mbps > 0 && double.IsFinite(mbps)
            ? Math.Max(1, (long)(mbps * 1_000_000 / 8))
            : throw new FormatException($"{name} must be a positive number of megabits per second, not '{text}'");
}

/// <summary>
/// Keeps what a store found for each repo id, so a folder store scans and indexes a repo once instead of on every
/// request: for benchmarks, where the hub's per-request rescan of thousands of files would be what is measured.
/// </summary>
internal sealed class StaticRepoStore(IRepoStore inner) : IRepoStore
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(RepoType, string), Lazy<HostedRepo?>> _repos = new();

    public HostedRepo? FindRepo(RepoType type, string repoId) =>
        _repos.GetOrAdd((type, repoId), key => new Lazy<HostedRepo?>(() => inner.FindRepo(key.Item1, key.Item2))).Value;
}

/// <summary>The sample folder of <c>--make-sample</c>: one model with small files, a nested folder and an LFS file.</summary>
internal static class SampleRepos
{
    public const string SampleToken = "hf_sample_token_for_local_tests";

    public static void Write(string root)
    {
        var repo = Path.Combine(root, "models", "sample", "tiny-model");
        Directory.CreateDirectory(Path.Combine(repo, "tokenizer"));
        File.WriteAllText(Path.Combine(repo, "config.json"), "{\n  \"architectures\": [\"TinyModel\"],\n  \"hidden_size\": 8\n}\n");
        File.WriteAllText(Path.Combine(repo, "README.md"), "# sample/tiny-model\n\nA sample repository served by Hfdl.Hub for offline try-outs.\n");
        File.WriteAllText(Path.Combine(repo, "tokenizer", "vocab.txt"), string.Join('\n', Enumerable.Range(0, 100).Select(i => "token" + i.ToString(CultureInfo.InvariantCulture))) + "\n");
        using (var weights = File.Create(Path.Combine(repo, "model.safetensors")))
        {
            SyntheticContent.Create(12L * 1024 * 1024, seed: 2024).CopyToAsync(weights).GetAwaiter().GetResult();
        }
        File.WriteAllText(Path.Combine(root, "models", "sample", "tiny-model.hub.json"),
            "{\n  \"revisions\": { \"v1.0\": { \"kind\": \"tag\", \"sameAs\": \"main\" } }\n}\n");
        File.WriteAllText(Path.Combine(root, "hub.json"),
            "{\n  \"users\": [ { \"token\": \"" + SampleToken + "\", \"name\": \"sample\", \"orgs\": [] } ]\n}\n");
    }
}
