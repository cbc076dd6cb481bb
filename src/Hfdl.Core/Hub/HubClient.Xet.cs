using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Hub;

/// <summary>A Xet read token (hub-api.md §9, spec auth.md): for the CAS at <paramref name="CasUrl"/>, valid until <paramref name="ExpiresAt"/>.</summary>
internal sealed record XetReadToken(string AccessToken, DateTimeOffset ExpiresAt, Uri CasUrl);

/// <summary>The Xet CAS answered a request with an error status (401: the Xet token expired; 404/501 on v2: no v2).</summary>
internal sealed class XetCasException(string message, HttpStatusCode status)
    : HubException(message, status, null, null);

internal sealed partial class HubClient
{
    /// <summary>
    /// <c>GET /api/{type}s/{id}/xet-read-token/{commit}</c> with the Hub token: the CAS token for the repo at that commit,
    /// read from the body (<c>accessToken</c>, <c>exp</c>, <c>casUrl</c>) or, where the body lacks them, from the
    /// <c>X-Xet-Access-Token</c>, <c>X-Xet-Token-Expiration</c> and <c>X-Xet-Cas-Url</c> headers (both exist in the wild).
    /// Retried like every metadata call.
    /// </summary>
    internal Task<XetReadToken> GetXetReadTokenAsync(RepoType type, RepoId id, string commit, CancellationToken cancellationToken) =>
        MetadataRetry.RunAsync(_retry, $"the Xet read token of {type.Name()} '{id}'", async attemptToken =>
        {
            var url = new Uri($"{HubUrls.Base(Endpoint)}/api/{type.ApiSegment()}/{id}/xet-read-token/{HubUrls.EncodeRevision(commit)}");
            var context = Context(type, id, commit, null);
            using var deadline = new Deadline(Options.Time, Options.ApiTimeout, attemptToken);
            try
            {
                using var response = await SendAsync(HttpMethod.Get, url, null, RedirectMode.FollowAll, context, deadline.Token).ConfigureAwait(false);
                await EnsureSuccessAsync(response, context, deadline.Token).ConfigureAwait(false);
                var headerToken = HubErrorMapper.First(response.Headers, "X-Xet-Access-Token");
                var headerExpiry = HubErrorMapper.First(response.Headers, "X-Xet-Token-Expiration");
                var headerCas = HubErrorMapper.First(response.Headers, "X-Xet-Cas-Url");
                XetReadTokenJson? body = null;
                try
                {
                    body = await ReadJsonAsync(response, XetJsonContext.Default.XetReadTokenJson, url, deadline.Token).ConfigureAwait(false);
                }
                catch (HubProtocolException) when (headerToken is not null)
                {
                    // The headers say it all (huggingface_hub reads only them).
                }
                var token = body?.AccessToken ?? headerToken;
                var expiry = body is { Exp: > 0 } ? body.Exp
                    : long.TryParse(headerExpiry, NumberStyles.None, CultureInfo.InvariantCulture, out var fromHeader) ? fromHeader : 0;
                var cas = body?.CasUrl ?? headerCas;
                if (string.IsNullOrEmpty(token) || expiry <= 0 || !Uri.TryCreate(cas, UriKind.Absolute, out var casUrl)
                    || (casUrl.Scheme != Uri.UriSchemeHttps && casUrl.Scheme != Uri.UriSchemeHttp))
                {
                    throw new HubProtocolException($"The Hub's Xet read token for {type.Name()} '{id}' lacks its token, expiry or CAS URL.");
                }
                if (Endpoint.Scheme == Uri.UriSchemeHttps && casUrl.Scheme != Uri.UriSchemeHttps)
                {
                    throw new HubProtocolException($"The Hub named an insecure Xet CAS ({HubUrls.Display(casUrl, UriPartial.Authority)}); hfdl refuses to send a token over plain http.");
                }
                return new XetReadToken(token, DateTimeOffset.FromUnixTimeSeconds(Math.Min(expiry, 253402300799)), casUrl);
            }
            catch (OperationCanceledException ex) when (!attemptToken.IsCancellationRequested)
            {
                throw TimedOut(url, Options.ApiTimeout, ex);
            }
        }, cancellationToken);

    /// <summary>
    /// <c>GET {cas}/{version}/reconstructions/{file}</c> with <c>Range: bytes=first-last</c> and the Xet token (never the
    /// Hub token: the CAS is another service), parsed and checked. Transient failures (429, 5xx, timeouts, cut
    /// connections) are retried; any other error status is a <see cref="XetCasException"/>.
    /// </summary>
    internal Task<XetReconstruction> GetXetReconstructionAsync(Uri casUrl, string version, string xetToken, string fileHash, long first, long last, CancellationToken cancellationToken) =>
        MetadataRetry.RunAsync(_retry, $"the Xet reconstruction of {fileHash[..Math.Min(12, fileHash.Length)]}…", async attemptToken =>
        {
            var url = new Uri($"{casUrl.AbsoluteUri.TrimEnd('/')}/{version}/reconstructions/{fileHash}");
            var context = new HubRequestContext(RepoType.Model, null, null, null, null, HubUrls.Display(casUrl, UriPartial.Authority));
            using var deadline = new Deadline(Options.Time, Options.ApiTimeout, attemptToken);
            try
            {
                // The Xet token goes to the CAS's own origin only; the Hub token never goes (sendToken: false).
                using var response = await SendAsync(HttpMethod.Get, url, request =>
                {
                    if (HubUrls.IsSameOrigin(request.RequestUri!, casUrl))
                    {
                        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", xetToken);
                    }
                    request.Headers.Range = new RangeHeaderValue(first, last);
                }, RedirectMode.FollowAll, context, deadline.Token, sendToken: false).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    var status = response.StatusCode;
                    var retryAfter = (int)status is 429 or 503 ? (await HubErrorMapper.CreateAsync(response, context, deadline.Token).ConfigureAwait(false) as HubException)?.RetryAfter : null;
                    throw new XetCasException($"The Xet CAS answered the reconstruction of {fileHash} with {Describe(response)}.", status) { RetryAfter = retryAfter };
                }
                using var body = await ReadBodyAsync(response, url, MaxJsonBytes, () => TooLarge(url), deadline.Token).ConfigureAwait(false);
                try
                {
                    return XetReconstructionReader.Parse(body.GetBuffer().AsSpan(0, (int)body.Length));
                }
                catch (XetFormatException ex)
                {
                    throw new HubProtocolException(ex.Message, ex);
                }
            }
            catch (OperationCanceledException ex) when (!attemptToken.IsCancellationRequested)
            {
                throw TimedOut(url, Options.ApiTimeout, ex);
            }
        }, cancellationToken);
}
