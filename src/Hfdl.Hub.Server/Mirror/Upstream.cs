using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hfdl.Hub.Server;
using Microsoft.Extensions.Primitives;

namespace Hfdl.Hub.Mirror;

/// <summary>
/// The clients the mirror asks its upstream with: one per token (and one without), all on one connection pool. A
/// client's token is sent to the upstream's origin only (<see cref="HubClient"/>'s rule), never to a CDN, never logged.
/// </summary>
internal sealed class UpstreamClients : IDisposable
{
    private readonly HubClientOptions _template;
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, HubClient> _byToken = new(StringComparer.Ordinal);

    public UpstreamClients(Uri upstream, HubClientOptions? template)
    {
        _template = (template ?? new HubClientOptions { Endpoint = upstream, MaxRetries = 1 }) with { Endpoint = upstream, Token = null, ReloadToken = null };
        _http = HubClient.CreateHttpClient(_template);
        Anonymous = new HubClient(_template, _http, ownsHttp: false);
    }

    public HttpClient Http => _http;

    public HubClientOptions Options => _template;

    public HubClient Anonymous { get; }

    /// <summary>The client for a caller's token (null: none), keyed by <paramref name="tokenHash"/>.</summary>
    public HubClient For(string? token, string? tokenHash)
    {
        if (token is null || tokenHash is null)
        {
            return Anonymous;
        }
        if (_byToken.Count > 10_000)
        {
            _byToken.Clear();
        }
        return _byToken.GetOrAdd(tokenHash, _ => new HubClient(_template with { Token = new AccessToken(token, TokenOrigin.CommandLine) }, _http, ownsHttp: false));
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>How a passed-through JSON answer is changed on its way to the client.</summary>
internal enum BodyChange
{
    None,

    /// <summary>Repo info: <c>xetEnabled</c> says false (the mirror serves plain HTTP only).</summary>
    RepoInfo,

    /// <summary>Tree and paths-info entries: no <c>xetHash</c> (so no client goes around the mirror to a CAS).</summary>
    Entries,
}

/// <summary>
/// Passes a request through to the upstream as it came (path and query exactly, the client's token, its body) and the
/// answer back as the upstream gave it: status, the Hub's headers and body. Two things change: the upstream's own URLs
/// (tree pages' <c>Link</c>, absolute redirects) point at the mirror, and Xet hints are dropped, since clients must fetch
/// through the mirror.
/// </summary>
internal sealed partial class UpstreamProxy(Uri upstream, HttpClient http, TimeSpan timeout)
{
    private const long MaxChangedBody = 256L * 1024 * 1024;
    private const long MaxRequestBody = 16L * 1024 * 1024;

    /// <summary>
    /// The most bytes of request bodies held at once, over all clients: each is read whole before it is sent on, so
    /// without a bound clients trickling large bodies on many connections grew the mirror by 21 MB each (QA: 3.2 GB
    /// for 150). Past it a body is refused with the mirror's 503, which clients retry.
    /// </summary>
    internal const long MaxBufferedBodies = 256L * 1024 * 1024;

    private long _buffered;

    private static readonly HashSet<string> ForwardedRequestHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Accept", "Accept-Language", "Authorization", "If-None-Match", "If-Modified-Since", "Range", "User-Agent", "X-Amzn-Trace-Id",
    };

    private static readonly HashSet<string> DroppedResponseHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Proxy-Connection", "Upgrade", "Set-Cookie", "Alt-Svc",
        "Strict-Transport-Security", "X-Xet-Hash", "X-Xet-Refresh-Route", "X-Xet-Access-Token", "X-Xet-Token-Expiration", "X-Xet-Cas-Url",
    };

    private readonly string _upstreamBase = Core.Hub.HubUrls.Base(upstream);

    [GeneratedRegex("<([^>]*)>([^<]*)")]
    private static partial Regex LinkEntry();

