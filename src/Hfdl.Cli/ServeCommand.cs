using System.CommandLine;
using System.Globalization;
using System.Net;
using Hfdl.Core.Hub;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Mirror;

namespace Hfdl.Cli;

/// <summary><c>hfdl serve</c>: a mirror of the Hub for a site (Hfdl.Hub.Server's <see cref="MirrorServer"/>).</summary>
internal static class ServeCommand
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static Command Build(CliContext context)
    {
        var upstream = new Option<string?>("--upstream")
        {
            Description = "The Hub to mirror (default: HF_ENDPOINT, else https://huggingface.co); another hfdl serve works too.",
            HelpName = "URL",
        };
        var storeOption = new Option<string?>("--store")
        {
            Description = "The Hugging Face cache to serve and fill (default: HF_HUB_CACHE, else $HF_HOME/hub): a cache written by hfdl --hf-cache or huggingface_hub is served as it is.",
            HelpName = "DIR",
        }.Folder();
        var urls = new Option<string>("--urls")
        {
            Description = "Where to listen. Only this machine can connect by default; to serve a site, name its address or all of them (http://0.0.0.0:8080).",
            DefaultValueFactory = _ => DefaultUrl,
            HelpName = "URL",
        };
        var maxSize = new Option<string?>("--max-size")
        {
            Description = "The most the store's blobs may take (e.g. 500GB, 2TiB, or bytes); the least recently used are evicted past it (default: no bound).",
            HelpName = "SIZE",
        };
        var offline = new Option<bool>("--offline")
        {
            Description = "Never ask the upstream: serve only what is stored (also with HF_HUB_OFFLINE). Private or gated repos are then refused: no token can be checked.",
        };
        var revisionTtl = new Option<double>("--revision-ttl")
        {
            Description = "Seconds a branch or tag name stays resolved to the commit the upstream gave; commit ids never need the upstream once stored.",
            DefaultValueFactory = _ => 30,
            HelpName = "SECONDS",
        }.Within(0, DownloadCommand.SecondsInAYear, "a number of seconds from 0 to 31536000 (a year)");
        var accessTtl = new Option<double>("--access-ttl")
        {
            Description = "Seconds the upstream's yes to a token for a private or gated repo (by a keyed hash of the token, never the token), and its word that a repo is public, are remembered.",
            DefaultValueFactory = _ => 300,
            HelpName = "SECONDS",
        }.Within(0, DownloadCommand.SecondsInAYear, "a number of seconds from 0 to 31536000 (a year)");
        var threads = new Option<int?>("--threads", "-t")
        {
            Description = $"The most connections one upstream transfer may use (default: {DownloadOptions.DefaultThreads(Environment.ProcessorCount)} on this machine); the adaptive controller uses as many as keep paying.",
            HelpName = "N",
        }.Within(1, 256, "a whole number of connections from 1 to 256");
        var command = new Command("serve", "Serve a mirror of the Hub for a site: clients set HF_ENDPOINT to it, and each file crosses from the upstream once, however many machines ask.\n\n" +
            "Examples:\n" +
            "  hfdl serve                                         mirror huggingface.co into the HF cache, on http://127.0.0.1:8080\n" +
            "  hfdl serve --urls http://0.0.0.0:8080 --max-size 2TB  for the whole site, the store bounded\n" +
            "  HF_ENDPOINT=http://mirror:8080 hfdl download org/model   on a client");
        command.Options.Add(upstream);
        command.Options.Add(storeOption);
        command.Options.Add(urls);
        command.Options.Add(maxSize);
        command.Options.Add(offline);
        command.Options.Add(revisionTtl);
        command.Options.Add(accessTtl);
        command.Options.Add(threads);
        command.SetAction(async (result, cancellationToken) =>
        {
            var environment = context.Environment;
            var upstreamUrl = HubConnectionOptions.ResolveEndpoint(result.GetValue(upstream), environment);
            var store = Path.GetFullPath(environment.ExpandPath(result.GetValue(storeOption)) ?? environment.HubCache);
            var (address, port) = ParseUrl(result.GetValue(urls)!);
            var download = new DownloadOptions();
            if (result.GetValue(threads) is { } count)
            {
                download = download with { Threads = count };
            }
            var options = new MirrorOptions
            {
                Upstream = upstreamUrl,
                Store = store,
                BindAddress = address,
                Port = port,
                MaxSize = result.GetValue(maxSize) is { } size ? ParseSize(size) : null,
                Offline = result.GetValue(offline) || environment.Offline,
                RevisionTtl = TimeSpan.FromSeconds(result.GetValue(revisionTtl)),
                AccessTtl = TimeSpan.FromSeconds(result.GetValue(accessTtl)),
                Download = download,
                UpstreamClient = environment.Apply(new HubClientOptions { Endpoint = upstreamUrl, MaxRetries = 1 }),
                Log = context.Out,
            };
            MirrorServer mirror;
            try
            {
                mirror = await MirrorServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
            {
                throw new HfdlException($"hfdl serve could not listen on {address}:{port} ({ex.Message}). Choose another address or port with --urls.", ex);
            }
            await using (mirror.ConfigureAwait(false))
            {
                var endpoint = mirror.Endpoint.ToString().TrimEnd('/');
                if (IsSelf(upstreamUrl, mirror.Endpoint))
                {
                    throw new UsageException($"The upstream {HubUrls.DisplayBase(upstreamUrl)} is this mirror itself (HF_ENDPOINT points at it?). Give the Hub to mirror with --upstream.");
                }
                // Offline because of a variable set long ago is easy to miss: the line says which one, so the mirror's
                // refusals of everything it has not stored are not a mystery.
                var offlineBecause = result.GetValue(offline) ? "--offline" : string.Join(" and ", environment.OfflineVariables) + " set";
                context.Error.WriteLine($"hfdl serve: mirroring {(options.Offline ? $"nothing (offline, {offlineBecause}: the store only)" : HubUrls.DisplayBase(upstreamUrl))} from {store}"
                    + (options.MaxSize is { } bound ? $" (at most {Units.Bytes(bound)})" : "")
                    + $" at {endpoint}. On each client: HF_ENDPOINT={endpoint}. Ctrl+C stops it.");
                if (!IPAddress.IsLoopback(IPAddress.Parse(address)))
                {
                    context.Error.WriteLine($"hfdl serve: listening beyond this machine ({address}): anyone who can reach it can read public repos and what the store holds of them; private and gated repos still need a token the upstream accepts.");
                }
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    context.Error.WriteLine("hfdl serve: stopping; upstream transfers in flight are journaled and resume at the next start.");
                }
            }
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    private static bool IsSelf(Uri upstream, Uri endpoint) =>
        upstream.Port == endpoint.Port
        && (upstream.IsLoopback || string.Equals(upstream.Host, endpoint.Host, StringComparison.OrdinalIgnoreCase))
        && IPAddress.TryParse(endpoint.Host.Trim('[', ']'), out var bound) && (IPAddress.IsLoopback(bound) || upstream.IsLoopback);

    /// <summary><c>http://HOST:PORT</c> to an address to bind; <c>localhost</c> is 127.0.0.1, <c>*</c> and <c>+</c> every address.</summary>
    internal static (string Address, int Port) ParseUrl(string text)
    {
        var normalized = text.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (text.Contains(';', StringComparison.Ordinal) || !Uri.TryCreate(normalized, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttp
            || url.AbsolutePath != "/" || url.Query.Length > 0)
        {
            throw new UsageException($"--urls must be one http URL such as {DefaultUrl} or http://0.0.0.0:8080, not '{text}' (put a TLS proxy in front of the mirror for https).");
        }
        var host = url.Host.Trim('[', ']');
        if (host == "localhost")
        {
            host = "127.0.0.1";
        }
        if (!IPAddress.TryParse(host, out _))
        {
            throw new UsageException($"--urls must name an IP address to listen on (or localhost), not '{url.Host}'.");
        }
        return (host, url.Port);
    }

    /// <summary>A size with an optional unit: KB, MB, GB, TB (powers of 1000, as everywhere in hfdl) or KiB, MiB, GiB, TiB.</summary>
    internal static long ParseSize(string text)
    {
        var trimmed = text.Trim();
        var split = trimmed.Length;
        while (split > 0 && char.IsAsciiLetter(trimmed[split - 1]))
        {
            split--;
        }
        var unit = trimmed[split..].ToUpperInvariant();
        long? factor = unit switch
        {
            "" or "B" => 1,
            "K" or "KB" => 1000,
            "M" or "MB" => 1000L * 1000,
            "G" or "GB" => 1000L * 1000 * 1000,
            "T" or "TB" => 1000L * 1000 * 1000 * 1000,
            "KIB" => 1L << 10,
            "MIB" => 1L << 20,
            "GIB" => 1L << 30,
            "TIB" => 1L << 40,
            _ => null,
        };
        if (factor is null || !double.TryParse(trimmed[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            || !double.IsFinite(number) || number <= 0 || number * factor.Value >= long.MaxValue / 2)
        {
            throw new UsageException($"--max-size must be a positive size such as 500GB, 2TiB or a number of bytes, not '{text}'.");
        }
        return (long)(number * factor.Value);
    }
}
