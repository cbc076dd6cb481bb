using Hfdl.Core.Transfer;

namespace Hfdl.Hub.Mirror;

/// <summary>How a <see cref="MirrorServer"/> is set up (<c>hfdl serve</c>). Every default is the one a site wants.</summary>
public sealed record MirrorOptions
{
    /// <summary>The Hub the mirror fetches from (huggingface.co, or another mirror).</summary>
    public required Uri Upstream { get; init; }

    /// <summary>The Hugging Face cache the mirror serves and fills (<c>models--org--name/blobs</c>, <c>snapshots</c>, <c>refs</c>).</summary>
    public required string Store { get; init; }

    /// <summary>The address to listen on; anything beyond loopback must be asked for.</summary>
    public string BindAddress { get; init; } = "127.0.0.1";

    /// <summary>The port; 0 picks a free one.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The most bytes of blobs the store may hold; the least recently used are evicted past it. Null: no bound.</summary>
    public long? MaxSize { get; init; }

    /// <summary>Never ask the upstream: serve only what is stored.</summary>
    public bool Offline { get; init; }

    /// <summary>
    /// How long a write of file bytes may wait for a client that does not read before its connection is cut: a client
    /// reading under about 2 KB/s (a 256 KiB write in 120 s) has stopped, and must not hold the mirror's connections.
    /// </summary>
    public TimeSpan ClientStallTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How long a branch or tag name stays resolved to the commit the upstream gave (then it is asked again).</summary>
    public TimeSpan RevisionTtl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the upstream's yes to a token for a private or gated repo is remembered (keyed by a hash of the token).</summary>
    public TimeSpan AccessTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How each upstream transfer runs: connections, segments, retries, the speed test (the engine of <c>hfdl download</c>).</summary>
    public DownloadOptions Download { get; init; } = new();

    /// <summary>
    /// Timeouts and retries of the upstream calls; its endpoint and token are ignored (the upstream is
    /// <see cref="Upstream"/>, the token each client's own). Metadata calls are retried once by default: a client
    /// waiting on the mirror should hear of an upstream problem soon, and its own client retries anyway.
    /// </summary>
    internal Core.Hub.HubClientOptions? UpstreamClient { get; init; }

    /// <summary>Where the structured log goes (one JSON object per line); null for none. Never holds a token.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>The clock of the time-to-lives; tests pass a fake one (transfers keep <see cref="DownloadOptions.Time"/>).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
