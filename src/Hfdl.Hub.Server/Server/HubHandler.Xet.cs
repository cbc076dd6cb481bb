using System.Globalization;
using System.Text.Json;
using Hfdl.Core.Xet;

namespace Hfdl.Hub.Server;

internal sealed partial class HubHandler
{
    /// <summary>The media type a client asks for to get a Xet file's metadata instead of a redirect (huggingface.js).</summary>
    private const string XetFileInfoType = "application/vnd.xet-fileinfo+json";

    /// <summary>
    /// <c>GET /api/{t}s/{id}/xet-read-token/{rev}</c> (hub-api.md §9, spec auth.md): a CAS token for the repo at that
    /// revision, in the body (<c>accessToken</c>, <c>exp</c>, <c>casUrl</c>) and in the headers
    /// <c>X-Xet-Access-Token</c>, <c>X-Xet-Token-Expiration</c>, <c>X-Xet-Cas-Url</c>, since clients read one or the
    /// other. Whoever may read the repo's files gets one: gated repos ask what downloads ask.
    /// </summary>
    private async Task XetReadTokenAsync(HubRequest request, HostedRepo repo, string revision, CancellationToken cancellationToken)
    {
        if (!await CheckGateAsync(request, repo, json: true, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var snapshot = FindSnapshot(repo, revision);
        if (snapshot is null)
        {
            await RevisionNotFoundAsync(request, revision, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (request.Faults.Xet is { RefuseTokens: true })
        {
            await request.WriteErrorAsync(403, "This token cannot read Xet storage", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var (token, expires) = state.IssueXetToken(repo, snapshot.CommitId);
        var casUrl = state.CasBase.AbsoluteUri.TrimEnd('/');
        var headers = request.Response.Headers;
        headers["X-Xet-Access-Token"] = token;
        headers["X-Xet-Token-Expiration"] = expires.ToString(CultureInfo.InvariantCulture);
        headers["X-Xet-Cas-Url"] = casUrl;
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new XetReadTokenJson { AccessToken = token, Exp = expires, CasUrl = casUrl },
            XetJsonContext.Default.XetReadTokenJson);
        await request.WriteBodyAsync(200, "application/json; charset=utf-8", body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// For a Xet-backed file, adds <c>X-Xet-Hash</c> and the <c>Link</c>s to the token and reconstruction routes to the
    /// resolve answer, and answers a request that accepts <c>application/vnd.xet-fileinfo+json</c> itself with the
    /// file's Xet metadata (200, no redirect). Returns true when it answered.
    /// </summary>
    private async Task<bool> XetResolveAsync(HubRequest request, HostedRepo repo, IndexedFile file, string commit, string etag, CancellationToken cancellationToken)
    {
        if (state.Xet.FileOf(repo, file) is not { } xet)
        {
            return false;
        }
        var http = request.Http.Request;
        var hash = xet.Hash.ToString();
        var refreshUrl = $"{http.Scheme}://{http.Host}/api/{repo.Type.ApiSegment()}/{repo.Id}/xet-read-token/{commit}";
        var reconstructionUrl = $"{state.CasBase.AbsoluteUri.TrimEnd('/')}/v1/reconstructions/{hash}";
        var headers = request.Response.Headers;
        headers["X-Xet-Hash"] = hash;
        headers.Link = $"<{refreshUrl}>; rel=\"xet-auth\", <{reconstructionUrl}>; rel=\"xet-reconstruction-info\"";
        if (!http.Headers.Accept.Any(a => a is not null && a.Contains(XetFileInfoType, StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }
        headers["X-Linked-Etag"] = etag;
        headers["X-Linked-Size"] = file.Size.ToString(CultureInfo.InvariantCulture);
        headers.ETag = etag;
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new XetFileInfoJson { Hash = hash, RefreshUrl = refreshUrl, ReconstructionUrl = reconstructionUrl, Etag = etag, Size = file.Size },
            XetJsonContext.Default.XetFileInfoJson);
        await request.WriteBodyAsync(200, XetFileInfoType, body, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The <c>xetHash</c> of a listing entry: null for files that are not Xet-backed, 64 <c>*</c> on a gated repo the
    /// caller may not read (hub-api.md §3.2) when <paramref name="redact"/>.
    /// </summary>
    private string? XetHashOf(HubRequest request, HostedRepo repo, IndexedFile file, bool redact) =>
        state.Xet.FileOf(repo, file) is not { } xet || request.Faults.Xet is { UnlistedHashes: true } ? null
        : redact && !PassesGate(request, repo) ? new string('*', 64)
        : xet.Hash.ToString();
}