    /// <summary>Sends the request upstream; null when the upstream could not be reached (or did not answer in time).</summary>
    public async Task<HttpResponseMessage?> SendAsync(HubRequest request, CancellationToken cancellationToken)
    {
        if (!request.RawTarget.StartsWith('/'))
        {
            // Answered before it gets here (MirrorHandler's 404): never sent to whatever host it names.
            throw new InvalidOperationException("Only origin-form request targets are passed to the upstream.");
        }
        var incoming = request.Http.Request;
        using var message = new HttpRequestMessage(new HttpMethod(incoming.Method), new Uri(_upstreamBase + request.RawTarget));
        foreach (var (name, values) in incoming.Headers)
        {
            if (ForwardedRequestHeaders.Contains(name))
            {
                message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
        message.Headers.AcceptEncoding.ParseAdd("identity");
        if (incoming.ContentLength > 0 || incoming.Headers.TransferEncoding.Count > 0)
        {
            // Read whole (paths-info bodies are small): the upstream gets its exact length, and the store can read it
            // again when the upstream cannot answer.
            var body = new MemoryStream();
            var chunk = new byte[16 * 1024];
            long counted = 0;
            try
            {
                int read;
                while ((read = await incoming.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (body.Length + read > MaxRequestBody)
                    {
                        throw new MirrorUnavailableException($"The mirror passes request bodies of at most {MaxRequestBody / (1024 * 1024)} MiB to its upstream.");
                    }
                    counted += read;
                    if (Interlocked.Add(ref _buffered, read) > MaxBufferedBodies)
                    {
                        throw new MirrorUnavailableException("The mirror holds as many request bodies as it takes at once; try again shortly.");
                    }
                    body.Write(chunk, 0, read);
                }
            }
            finally
            {
                // Counted while it is read, the slow part a client controls; sending it on is bounded by the timeout.
                Interlocked.Add(ref _buffered, -counted);
            }
            body.Position = 0;
            incoming.Body = body;
            message.Content = new System.Net.Http.ByteArrayContent(body.ToArray());
            if (incoming.ContentType is { } contentType)
            {
                message.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            return await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    /// <summary>True for an answer that says the upstream is down rather than what it thinks of the request.</summary>
    public static bool IsDown(HttpResponseMessage response) =>
        response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>Relays <paramref name="response"/> to the client, with the mirror's URLs and without Xet hints.</summary>
    /// <param name="onCommit">Told the commit (<c>sha</c>) of a repo info answer, so the mirror learns what the revision resolves to.</param>
    public async Task RelayAsync(HubRequest request, HttpResponseMessage response, BodyChange change, CancellationToken cancellationToken, Action<string>? onCommit = null)
    {
        var outgoing = request.Response;
        var mirrorBase = $"{request.Http.Request.Scheme}://{request.Http.Request.Host}";
        outgoing.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (DroppedResponseHeaders.Contains(name))
            {
                continue;
            }
            var value = string.Join(", ", values);
            if (name.Equals("Link", StringComparison.OrdinalIgnoreCase))
            {
                value = RewriteLinks(value, mirrorBase);
                if (value.Length == 0)
                {
                    continue;
                }
            }
            else if (name.Equals("Location", StringComparison.OrdinalIgnoreCase) && value.StartsWith(_upstreamBase, StringComparison.OrdinalIgnoreCase))
            {
                value = mirrorBase + value[_upstreamBase.Length..];
            }
            outgoing.Headers[name] = new StringValues(value);
        }
        if (request.IsHead || response.StatusCode == HttpStatusCode.NotModified)
        {
            if (response.Content.Headers.ContentLength is { } headLength)
            {
                outgoing.ContentLength = headLength;
            }
            return;
        }
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var isJson = response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true;
        if (change != BodyChange.None && isJson && response.IsSuccessStatusCode && response.Content.Headers.ContentLength is null or <= MaxChangedBody)
        {
            var changed = await ChangeAsync(body, change, onCommit, cancellationToken).ConfigureAwait(false);
            outgoing.ContentLength = changed.Length;
            await outgoing.Body.WriteAsync(changed, cancellationToken).ConfigureAwait(false);
            request.BodyBytesSent += changed.Length;
            return;
        }
        if (response.Content.Headers.ContentLength is { } length)
        {
            outgoing.ContentLength = length;
        }
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await outgoing.Body.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                request.BodyBytesSent += read;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The upstream's URLs in a <c>Link</c> header point at the mirror; Xet links are left out.</summary>
    internal string RewriteLinks(string value, string mirrorBase)
    {
        var kept = new List<string>();
        foreach (Match entry in LinkEntry().Matches(value))
        {
            var url = entry.Groups[1].Value;
            var parameters = entry.Groups[2].Value.Trim().TrimEnd(',').Trim();
            if (parameters.Contains("xet", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (url.StartsWith(_upstreamBase, StringComparison.OrdinalIgnoreCase))
            {
                url = mirrorBase + url[_upstreamBase.Length..];
            }
            kept.Add($"<{url}>{parameters}");
        }
        return string.Join(", ", kept);
    }

    private static async Task<byte[]> ChangeAsync(Stream body, BodyChange change, Action<string>? onCommit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length).Span);
        }
        catch (JsonException)
        {
            return buffer.ToArray(); // Not JSON after all: as the upstream sent it.
        }
        switch (change, root)
        {
            case (BodyChange.Entries, JsonArray entries):
                foreach (var entry in entries.OfType<JsonObject>())
                {
                    entry.Remove("xetHash");
                }
                break;
            case (BodyChange.RepoInfo, JsonObject info):
                if (info["sha"] is JsonValue sha && sha.TryGetValue<string>(out var commit) && Core.Transfer.RepoDownloader.IsCommit(commit))
                {
                    onCommit?.Invoke(commit);
                }
                if (!info.ContainsKey("xetEnabled"))
                {
                    return buffer.ToArray();
                }
                info["xetEnabled"] = false;
                break;
            default:
                return buffer.ToArray();
        }
        using var output = new MemoryStream();
        using (var writer = new Utf8JsonWriter(output))
        {
            root.WriteTo(writer);
        }
        return output.ToArray();
    }
}
