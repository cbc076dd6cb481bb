namespace Hfdl.Core.Hub;

/// <summary>How <see cref="HubClient"/> talks to a Hub. Immutable; change with <c>with</c>.</summary>
public sealed record HubClientOptions
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

    /// <summary>Time allowed to open a TCP (and TLS) connection. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time allowed for a whole API call (repo info, one tree page). Default 60 s.</summary>
    public TimeSpan ApiTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a transfer may deliver no bytes before it counts as stalled (huggingface_hub's
    /// <c>HF_HUB_DOWNLOAD_TIMEOUT</c>, default 10 s there; 30 s here, since a stalled range is retried anyway).
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Upper bound of parallel connections to one host.</summary>
    public int MaxConnectionsPerServer { get; init; } = 256;

    public string UserAgent { get; init; } = $"hfdl/{typeof(HubClientOptions).Assembly.GetName().Version?.ToString(3) ?? "0"} dotnet/{Environment.Version}";
}
