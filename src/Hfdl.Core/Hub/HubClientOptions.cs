using Hfdl.Core.Progress;

namespace Hfdl.Core.Hub;

/// <summary>How <see cref="HubClient"/> talks to a Hub. Immutable; change with <c>with</c>.</summary>
internal sealed record HubClientOptions
{
    /// <summary>The Hub's base URL, e.g. https://huggingface.co. Tokens are sent to this origin only.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>The token to send to the endpoint, or null to send none (public repos).</summary>
    public AccessToken? Token { get; init; }

    /// <summary>
    /// Reads the token source again (the token file may have been refreshed by <c>hfdl login</c> while a long download
    /// ran). Called at most once per client, when the Hub answers 401 to a request that carried a token.
    /// </summary>
    public Func<AccessToken?>? ReloadToken { get; init; }

    /// <summary>
    /// The token is given by the caller's <c>HfdlClientOptions.Token</c>, not read from <c>HF_TOKEN</c> or the token file:
    /// a repo that needs one says to give it there, not to log in (which such a client would never read).
    /// </summary>
    public bool TokenFromClientOptions { get; init; }

    /// <summary>Time allowed to open a TCP (and TLS) connection. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time allowed for one attempt of an API call (repo info, one tree page, refs, whoami). Default 60 s.</summary>
    public TimeSpan ApiTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Time allowed for one attempt of the metadata HEAD on a resolve URL (huggingface_hub's <c>HF_HUB_ETAG_TIMEOUT</c>,
    /// which bounds the same request; default 10 s there and here).
    /// </summary>
    public TimeSpan EtagTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Metadata calls (repo info, every tree page, refs, whoami, the resolve HEAD) tried again after a 429, a 408, a
    /// 500/502/503/504, a timeout or a broken connection, as huggingface_hub's <c>http_backoff</c> does. Default 5.
    /// </summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First back-off delay of a metadata call; doubles with jitter up to <see cref="MaxRetryDelay"/>. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Longest back-off delay of a metadata call. Default 8 s. A <c>RateLimit</c> or <c>Retry-After</c> that asks
    /// for longer is obeyed, up to <see cref="RateLimitHeaders.MaxRetryDelay"/>.
    /// </summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Told about each retry of a metadata call, before its back-off starts; null to tell no one.</summary>
    public IProgress<RequestRetrying>? Retries { get; init; }

    /// <summary>
    /// The most entries one tree listing may have, over all its pages (a page counts as at least one entry). The
    /// largest real repos have a few million files; a listing that goes past this ends with an error instead of
    /// growing without end. Default 10,000,000.
    /// </summary>
    public long MaxListingEntries { get; init; } = 10_000_000;

    /// <summary>
    /// The most bytes of JSON (and <c>Link</c> headers) one tree listing may take, over all its pages. Default 4 GiB,
    /// about twice what <see cref="MaxListingEntries"/> entries take.
    /// </summary>
    public long MaxListingBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>The clock of the back-off delays and the API timeouts; tests pass a fake one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// How long a transfer may deliver no bytes before it counts as stalled (huggingface_hub's
    /// <c>HF_HUB_DOWNLOAD_TIMEOUT</c>, default 10 s there; 30 s here, since a stalled range is retried anyway).
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Upper bound of parallel connections to one host.</summary>
    public int MaxConnectionsPerServer { get; init; } = 256;

    public string UserAgent { get; init; } = $"{UserAgentProduct}/{typeof(HubClientOptions).Assembly.GetName().Version?.ToString(3) ?? "0"} dotnet/{Environment.Version}";

    /// <summary>The product token that starts hfdl's <see cref="UserAgent"/> (<c>hfdl/1.2.3 dotnet/10.0.0</c>).</summary>
    internal const string UserAgentProduct = "hfdl";

    /// <summary>Whether <paramref name="userAgent"/> is hfdl's (its product token is <see cref="UserAgentProduct"/>).</summary>
    internal static bool IsHfdlUserAgent(string? userAgent) =>
        userAgent is not null && userAgent.StartsWith(UserAgentProduct + "/", StringComparison.Ordinal);
}
