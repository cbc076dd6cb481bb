namespace Hfdl.Hub.Server;

/// <summary>How a <see cref="HubServer"/> is set up. Every default is the realistic one.</summary>
public sealed record HubServerOptions
{
    /// <summary>Where the repositories come from.</summary>
    public required IRepoStore Store { get; init; }

    /// <summary>Entries per <c>/tree</c> page without <c>expand</c> (the Hub uses 1000).</summary>
    public int TreePageSize { get; init; } = 1000;

    /// <summary>Entries per <c>/tree</c> page with <c>expand=true</c> (the Hub uses 50).</summary>
    public int TreePageSizeExpanded { get; init; } = 50;

    /// <summary>The address both listeners bind to.</summary>
    public string BindAddress { get; init; } = "127.0.0.1";

    /// <summary>The hub's port; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>The CDN listener's port; 0 picks a free one.</summary>
    public int CdnPort { get; init; }

    /// <summary>The Xet CAS listener's port (reconstructions, under <see cref="CdnHostName"/>); 0 picks a free one.</summary>
    public int CasPort { get; init; }

    /// <summary>
    /// The host name in CDN URLs. It must differ from the hub's host (an IP) so that clients see another origin and
    /// drop <c>Authorization</c>, while still reaching <see cref="BindAddress"/>.
    /// </summary>
    public string CdnHostName { get; init; } = "localhost";

    /// <summary>How long a signed CDN URL stays valid (the Hub signs for an hour).</summary>
    public TimeSpan SignedUrlLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Serves both listeners over HTTPS with a self-signed certificate made at start for 127.0.0.1 and
    /// <see cref="CdnHostName"/> (see <see cref="HubServer.Certificate"/>; clients must be told to trust it).
    /// </summary>
    public bool UseHttps { get; init; }

    /// <summary>Known tokens. Any other Bearer token is invalid (401 "Invalid credentials in Authorization header").</summary>
    public IReadOnlyList<HubUser> Users { get; init; } = [];

    /// <summary>Throughput limits and faults for every repo; a repo's <see cref="RepoSettings.Faults"/> overrides them.</summary>
    public HubFaults Faults { get; init; } = HubFaults.None;

    /// <summary>
    /// Adds <c>X-Error-Code: RepoNotFound</c> to the 401 for a missing or private repo asked without a token, as the Hub
    /// once did. Off by default: recent captures carry no code there (hub-api.md §5.1, §13). huggingface_hub needs it to
    /// raise RepositoryNotFoundError against a plain-http server (§5.2).
    /// </summary>
    public bool RepoNotFoundCodeOn401 { get; init; }

    /// <summary>Serves the LFS files of every repo as Xet-backed (a single repo opts in with <see cref="RepoSettings.Xet"/>).</summary>
    public bool XetForAllRepos { get; init; }

    /// <summary>Limits and choices of the Xet CAS.</summary>
    public XetServerOptions Xet { get; init; } = new();

    /// <summary>
    /// Tokens are checked by another server before a request reaches this one (a mirror asks its upstream): any Bearer
    /// token counts as a caller's, never as invalid; <see cref="Users"/> still names the ones it knows.
    /// </summary>
    public bool TokensCheckedUpstream { get; init; }

    /// <summary>The clock for signed URL expiry, Xet token expiry and rate-limit windows; tests pass a fake one.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// The most requests <see cref="HubServer.Requests"/> keeps (the latest): every one for tests, a bound for a hub
    /// that runs for long (the standalone <c>Hfdl.Hub</c>), whose log would otherwise grow with every request.
    /// </summary>
    public int RequestLogCapacity { get; init; } = int.MaxValue;

    /// <summary>
    /// How long one write of file bytes to a client may wait for it to read before the connection is cut (null: for
    /// ever, as the test hub wants). A client that stops reading otherwise holds its connection, descriptors and
    /// buffers as long as it likes (<c>hfdl serve</c> sets it).
    /// </summary>
    public TimeSpan? ClientStallTimeout { get; init; }
}

/// <summary>
/// An account known to the server, identified by its token; <paramref name="Orgs"/> are organisation names.
/// <paramref name="IsOrganization"/>: the token is an organisation's own, and whoami answers as the Hub does for one
/// (<c>"type":"org"</c>, no <c>email</c> of its own and no <c>orgs</c>).
/// </summary>
public sealed record HubUser(string Token, string Name, IReadOnlyList<string> Orgs, bool IsOrganization = false);
