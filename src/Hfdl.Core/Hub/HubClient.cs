using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hfdl.Core.Integrity;
using Polly;

namespace Hfdl.Core.Hub;

/// <summary>What a HEAD on a resolve URL says about a file (hub-api.md §4.2).</summary>
internal sealed record FileMetadata(string Commit, string Etag, long Size, Uri Location)
{
    /// <summary>The file's Xet hash when the Hub says it is Xet-backed (<c>X-Xet-Hash</c>, hub-api.md §9), else null.</summary>
    public string? XetHash { get; init; }
}

/// <summary>
/// The Hub protocol client: repo info, tree listing, file metadata and file requests over one <see cref="HttpClient"/>.
/// Redirects are followed by hand so the token goes to the endpoint's own origin and nowhere else.
/// </summary>
internal sealed partial class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private const long MaxJsonBytes = 64L * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ResiliencePipeline _retry;

    public HubClient(HubClientOptions options)
        : this(options, CreateHttpClient(options), ownsHttp: true)
    {
    }

    internal HubClient(HubClientOptions options, HttpClient http, bool ownsHttp)
    {
        Options = options;
        _http = http;
        _ownsHttp = ownsHttp;
        _token = options.Token;
        _retry = MetadataRetry.Create(options);
    }

    private AccessToken? _token;
    private int _tokenReloaded;

    /// <summary>The token in use (it may have been reloaded after a 401).</summary>
    public AccessToken? Token => Volatile.Read(ref _token);

    /// <summary>
    /// After a 401 to a request that carried a token, reads the token source once more; true if it now gives a
    /// different token, which is then used from here on.
    /// </summary>
    private bool TryReloadToken(AccessToken used)
    {
        if (Options.ReloadToken is not { } reload || Interlocked.Exchange(ref _tokenReloaded, 1) == 1)
        {
            return false;
        }
        var fresh = reload();
        if (fresh is null || fresh.Value == used.Value)
        {
            return false;
        }
        Volatile.Write(ref _token, fresh);
        return true;
    }

    public HubClientOptions Options { get; }

    public Uri Endpoint => Options.Endpoint;

    /// <summary>
    /// The HTTP client hfdl is built on: no automatic redirects (so the token policy holds), no decompression (so
    /// lengths and ranges are exact), no cookies, a connect timeout, HTTP/1.1 so each range gets its own connection,
    /// and no overall timeout (stalls are detected per read instead).
    /// </summary>
    public static HttpClient CreateHttpClient(HubClientOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // The connect timeout runs on the injected clock (tests on a fake one), not on the handler's own timer.
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, options.ConnectTimeout, options.Time, cancellationToken),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            MaxConnectionsPerServer = options.MaxConnectionsPerServer,
            ResponseDrainTimeout = TimeSpan.FromSeconds(2),
        };
        return new HttpClient(handler)
        {
            Timeout = Timeout.InfiniteTimeSpan,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
    }

    /// <summary>
    /// Opens the TCP connection of a request as the handler's own connect does (a dual-mode socket, every address of the
    /// name in turn, no Nagle), bounded by <paramref name="timeout"/> on <paramref name="time"/>. A connection that is
    /// not open in time fails with an <see cref="IOException"/> that says so (the handler wraps it, and the Hub client
    /// tells the user it could not reach the host).
    /// </summary>
    internal static async ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (OperationCanceledException ex) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new IOException($"no connection to {endPoint.Host}:{endPoint.Port} opened within {timeout.TotalSeconds:0.#} s", new TimeoutException(ex.Message, ex));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    /// <summary>Repo info at a revision (or the default branch). Follows the Hub's 307 for renamed repos.</summary>
    /// <param name="expand">
    /// Only these fields (with <c>_id</c> and <c>id</c>), e.g. <c>sha</c>: turning a branch into a commit then costs a few
    /// bytes instead of the whole file list (megabytes for a repo of 100,000s of files). Not with <paramref name="filesMetadata"/>.
    /// </param>
    public async Task<RepoInfo> GetRepoInfoAsync(RepoType type, RepoId id, string? revision, bool filesMetadata = false, CancellationToken cancellationToken = default, string? expand = null)
    {
        var context = Context(type, id, revision, null);
        var url = HubUrls.RepoInfo(Endpoint, type, id, revision, filesMetadata ? "blobs=true" : expand is null ? null : "expand=" + Uri.EscapeDataString(expand));
        return await GetJsonAsync(url, HubJsonContext.Default.RepoInfo, context, $"the repo info of {type.Name()} '{id}'", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Branches, tags and (with <paramref name="includePullRequests"/>) PR refs.</summary>
    public async Task<RefsInfo> GetRefsAsync(RepoType type, RepoId id, bool includePullRequests = false, CancellationToken cancellationToken = default)
    {
        var url = HubUrls.Refs(Endpoint, type, id);
        if (includePullRequests)
        {
            url = new Uri(url + "?include_prs=1");
        }
        return await GetJsonAsync(url, HubJsonContext.Default.RefsInfo, Context(type, id, null, null), $"the refs of {type.Name()} '{id}'", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The account behind the token (<c>/api/whoami-v2</c>).</summary>
    public async Task<WhoAmIInfo> WhoAmIAsync(CancellationToken cancellationToken = default)
    {
        const string Request = "the account check (whoami)";
        var info = await GetJsonAsync(HubUrls.WhoAmI(Endpoint), HubJsonContext.Default.WhoAmIInfo, new HubRequestContext(RepoType.Model, null, null, null, Token, HubUrls.DisplayBase(Endpoint), Request), Request, cancellationToken).ConfigureAwait(false);
        // "name": null gets past "required": without a name there is no account to speak of.
        if (string.IsNullOrEmpty(info.Name))
        {
            throw new HubProtocolException($"The server at {HubUrls.DisplayBase(Endpoint)} answered the account check (whoami) without an account name. Check that the endpoint is a Hugging Face Hub, and try again later.");
        }
        // Only organisations with a name are kept: null entries and nameless ones have nothing to show.
        info = info with { Orgs = [.. (info.Orgs ?? []).Where(o => o?.Name is not null)] };
        return Token is { } token ? WithoutToken(info, token) : info;
    }

    /// <summary>
    /// The account with the token masked wherever the server put it: a Hub (or something posing as one) that echoed it
    /// back as the user, an organisation or the token's name had it printed in full by login and whoami, and saved as a
    /// section name of stored_tokens.
    /// </summary>
    private static WhoAmIInfo WithoutToken(WhoAmIInfo info, AccessToken token) => info with
    {
        Type = token.Redact(info.Type),
        Id = token.Redact(info.Id),
        Name = token.Redact(info.Name)!,
        FullName = token.Redact(info.FullName),
        Email = token.Redact(info.Email),
        Orgs = [.. (info.Orgs ?? []).OfType<WhoAmIOrg>().Select(o => o with { Name = token.Redact(o.Name), FullName = token.Redact(o.FullName) })],
        Auth = info.Auth is { } auth ? auth with
        {
            Type = token.Redact(auth.Type),
            AccessToken = auth.AccessToken is { } named ? named with { DisplayName = token.Redact(named.DisplayName), Role = token.Redact(named.Role) } : null,
        } : null,
    };

    /// <summary>
    /// Lists a revision's tree, following <c>Link: rel="next"</c> until the last page. Each page is retried on its
    /// own (never the listing from page one). A listing that loops back to a page it fetched, or that goes past
    /// <see cref="HubClientOptions.MaxListingEntries"/> entries or <see cref="HubClientOptions.MaxListingBytes"/> bytes,
    /// ends with an error instead of running (and growing) for ever.
    /// </summary>
    public async IAsyncEnumerable<TreeEntry> ListTreeAsync(
        RepoType type,
        RepoId id,
        string revision,
        string? path = null,
        bool recursive = true,
        bool expand = false,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var context = Context(type, id, revision, path);
        Uri? url = HubUrls.Tree(Endpoint, type, id, revision, path, recursive, expand);
        var listing = new ListingBudget(Options, $"{type.Name()} '{id}'");
        while (url is not null)
        {
            listing.StartPage(url);
            var pageUrl = url;
            var (entries, next) = await MetadataRetry.RunAsync(
                _retry,
                $"page {listing.Pages} of the file listing of {type.Name()} '{id}'",
                attemptToken => GetTreePageAsync(pageUrl, context, listing, attemptToken),
                cancellationToken).ConfigureAwait(false);
            listing.Count(entries.Count);
            // A later page that finds the commit gone: it was there for this one (see HubRequestContext.CommitSeen).
            context = context with { CommitSeen = Transfer.RepoDownloader.IsCommit(revision) };
            foreach (var entry in entries)
            {
                yield return entry;
            }
            url = next;
        }
    }

    /// <summary>One attempt at one page of a listing; its bytes count against the listing's budget only once it is read whole.</summary>
    private async Task<(List<TreeEntry> Entries, Uri? Next)> GetTreePageAsync(Uri url, HubRequestContext context, ListingBudget listing, CancellationToken cancellationToken)
    {
        using var deadline = new Deadline(Options.Time, Options.ApiTimeout, cancellationToken);
        try
        {
            using var response = await SendAsync(HttpMethod.Get, url, null, RedirectMode.FollowAll, context, deadline.Token).ConfigureAwait(false);
            await EnsureSuccessAsync(response, context, deadline.Token).ConfigureAwait(false);
            var link = response.Headers.TryGetValues("Link", out var links) ? string.Join(", ", links) : null;
            if (link?.Length > HubUrls.MaxLinkHeaderLength)
            {
                // Ignoring it would end the listing here and pass a partial repo off as the whole one.
                throw new HubProtocolException($"The Hub sent a page link of {link.Length} characters in its file listing for {listing.What}, far longer than a real one; hfdl stopped listing. Try again later or report it to the server's operator.");
            }
            var next = HubUrls.ParseNextLink(link);
            var linkBytes = link?.Length ?? 0;
            var remaining = listing.RemainingBytes - linkBytes;
            var limit = Math.Min(MaxJsonBytes, Math.Max(0, remaining));
            var (entries, bodyBytes) = await ReadJsonAsync(
                response,
                HubJsonContext.Default.ListTreeEntry,
                url,
                limit,
                () => limit < MaxJsonBytes ? listing.TooManyBytes() : TooLarge(url),
                deadline.Token).ConfigureAwait(false);
            listing.Spend(linkBytes + bodyBytes);
            return (entries ?? throw new HubProtocolException($"The Hub sent an empty file listing page for {listing.What}."), next);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(url, Options.ApiTimeout, ex);
        }
    }

    /// <summary>
    /// HEAD on the resolve URL: follows same-origin redirects (renames, resolve-cache) and stops at the first
    /// redirect to another host (the CDN), whose <c>X-Linked-*</c> headers describe the file. Each attempt is bounded by
    /// <see cref="HubClientOptions.EtagTimeout"/>, and transient failures are retried.
    /// </summary>
    /// <param name="listed">The file is in the Hub's listing at <paramref name="revision"/>: a 404 for it is then the Hub's failure, not a wrong name.</param>
    public async Task<FileMetadata> GetFileMetadataAsync(RepoType type, RepoId id, string revision, string path, bool listed = false, CancellationToken cancellationToken = default) =>
        await MetadataRetry.RunAsync(
            _retry,
            $"the metadata of '{path}'",
            attemptToken => HeadFileAsync(type, id, revision, path, listed, attemptToken),
            cancellationToken).ConfigureAwait(false);

    private async Task<FileMetadata> HeadFileAsync(RepoType type, RepoId id, string revision, string path, bool listed, CancellationToken cancellationToken)
    {
        var context = Context(type, id, revision, path) with { FileListed = listed };
        var url = HubUrls.Resolve(Endpoint, type, id, revision, path);
        using var deadline = new Deadline(Options.Time, Options.EtagTimeout, cancellationToken);
        HttpResponseMessage response;
        try
        {
            response = await SendAsync(HttpMethod.Head, url, null, RedirectMode.StopAtOtherHost, context, deadline.Token).ConfigureAwait(false);
            if (!IsRedirect(response.StatusCode) && !response.IsSuccessStatusCode)
            {
                using (response)
                {
                    await EnsureSuccessAsync(response, context, deadline.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(url, Options.EtagTimeout, ex);
        }
        using var _ = response;
        var isRedirect = IsRedirect(response.StatusCode);
        var commit = HubErrorMapper.First(response.Headers, "X-Repo-Commit")
            ?? throw new HubProtocolException($"The server at {HubUrls.DisplayBase(Endpoint)} did not send X-Repo-Commit for '{path}': it does not behave like a Hugging Face Hub. Check the endpoint.");
        var etagHeader = HubErrorMapper.First(response.Headers, "X-Linked-Etag") ?? response.Headers.ETag?.ToString()
            ?? throw new HubProtocolException($"The Hub sent no ETag for '{path}', so hfdl cannot tell which content to expect.");
        long? size = long.TryParse(HubErrorMapper.First(response.Headers, "X-Linked-Size"), out var linked) ? linked
            : !isRedirect ? response.Content.Headers.ContentLength : null;
        if (size is null)
        {
            throw new HubProtocolException($"The Hub did not say how large '{path}' is (no X-Linked-Size or Content-Length).");
        }
        FileSizes.Check(path, size.Value);
        var location = isRedirect && response.Headers.Location is { } loc ? new Uri(response.RequestMessage!.RequestUri!, loc) : response.RequestMessage!.RequestUri!;
        return new FileMetadata(commit, ContentHash.NormalizeEtag(etagHeader), size.Value, location)
        {
            XetHash = XetHashOf(response.Headers),
        };
    }

    /// <summary>
    /// The file's Xet hash when the resolve answer says it is Xet-backed: a 64-hex <c>X-Xet-Hash</c> together with a
    /// <c>Link</c> rel <c>xet-auth</c> or, from older Hubs, an <c>X-Xet-Refresh-Route</c> (hub-api.md §9, as
    /// huggingface_hub decides it); else null.
    /// </summary>
    private static string? XetHashOf(HttpResponseHeaders headers)
    {
        if (HubErrorMapper.First(headers, "X-Xet-Hash") is not { Length: 64 } hash || !ContentHash.IsHex(hash))
        {
            return null;
        }
        var links = headers.TryGetValues("Link", out var values) ? string.Join(',', values) : "";
        var authorised = links.Contains("rel=\"xet-auth\"", StringComparison.OrdinalIgnoreCase)
            || links.Contains("rel=xet-auth", StringComparison.OrdinalIgnoreCase)
            || HubErrorMapper.First(headers, "X-Xet-Refresh-Route") is { Length: > 0 };
        return authorised ? hash.ToLowerInvariant() : null;
    }

    /// <summary>
    /// Sends a file request (GET, optionally ranged) to a resolve URL and follows every redirect, with the token only
    /// on the endpoint's origin. Returns the final response with headers read; the caller streams and disposes it.
    /// </summary>
    /// <param name="sendToken">False for URLs that carry their own authorisation (signed Xet xorb ranges): no token, whatever the host.</param>
    internal async Task<HttpResponseMessage> SendFileRequestAsync(Uri url, long offset, long? lastByte, HubRequestContext context, CancellationToken cancellationToken, bool sendToken = true, string? exactRanges = null)
    {
        var response = await SendAsync(HttpMethod.Get, url, request =>
        {
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (exactRanges is not null)
            {
                // Verbatim: a signed URL authorises this header as it was signed (RangeHeaderValue would respace it).
                request.Headers.TryAddWithoutValidation("Range", exactRanges);
            }
            else if (offset > 0 || lastByte is not null)
            {
                request.Headers.Range = new RangeHeaderValue(offset, lastByte);
            }
        }, RedirectMode.FollowAll, context, cancellationToken, sendToken: sendToken).ConfigureAwait(false);
        return response;
    }

    internal HubRequestContext Context(RepoType type, RepoId? id, string? revision, string? path) =>
        new(type, id, revision, path, Token, HubUrls.DisplayBase(Endpoint)) { TokenFromClientOptions = Options.TokenFromClientOptions };

    internal enum RedirectMode
    {
        FollowAll,
        StopAtOtherHost,
    }

    internal async Task<HttpResponseMessage> SendAsync(
        HttpMethod method,
        Uri url,
        Action<HttpRequestMessage>? configure,
        RedirectMode mode,
        HubRequestContext context,
        CancellationToken cancellationToken,
        Func<HttpContent>? content = null,
        bool sendToken = true)
    {
        var current = url;
        var visited = new HashSet<string>(StringComparer.Ordinal) { current.AbsoluteUri };
        // Once a redirect has left the endpoint's origin, the token is not sent again in this chain: a CDN or any
        // other host must not be able to steer an authenticated request back to the Hub.
        var leftOrigin = false;
        for (var hop = 0; ; hop++)
        {
            leftOrigin |= !HubUrls.IsSameOrigin(current, Endpoint);
            using var request = new HttpRequestMessage(method, current);
            request.Headers.TryAddWithoutValidation("User-Agent", Options.UserAgent);
            var token = Token;
            if (token is not null && !leftOrigin && sendToken)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Value);
            }
            else
            {
                token = null;
            }
            if (content is not null)
            {
                request.Content = content();
            }
            configure?.Invoke(request);

            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                throw Unreachable(current, ex);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested || ex is TaskCanceledException { InnerException: TimeoutException })
            {
                throw new HubUnreachableException($"{HubUrls.Display(current, UriPartial.Authority)} did not answer in time. Check your network connection and the endpoint, then try again.", ex);
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && token is not null && TryReloadToken(token))
            {
                response.Dispose();
                hop--;
                continue; // The same request once more, with the token the source gives now.
            }
            if (!IsRedirect(response.StatusCode) || response.Headers.Location is null)
            {
                return response;
            }
            var target = new Uri(current, response.Headers.Location);
            if (mode == RedirectMode.StopAtOtherHost && !HubUrls.IsSameOrigin(target, current))
            {
                return response;
            }
            response.Dispose();
            if (hop + 1 > MaxRedirects)
            {
                throw new HubProtocolException($"The server redirected more than {MaxRedirects} times starting from {HubUrls.Display(url)}; hfdl stopped following. Try again later or report it to the server's operator.");
            }
            if (current.Scheme == Uri.UriSchemeHttps && target.Scheme != Uri.UriSchemeHttps)
            {
                throw new HubProtocolException($"The server redirected from https to an insecure {target.Scheme} URL ({HubUrls.Display(target, UriPartial.Authority)}); hfdl refuses to downgrade a secure connection.");
            }
            if (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps)
            {
                throw new HubProtocolException($"The server redirected to a '{target.Scheme}' URL, which hfdl does not follow.");
            }
            if (!visited.Add(target.AbsoluteUri))
            {
                throw new HubProtocolException($"The server's redirects loop (back to {HubUrls.Display(target)}); hfdl stopped following.");
            }
            if (response.StatusCode == HttpStatusCode.SeeOther)
            {
                method = method == HttpMethod.Head ? HttpMethod.Head : HttpMethod.Get;
                content = null;
            }
            current = target;
        }
    }

    internal static HubUnreachableException Unreachable(Uri url, HttpRequestException ex)
    {
        var host = HubUrls.Display(url, UriPartial.Authority);
        var reason = ex.InnerException switch
        {
            SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain } => "the host name could not be resolved",
            SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "the connection was refused",
            SocketException socket => socket.Message,
            AuthenticationException auth when auth.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase) =>
                "the TLS certificate could not be validated (hfdl never skips this check; install the CA in the system store or set SSL_CERT_FILE)",
            // No certificate was even looked at: the server did not speak TLS (an https:// endpoint that is plain HTTP).
            AuthenticationException auth => $"the TLS handshake failed ({auth.Message.TrimEnd('.')}); if the server speaks plain HTTP, its URL starts with http://, not https://",
            IOException io => io.Message,
            _ => ex.Message,
        };
        // A name that does not resolve, a closed port or a bad certificate is a setup problem that waiting will not fix.
        var transient = ex.InnerException is not (SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.ConnectionRefused } or AuthenticationException);
        // .NET's messages end with their own period ("... Connection reset by peer."): one is enough.
        reason = reason.TrimEnd().TrimEnd('.');
        // Through a proxy (HTTPS_PROXY and its kin), a refusal or a bad name is usually the proxy's: say which it was.
        var proxy = ProxyFor(url);
        var message = proxy is null
            ? $"Could not reach {host}: {reason}. Check your network connection and the endpoint, then try again."
            : $"Could not reach {host} through the proxy {HubUrls.Display(proxy, UriPartial.Authority)} (set by HTTPS_PROXY, HTTP_PROXY or ALL_PROXY): {reason}. Check that the proxy runs and can reach the endpoint (or set NO_PROXY for it), then try again.";
        return new HubUnreachableException(message, ex)
        {
            IsTransient = transient,
        };
    }

    /// <summary>The proxy .NET sends a request for <paramref name="url"/> through (from the environment), if any.</summary>
    private static Uri? ProxyFor(Uri url)
    {
        try
        {
            return HttpClient.DefaultProxy.GetProxy(url) is { } proxy && proxy != url ? proxy : null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or UriFormatException or ArgumentException)
        {
            return null;
        }
    }

    internal static bool IsRedirect(HttpStatusCode status) => (int)status is 301 or 302 or 303 or 307 or 308;

    internal static async Task EnsureSuccessAsync(HttpResponseMessage response, HubRequestContext context, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await HubErrorMapper.CreateAsync(response, context, cancellationToken).ConfigureAwait(false);
        }
    }

    private Task<T> GetJsonAsync<T>(Uri url, JsonTypeInfo<T> typeInfo, HubRequestContext context, string request, CancellationToken cancellationToken) =>
        MetadataRetry.RunAsync(_retry, request, async attemptToken =>
        {
            using var deadline = new Deadline(Options.Time, Options.ApiTimeout, attemptToken);
            try
            {
                using var response = await SendAsync(HttpMethod.Get, url, null, RedirectMode.FollowAll, context, deadline.Token).ConfigureAwait(false);
                await EnsureSuccessAsync(response, context, deadline.Token).ConfigureAwait(false);
                return await ReadJsonAsync(response, typeInfo, url, deadline.Token).ConfigureAwait(false)
                    ?? throw new HubProtocolException($"The Hub answered {HubUrls.Display(url)} with an empty body.");
            }
            catch (OperationCanceledException ex) when (!attemptToken.IsCancellationRequested)
            {
                throw TimedOut(url, Options.ApiTimeout, ex);
            }
        }, cancellationToken);

    /// <summary>An attempt's timeout fired (the caller did not cancel): report it as the network problem it is.</summary>
    private static HubUnreachableException TimedOut(Uri url, TimeSpan limit, OperationCanceledException ex) =>
        new($"{HubUrls.Display(url, UriPartial.Authority)} did not answer in time (limit {limit.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s). Check your network connection and the endpoint, then try again.", ex);

    internal async Task<T?> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> typeInfo, Uri url, CancellationToken cancellationToken) =>
        (await ReadJsonAsync(response, typeInfo, url, MaxJsonBytes, () => TooLarge(url), cancellationToken).ConfigureAwait(false)).Value;

    /// <summary>Reads a JSON body of at most <paramref name="limit"/> bytes (else <paramref name="tooLarge"/>); returns the value and the body's length.</summary>
    private static async Task<(T? Value, long Bytes)> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> typeInfo, Uri url, long limit, Func<HfdlException> tooLarge, CancellationToken cancellationToken)
    {
        using var buffer = await ReadBodyAsync(response, url, limit, tooLarge, cancellationToken).ConfigureAwait(false);
        try
        {
            return (JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), typeInfo), buffer.Length);
        }
        catch (JsonException ex)
        {
            // The parser's own text (position, .NET type names) stays on the inner exception.
            throw new HubProtocolException($"The Hub sent malformed JSON for {HubUrls.Display(url)}; try again later, and if it persists, check that the endpoint is a Hugging Face Hub.", ex);
        }
    }

    /// <summary>Reads a body of at most <paramref name="limit"/> bytes (else <paramref name="tooLarge"/>); a cut connection is reported as such.</summary>
    private static async Task<MemoryStream> ReadBodyAsync(HttpResponseMessage response, Uri url, long limit, Func<HfdlException> tooLarge, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > limit)
        {
            throw tooLarge();
        }
        var buffer = new MemoryStream();
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var chunk = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    throw tooLarge();
                }
                buffer.Write(chunk, 0, read);
            }
            return buffer;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            buffer.Dispose();
            throw new HubUnreachableException($"The connection to {HubUrls.Display(url, UriPartial.Authority)} broke while hfdl was reading {HubUrls.Display(url)}; check your network connection, then try again.", ex);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static HubProtocolException TooLarge(Uri url) =>
        new($"The Hub's answer for {HubUrls.Display(url)} is larger than {MaxJsonBytes / (1024 * 1024)} MiB; hfdl refuses to read it.");

    internal static string Describe(HttpResponseMessage response) =>
        new StringBuilder().Append((int)response.StatusCode).Append(' ').Append(response.ReasonPhrase).ToString();
}
